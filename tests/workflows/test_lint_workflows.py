"""actionlint, built from its Go module, passes the workflows and catches a broken one."""

from pathlib import Path

import pytest

from release.lint_workflows import lint, main


def test_the_workflows_pass_actionlint() -> None:
    assert main([]) == 0


def test_a_broken_workflow_is_caught(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.no_such_context.x }}\n"
        "    timeout-minute: 5\n"
    )
    assert lint([broken]) != 0
    assert "timeout-minute" in capfd.readouterr().out
