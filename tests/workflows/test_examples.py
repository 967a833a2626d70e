"""examples/ works as copied: the CI files pass their linters and run `wait` as the docs say,
and each Kubernetes example's master pod is one the webhook mutates.

The cluster half (tests/cluster/test_examples.py) applies them to the real API server; here
`locust-finisher mutate` previews each master pod offline, as a user would.
"""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from app.cli.main import build_parser
from app.core import names
from release.lint_workflows import lint
from tests.conftest import run_cli
from tests.workflows.docs_recipes import expanded, kubectl_lines, wait_lines
from tests.workflows.examples import (
    CI_EXAMPLES,
    EXAMPLES,
    KUBERNETES_EXAMPLES,
    documents,
    master_pod,
)


def test_the_readme_lists_every_example() -> None:
    listed = set(re.findall(r"\]\(([\w.-]+)\)", (EXAMPLES / "README.md").read_text()))
    present = {path.name for path in EXAMPLES.iterdir() if path.name != "README.md"}
    assert listed == present
    assert present == {"ci-identity.yaml", *KUBERNETES_EXAMPLES, *CI_EXAMPLES}


@pytest.mark.parametrize("name", KUBERNETES_EXAMPLES)
def test_each_master_pod_is_mutated_without_a_warning(name: str) -> None:
    pod = master_pod(name, "loadtests")
    previewed = run_cli("mutate", "-f", "-", stdin=yaml.safe_dump(pod))
    assert previewed.returncode == 0, previewed.stderr
    mutated = yaml.safe_load(previewed.stdout)
    assert mutated["spec"]["containers"][0]["name"] == names.FINISHER_CONTAINER
    assert ": mutate: " in previewed.stderr
    assert "warning" not in previewed.stderr
    # The example's verdict policy reached the finisher's settings.
    assert "0.01" in mutated["metadata"]["annotations"][names.STATUS_ANNOTATION]


@pytest.mark.parametrize("name", KUBERNETES_EXAMPLES)
def test_each_test_is_applied_without_a_namespace_of_its_own(name: str) -> None:
    # `kubectl apply -n` puts it where `wait -n` looks; a namespace in the file would differ.
    assert all("namespace" not in document["metadata"] for document in documents(name))


def test_the_github_actions_workflow_passes_actionlint(tmp_path: Path) -> None:
    workflow = tmp_path / ".github" / "workflows" / "load-test.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text((EXAMPLES / "github-actions-load-test.yml").read_text())
    assert lint([workflow]) == 0


@pytest.mark.parametrize("name", CI_EXAMPLES)
def test_each_ci_file_waits_for_the_test_it_starts_in_its_namespace(name: str) -> None:
    text = (EXAMPLES / name).read_text()
    (line,) = wait_lines(text)
    options = build_parser().parse_args(shlex.split(expanded(line)))
    assert (options.test, options.namespace) == ("checkout-load", "loadtests")
    assert options.junit == Path("results/junit.xml")
    assert options.report_dir == Path("results")
    started = kubectl_lines(text)
    assert [command.split()[1] for command in started] == ["apply", "delete"]
    for command in started:
        assert '-n "$NAMESPACE"' in command, command


def test_the_gitlab_pipeline_reports_the_junit_file_wait_writes() -> None:
    (pipeline,) = documents("gitlab-ci.yml")
    stages = pipeline["stages"]
    jobs = {key: job for key, job in pipeline.items() if isinstance(job, dict) and "script" in job}
    assert [job["stage"] for job in jobs.values()] == stages
    waiting = jobs["wait-for-verdict"]
    assert waiting["artifacts"]["when"] == "always"
    assert waiting["artifacts"]["reports"]["junit"] == "results/junit.xml"
    assert jobs["clean-up"]["when"] == "always"
