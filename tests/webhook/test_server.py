"""The webhook as users run it: a process serving TLS, following certificate and config files."""

import asyncio
import base64
import json
import re
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.certificates import issue, new_ca, write_pair
from app.webhook.tls import server_context
from devcluster.processes import free_port
from devcluster.processes import wait_until as wait_for
from tests.conftest import CLI
from tests.webhook.conftest import review


def serving_cert(directory: Path, ca_name: str) -> Path:
    ca = new_ca(ca_name)
    ca_file, _ = write_pair(directory / ca_name, "ca", ca)
    write_pair(directory, "tls", issue(ca, "webhook", ["localhost"], ["127.0.0.1"]))
    return ca_file


def webhook_command(directory: Path, port: int) -> list[str]:
    """The webhook on loopback with the certificate in ``directory``, re-read twice a second."""
    return [
        *CLI,
        "webhook",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--cert-file",
        str(directory / "tls.crt"),
        "--key-file",
        str(directory / "tls.key"),
        "--reload-interval",
        "500ms",
    ]


def client_for(ca_file: Path) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file)), timeout=5)


def call(ca_file: Path, port: int, path: str = "/readyz") -> int:
    try:
        with client_for(ca_file) as client:
            return client.get(f"https://127.0.0.1:{port}{path}").status_code
    except (httpx.HTTPError, ssl.SSLError):
        return 0


def test_serves_tls_and_picks_up_a_rotated_certificate_without_restarting(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[str]]
) -> None:
    first_ca = serving_cert(tmp_path, "first")
    port = free_port()
    server = spawn(*webhook_command(tmp_path, port))
    wait_for(lambda: call(first_ca, port) == 200, 30, "the webhook to serve TLS")

    second_ca = serving_cert(tmp_path, "second")
    wait_for(lambda: call(second_ca, port) == 200, 30, "the rotated certificate to be served")
    assert call(first_ca, port) == 0, "the old certificate is no longer presented"
    assert server.poll() is None


def test_a_config_file_change_applies_to_the_next_admission(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[str]]
) -> None:
    ca_file = serving_cert(tmp_path, "ca")
    config = tmp_path / "config.yaml"
    config.write_text("ttl: 45s\n")
    port = free_port()
    spawn(*webhook_command(tmp_path, port), "--config", str(config))
    wait_for(lambda: call(ca_file, port) == 200, 30, "the webhook to serve")

    def ttl_in_status() -> str:
        with client_for(ca_file) as client:
            answer = client.post(f"https://127.0.0.1:{port}/mutate", json=review()).json()
        ops = json.loads(base64.b64decode(answer["response"]["patch"]))
        status = json.loads(ops[-1]["value"])
        return str(status["ttl"])

    assert ttl_in_status() == "45s"
    config.write_text("ttl: 2m\nwaitForScrape: true\n")
    wait_for(lambda: ttl_in_status() == "2m", 30, "the new TTL to be used")
    config.write_text("ttl: [broken\n")
    # A broken file is reported and the last good configuration stays in force.
    for _ in range(3):
        assert ttl_in_status() == "2m"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cert-file", "/nonexistent.crt", "--key-file", "/nonexistent.key"], "no such file"),
        ([], "give --cert-file and --key-file"),
        (["--dev", "--cert-file", "x"], "--dev makes its own certificate"),
        (["--dev", "--config", "/nonexistent.yaml"], "No such file"),
        (["--dev", "--ttl", "soon"], "is not auto or a duration"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = subprocess.run([*CLI, "webhook", *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3


def test_dev_mode_serves_with_a_throwaway_certificate_and_leaves_no_ca_key(
    spawn: Callable[..., subprocess.Popen[str]],
) -> None:
    port = free_port()
    server = spawn(
        *CLI, "webhook", "--dev", "--host", "127.0.0.1", "--port", str(port), stderr=subprocess.PIPE
    )
    assert server.stderr is not None
    announced = re.search(r"throwaway certificate in (\S+) ", server.stderr.readline())
    assert announced, "--dev says where its certificate is"
    directory = Path(announced.group(1))
    wait_for(lambda: call(directory / "ca.crt", port, "/healthz") == 200, 30, "the --dev webhook")
    assert not (directory / "ca.key").exists(), "the CA key is never on disk"

    server.terminate()
    assert server.wait(10) != 0
    assert not directory.exists(), "the throwaway files are removed on exit"


def test_a_key_that_does_not_match_the_certificate_is_one_line(tmp_path: Path) -> None:
    ca = new_ca("ca")
    write_pair(tmp_path, "tls", issue(ca, "webhook", ["localhost"]))
    write_pair(tmp_path / "other", "tls", issue(ca, "webhook", ["localhost"]))
    result = subprocess.run(
        [
            *CLI,
            "webhook",
            "--cert-file",
            str(tmp_path / "tls.crt"),
            "--key-file",
            str(tmp_path / "other" / "tls.key"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"locust-finisher webhook: {tmp_path / 'tls.crt'}, {tmp_path / 'other' / 'tls.key'}: "
        "the key does not match the certificate"
    ]


async def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str:
    """The TLS version and suite a client and the server agree on; raises if they cannot."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    listening = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server)
    port = listening.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        tls = writer.get_extra_info("ssl_object")
        agreed = f"{tls.version()} {tls.cipher()[0]}"
        writer.close()
        return agreed
    finally:
        listening.close()


@pytest.mark.parametrize(
    "suites",
    [
        "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384",  # CBC with SHA-2
        "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA",  # CBC with SHA-1
    ],
)
async def test_tls_1_2_clients_offering_only_cbc_suites_are_refused(
    tmp_path: Path, suites: str
) -> None:
    ca_file = serving_cert(tmp_path, "ca")
    server = server_context(tmp_path / "tls.crt", tmp_path / "tls.key").context

    def client(ciphers: str) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(ca_file))
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        # SHA-1 suites sit below OpenSSL's default security level; a legacy client lowers it.
        context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
        return context

    # The server sends a handshake_failure alert and closes; the client may see either first.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await handshake(server, client(suites))
    assert await handshake(server, client("ECDHE-ECDSA-AES128-GCM-SHA256")) == (
        "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"
    )
    modern = ssl.create_default_context(cafile=str(ca_file))
    assert (await handshake(server, modern)).startswith("TLSv1.3 ")
