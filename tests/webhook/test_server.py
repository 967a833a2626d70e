"""The webhook as users run it: a process serving TLS, following certificate and config files."""

import base64
import json
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.certificates import issue, new_ca, write_pair
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
        (["--dev", "--ttl", "soon"], "is not a duration"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = subprocess.run([*CLI, "webhook", *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3


def test_dev_mode_serves_with_a_throwaway_certificate(
    spawn: Callable[..., subprocess.Popen[str]],
) -> None:
    port = free_port()
    spawn(*CLI, "webhook", "--dev", "--host", "127.0.0.1", "--port", str(port))

    def ready() -> bool:
        try:
            with httpx.Client(verify=False, timeout=2) as client:
                return client.get(f"https://127.0.0.1:{port}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 30, "the --dev webhook")
