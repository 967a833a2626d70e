"""`wait` as CI runs it: exit 1 only when Locust failed; every other ending is one line, exit 2."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.certificates import issue, new_ca, write_pair
from testkit import fake_kube
from tests.conftest import run_cli
from tests.waiting.pods import exited, job, master_pod


@pytest.fixture
def fake() -> Iterator[fake_kube.FakeKube]:
    with fake_kube.running() as api:
        yield api


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli(
        "wait", "--kubeconfig", str(kubeconfig), "--timeout", "20s", "--interval", "50ms", *args
    )
    return result.returncode, result.stdout, result.stderr


def assert_one_line(code: int, stderr: str, message: str) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("locust-finisher wait: "), stderr
    assert message in stderr, stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is not a usable Kubernetes configuration"),
        ("clusters: [\n", "is not a usable Kubernetes configuration"),
        ("apiVersion: v1\ncurrent-context: gone\ncontexts: []\n", "is not a usable"),
        ("- just\n- a list\n", "is not a usable"),
    ],
    ids=["empty", "broken-yaml", "missing-context", "not-a-mapping"],
)
def test_an_unusable_kubeconfig_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(content)
    code, _, stderr = wait(kubeconfig, "--test", "t")
    assert_one_line(code, stderr, message)
    assert str(kubeconfig) in stderr


def test_no_kubeconfig_at_all_is_one_line(tmp_path: Path) -> None:
    result = run_cli("wait", "--test", "t", "--kubeconfig", str(tmp_path / "missing"))
    assert_one_line(result.returncode, result.stderr, "no such kubeconfig file")


def test_a_ca_that_is_not_a_certificate_is_one_line(tmp_path: Path) -> None:
    kubeconfig = fake_kube.write_kubeconfig(
        tmp_path / "config", "https://127.0.0.1:1", ca_pem=b"not a certificate"
    )
    code, _, stderr = wait(kubeconfig, "--test", "t")
    assert_one_line(code, stderr, "is not a usable Kubernetes configuration")


def test_an_unreachable_api_server_is_one_line(tmp_path: Path) -> None:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "c", f"http://127.0.0.1:{closed_port()}")
    code, _, stderr = wait(kubeconfig, "--test", "t")
    assert_one_line(code, stderr, "cannot reach the API server")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("forbidden", 'not allowed: pods is forbidden: User "ci" cannot list'),
        ("unauthorized", "the API server refused the credentials: Unauthorized"),
        ("drop", "the API server dropped the connection"),
        ("html", "the answer is text/html"),
    ],
)
def test_an_api_server_that_will_not_answer_is_one_line(
    tmp_path: Path, fake: fake_kube.FakeKube, mode: str, message: str
) -> None:
    fake.mode = mode
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "config", fake.url)
    code, _, stderr = wait(kubeconfig, "--job", "t-master")
    assert_one_line(code, stderr, message)


def test_a_server_certificate_from_another_ca_is_one_line(tmp_path: Path) -> None:
    server_ca, other_ca = new_ca("server CA"), new_ca("someone else's CA")
    cert_file, key_file = write_pair(tmp_path, "tls", issue(server_ca, "api", [], ["127.0.0.1"]))
    import ssl

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    with fake_kube.running(tls) as fake:
        fake.put_pod(master_pod("p", master=exited(0), phase="Succeeded"))
        wrong = fake_kube.write_kubeconfig(tmp_path / "wrong", fake.url, ca_pem=other_ca.cert_pem)
        code, _, stderr = wait(wrong, "--pod", "p")
        assert_one_line(code, stderr, "the API server's certificate is not trusted")
        right = fake_kube.write_kubeconfig(tmp_path / "right", fake.url, ca_pem=server_ca.cert_pem)
        assert wait(right, "--pod", "p")[0] == 0


def test_exit_1_is_locusts_failure_and_nothing_else(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    master_job = job()
    fake.put_job(master_job)
    fake.put_pod(master_pod(master=exited(1), phase="Failed", job=master_job))
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "config", fake.url)
    code, stdout, stderr = wait(kubeconfig, "--test", "t")
    assert code == 1, stderr
    assert "FAILED, Locust exit code 1" in stdout


def test_the_namespace_is_the_kubeconfig_contexts_as_with_kubectl(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    fake.put_pod(master_pod("p", "loadtests", master=exited(0), phase="Succeeded"))
    fake.put_pod(master_pod("p", "other", master=exited(1), phase="Failed"))
    kubeconfig = fake_kube.write_kubeconfig(
        tmp_path / "config", fake.url, namespace="loadtests", extra_contexts={"ci": "other"}
    )
    assert wait(kubeconfig, "--pod", "p")[0] == 0
    assert wait(kubeconfig, "--pod", "p", "--context", "ci")[0] == 1
    assert wait(kubeconfig, "--pod", "p", "--context", "ci", "-n", "loadtests")[0] == 0
    assert fake.paths("GET")[0].startswith("/api/v1/namespaces/loadtests/pods?")


def test_a_test_that_cannot_start_ends_the_wait_with_the_reason(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    from tests.waiting.pods import waiting

    missing = 'secret "locust-env" not found'
    fake.put_pod(
        master_pod("p", master=waiting("CreateContainerConfigError", missing), phase="Pending")
    )
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "config", fake.url)
    code, _, stderr = wait(kubeconfig, "--pod", "p")
    assert_one_line(code, stderr, "pod/p (pod p) cannot start: container locust: ")
    assert missing in stderr


def test_a_timeout_says_what_it_was_waiting_for(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "config", fake.url, namespace="lt")
    result = run_cli("wait", "--kubeconfig", str(kubeconfig), "--test", "t", "--timeout", "300ms")
    assert_one_line(
        result.returncode,
        result.stderr,
        "timed out after 0.3s waiting for job/t-master to appear in namespace lt",
    )
