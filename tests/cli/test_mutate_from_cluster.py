"""``mutate --from-cluster``: the preview decided as the cluster's webhook decides.

The fake API server (testkit/fake_kube.py) holds what a cluster with locust-finisher holds:
the webhook's ConfigMap and Deployment, the test's namespace with its opt-in label, its
LimitRanges and ResourceQuotas, and ``/version``. The real CLI reads them through a
kubeconfig, over HTTP on loopback.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli.main import main
from app.core import env_names, names
from testkit import fake_kube
from testkit.pod_fixtures import FIXTURES

LOCUSTTEST = FIXTURES / "workloads" / "locusttest-v2.yaml"  # in namespace loadtests
MIRROR = "mirror.example/locust-finisher/finisher:0.2.0"


def configmap(document: str) -> dict[str, Any]:
    return {
        "metadata": {"name": names.CONFIG_MAP, "namespace": names.DEFAULT_INSTALL_NAMESPACE},
        "data": {names.CONFIG_MAP_KEY: document},
    }


def namespace(name: str, opted_in: bool = True) -> dict[str, Any]:
    labels = {names.NAMESPACE_INJECT_LABEL: "enabled"} if opted_in else {}
    return {"metadata": {"name": name, "labels": labels}}


WEBHOOK = {
    "metadata": {"name": names.WEBHOOK_DEPLOYMENT, "namespace": names.DEFAULT_INSTALL_NAMESPACE},
    "spec": {"template": {"spec": {"containers": [{
        "name": "webhook",
        "env": [{"name": names.FINISHER_IMAGE_VARIABLE, "value": MIRROR}],
    }]}}},
}  # fmt: skip


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[fake_kube.FakeKube, Path]]:
    with fake_kube.running(
        configmaps=[configmap("maxWait: 7m\n")], namespaces=[namespace("loadtests")]
    ) as api:
        api.kind("deployments").put(WEBHOOK)
        yield api, fake_kube.write_kubeconfig(tmp_path / "kubeconfig", api.url)


def preview(
    kubeconfig: Path, capsys: pytest.CaptureFixture[str], *flags: str, path: Path = LOCUSTTEST
) -> tuple[int, Any, list[str]]:
    code = main(["mutate", "-f", str(path), "--kubeconfig", str(kubeconfig), *flags])
    printed = capsys.readouterr()
    return code, yaml.safe_load(printed.out) if printed.out else None, printed.err.splitlines()


def finisher(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    assert container["name"] == names.FINISHER_CONTAINER
    return container


def test_the_clusters_configmap_image_and_version_decide(
    cluster: tuple[fake_kube.FakeKube, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, kubeconfig = cluster
    code, pod, stderr = preview(kubeconfig, capsys, "--from-cluster")
    assert code == 0
    container = finisher(pod)
    assert {"name": env_names.ENV_MAX_WAIT, "value": "7m"} in container["env"]
    assert container["image"] == MIRROR
    assert "restartPolicyRules" in container, "1.35 takes container restart rules"
    assert stderr[0].startswith("configuration: from the cluster (ConfigMap locust-finisher/")
    assert "Kubernetes v1.35.0" in stderr[0]
    assert "namespace loadtests: labelled" in stderr[0]

    code, offline, stderr = preview(kubeconfig, capsys)
    assert {"name": env_names.ENV_MAX_WAIT, "value": "5m"} in finisher(offline)["env"]
    assert "restartPolicyRules" not in finisher(offline)
    assert stderr[0].startswith("configuration: offline")


def test_an_older_api_server_gets_no_restart_rules_and_a_given_image_wins(
    cluster: tuple[fake_kube.FakeKube, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, kubeconfig = cluster
    api.server_version = {"major": "1", "minor": "33", "gitVersion": "v1.33.4"}
    _, pod, _ = preview(kubeconfig, capsys, "--from-cluster", "--finisher-image", "mine:1")
    assert "restartPolicyRules" not in finisher(pod)
    assert finisher(pod)["image"] == "mine:1"


def test_a_namespace_not_opted_in_is_left_alone_and_says_why(
    cluster: tuple[fake_kube.FakeKube, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, kubeconfig = cluster
    api.kind("namespaces").put(namespace("loadtests", opted_in=False), namespace="")
    code, pod, stderr = preview(kubeconfig, capsys, "--from-cluster", "-o", "patch")
    assert (code, pod) == (0, [])
    assert f"skip: namespace loadtests is not labelled {names.NAMESPACE_INJECT_LABEL}" in stderr[1]


def test_the_namespaces_limit_range_fits_the_finisher(
    cluster: tuple[fake_kube.FakeKube, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, kubeconfig = cluster
    api.kind("limitranges").put({
        "metadata": {"name": "floor", "namespace": "loadtests"},
        "spec": {"limits": [{"type": "Container", "min": {"cpu": "50m"}}]},
    })  # fmt: skip
    _, pod, stderr = preview(kubeconfig, capsys, "--from-cluster")
    assert finisher(pod)["resources"]["requests"]["cpu"] == "50m"
    assert "namespace loadtests: 1 LimitRange(s), 0 ResourceQuota(s)" in stderr[0]
    _, offline, _ = preview(kubeconfig, capsys)
    assert finisher(offline)["resources"]["requests"]["cpu"] == "10m"


def test_a_pod_without_a_namespace_goes_to_the_contexts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = yaml.safe_load((FIXTURES / "pods" / "annotated-master.yaml").read_text())
    pod["metadata"].pop("namespace", None)
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(pod))
    with fake_kube.running(configmaps=[configmap("")], namespaces=[namespace("team")]) as api:
        kubeconfig = fake_kube.write_kubeconfig(tmp_path / "config", api.url, namespace="team")
        code, _, stderr = preview(kubeconfig, capsys, "--from-cluster", path=path)
        assert "GET /api/v1/namespaces/team/limitranges?limit=50" in api.requests
    assert code == 0
    assert "namespace team: labelled" in stderr[0]
    assert "the webhook's Deployment cannot be read" in stderr[0]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (None, "ConfigMap locust-finisher/locust-finisher-config cannot be read (404"),
        ("ttl: soon\n", "ConfigMap locust-finisher/locust-finisher-config, key config.yaml: ttl"),
    ],
)
def test_a_missing_or_refused_configmap_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: str | None, message: str
) -> None:
    maps = [] if document is None else [configmap(document)]
    with fake_kube.running(configmaps=maps, namespaces=[namespace("loadtests")]) as api:
        kubeconfig = fake_kube.write_kubeconfig(tmp_path / "config", api.url)
        code, pod, stderr = preview(kubeconfig, capsys, "--from-cluster")
    assert (code, pod, len(stderr)) == (2, None, 1)
    assert stderr[0].startswith(f"locust-finisher mutate: --from-cluster: {message}")
