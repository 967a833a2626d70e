"""Every command answers bad input with exit 2 and one line that names the problem."""

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["wait", "--test", "t", "--kubeconfig", "/nonexistent"],
            "/nonexistent: no such kubeconfig file",
        ),
        (["wait", "--test", "t", "--timeout", "soon"], "'soon' is not a duration"),
        (["wait", "--test", "t", "--job", "j"], "not allowed with argument"),
        (["wait", "-n", "x"], "one of the arguments --test --job --pod is required"),
        (["controller", "--kubeconfig", "/nonexistent"], "/nonexistent: no such kubeconfig file"),
        (["finish", "--ttl", "soon"], "ttl: 'soon' is not auto or a duration"),
        (["finish", "--exporter-url", "ftp://x"], "is not an http://host:port URL"),
        (["terminator", "--master-pattern", "("], "master-pattern:"),
        (["await-ready", "--timeout", "x"], "is not a duration"),
        (["webhook", "--dev", "--port", "70000"], "'70000' is not a port (1-65535)"),
        (["webhook", "--dev", "--port", "0"], "'0' is not a port"),
        (["webhook", "--dev", "--reload-interval", "0s"], "'0s' is not above zero"),
        (["controller", "--metrics-port", "99999"], "is not a port"),
        (["wait", "--test", "t", "--interval", "0"], "'0' is not above zero"),
        (["wait", "--test", "t", "-n", "Load_Tests"], "'Load_Tests' is not a namespace name"),
        (["controller", "--lease-namespace", "Locust"], "'Locust' is not a namespace name"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_await_ready_never_fails_the_pod() -> None:
    result = run_cli("await-ready", "--timeout", "250ms")
    assert result.returncode == 0
    assert "letting the pod start anyway" in result.stderr
