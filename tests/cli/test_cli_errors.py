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
        (["finish", "--ttl", "soon"], "ttl: 'soon' is not a duration"),
        (["finish", "--exporter-url", "ftp://x"], "is not an http://host:port URL"),
        (["terminator", "--master-pattern", "("], "master-pattern:"),
        (["await-ready", "--timeout", "x"], "is not a duration"),
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
