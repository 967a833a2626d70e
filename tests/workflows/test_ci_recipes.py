"""The recipes in docs/ci.md work as pasted.

The GitHub Actions workflow passes actionlint; every `locust-finisher wait` line is one the
CLI accepts; and the plain-kubectl script, run against a stub kubectl that answers like the
API server, exits 0 for a passed test, 1 for a failed one and 2 when no verdict comes. (The
versions the recipes pin are checked with every other copy by release.version.)
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli.main import build_parser
from release.lint_workflows import lint
from tests.workflows.docs_recipes import CI_DOC, code_block, expanded, kubectl_lines, wait_lines

STUB = Path(__file__).with_name("kubectl_stub.py")
JOB, NAMESPACE = "checkout-load-master", "loadtests"


def test_the_github_actions_recipe_passes_actionlint(tmp_path: Path) -> None:
    workflow = tmp_path / ".github" / "workflows" / "load-test.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(code_block("GitHub Actions", "yaml"))
    assert lint([workflow]) == 0


def _wait_lines() -> list[str]:
    lines = wait_lines(CI_DOC.read_text())
    assert len(lines) >= 3  # the example, GitHub Actions (pipx and uvx) and GitLab
    return lines


@pytest.mark.parametrize("line", _wait_lines())
def test_every_wait_line_is_accepted_by_the_cli(line: str) -> None:
    options = build_parser().parse_args(shlex.split(expanded(line)))
    assert (options.test, options.namespace, options.timeout) == ("checkout-load", NAMESPACE, 1800)


def test_every_test_is_applied_and_deleted_in_the_namespace_wait_looks_in() -> None:
    # Without -n, kubectl applies into the kubeconfig's namespace, and `wait -n` looks in
    # another one until it times out (exit 2).
    lines = kubectl_lines(CI_DOC.read_text())
    assert len(lines) >= 4  # GitHub Actions and GitLab, each an apply and a delete
    for line in lines:
        assert '-n "$NAMESPACE"' in line, line


def _job(result: str | None) -> dict[str, Any]:
    annotations = {"locust-finisher.io/summary": '{"version":1,"requests":63712,"failures":0}'}
    if result is not None:
        annotations["locust-finisher.io/result"] = result
    return {"metadata": {"name": JOB, "namespace": NAMESPACE, "annotations": annotations}}


def _run_recipe(
    tmp_path: Path, answers: list[dict[str, Any] | None], script: str | None = None
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the plain-kubectl recipe; returns its result and how many times it called kubectl."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    kubectl = stubs / "kubectl"
    kubectl.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(STUB))} "$@"\n'
    )
    # The recipe polls every 5 seconds; the test need not wait for real.
    (stubs / "sleep").write_text("#!/bin/sh\n")
    for stub in (kubectl, stubs / "sleep"):
        stub.chmod(0o755)
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    recipe = tmp_path / "wait-for-verdict.sh"
    recipe.write_text(script or code_block("With plain kubectl", "bash"))
    calls = tmp_path / "calls"
    calls.touch()
    environment = {
        **os.environ,
        "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}",
        "STUB_ANSWERS": str(tmp_path / "answers.json"),
        "STUB_CALLS": str(calls),
    }
    result = subprocess.run(
        ["bash", str(recipe)], capture_output=True, text=True, env=environment, timeout=60
    )
    return result, len(calls.read_text().splitlines())


def test_a_passed_test_exits_0(tmp_path: Path) -> None:
    result, _ = _run_recipe(tmp_path, [_job("passed")])
    assert result.returncode == 0, result.stderr
    assert f"job/{JOB} in {NAMESPACE}: passed" in result.stdout
    assert '"requests":63712' in result.stdout


def test_a_failed_test_exits_1(tmp_path: Path) -> None:
    result, _ = _run_recipe(tmp_path, [_job("failed")])
    assert result.returncode == 1
    assert f"job/{JOB} in {NAMESPACE}: failed" in result.stdout


def test_it_waits_through_a_missing_job_and_a_running_test(tmp_path: Path) -> None:
    result, calls = _run_recipe(tmp_path, [None, _job(None), _job(None), _job("failed")])
    assert result.returncode == 1
    assert calls == 5  # four looks until the verdict, then the summary
    assert "NotFound" in result.stderr


def test_no_verdict_in_time_exits_2(tmp_path: Path) -> None:
    script = code_block("With plain kubectl", "bash").replace(
        "timeout_seconds=1800", "timeout_seconds=0"
    )
    assert "timeout_seconds=0" in script
    result, _ = _run_recipe(tmp_path, [_job(None)], script)
    assert result.returncode == 2
    assert "no verdict after 0s" in result.stderr
