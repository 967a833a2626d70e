"""``locust-finisher mutate``: the preview a user runs on a manifest."""

import json
from pathlib import Path

import pytest
import yaml

from app.core import names
from testkit.pod_fixtures import POD_FIXTURES, load_pod
from tests.conftest import run_cli


@pytest.mark.parametrize("version", ["java-1.1", "go-2.2", "go-2.3"])
def test_each_operator_versions_master_is_printed_patched(version: str) -> None:
    result = run_cli("mutate", "-f", str(POD_FIXTURES / f"operator-{version}-master.yaml"))
    assert result.returncode == 0, result.stderr
    pod = yaml.safe_load(result.stdout)
    assert pod["spec"]["containers"][0]["name"] == names.FINISHER_CONTAINER
    assert pod["spec"]["shareProcessNamespace"] is True
    header, decision = result.stderr.splitlines()
    assert header.startswith("configuration: offline")
    assert decision.startswith(f"t-{version.replace('.', '')}-master-: mutate: Locust master")


def test_a_worker_is_printed_unchanged_with_the_reason() -> None:
    result = run_cli("mutate", "-f", str(POD_FIXTURES / "operator-go-2.2-worker.yaml"))
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout) == load_pod("operator-go-2.2-worker")
    assert "skip: locust-k8s-operator worker pod" in result.stderr


def test_patch_output_from_stdin_json_with_warnings_on_stderr() -> None:
    pod = load_pod("annotated-master-bad-values")
    result = run_cli("mutate", "-f", "-", "-o", "patch", stdin=json.dumps(pod))
    ops = json.loads(result.stdout)
    assert ops[1]["path"] == "/spec/containers/0"
    assert result.stderr.count("warning: ") == 3


def test_an_admission_review_and_a_list_are_understood(tmp_path: Path) -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "1",
            "kind": {"kind": "Pod"},
            "resource": {"resource": "pods"},
            "operation": "CREATE",
            "object": load_pod("operator-go-2.3-master"),
        },
    }
    result = run_cli("mutate", "-f", "-", "-o", "json", stdin=json.dumps(review))
    assert json.loads(result.stdout)["spec"]["containers"][0]["name"] == names.FINISHER_CONTAINER

    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [load_pod("operator-go-2.2-master"), load_pod("operator-go-2.2-worker")],
    }
    result = run_cli("mutate", "-f", "-", stdin=yaml.safe_dump(listing))
    assert [len(item["spec"]["containers"]) for item in yaml.safe_load(result.stdout)["items"]] == [
        3,
        1,
    ]
    assert len(result.stderr.splitlines()) == 3, "the configuration, then a line per pod"


def test_defaults_can_be_previewed_with_flags() -> None:
    result = run_cli(
        "mutate",
        "-f",
        str(POD_FIXTURES / "operator-go-2.2-master.yaml"),
        "--ttl",
        "2m",
        "--finisher-image",
        "registry.local/lf:dev",
    )
    container = yaml.safe_load(result.stdout)["spec"]["containers"][0]
    assert container["image"] == "registry.local/lf:dev"
    assert {"name": "LOCUST_FINISHER_TTL", "value": "2m"} in container["env"]


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "empty input"),
        ("{a: [", "not valid YAML or JSON"),
        ("kind: ConfigMap\n", "got ConfigMap"),
        ("kind: Deployment\nmetadata: {name: d}\n", "deployment/d has no pod template"),
        ("- 1\n- 2\n", "got list"),
        ('{"kind":"AdmissionReview","apiVersion":"x"}', "not a usable AdmissionReview"),
    ],
)
def test_bad_input_exits_2_with_one_line(stdin: str, message: str) -> None:
    result = run_cli("mutate", "-f", "-", stdin=stdin)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_a_missing_file_exits_2() -> None:
    result = run_cli("mutate", "-f", "/nonexistent/pod.yaml")
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "locust-finisher mutate: /nonexistent/pod.yaml: No such file or directory",
    )
