"""Every way to install locust-finisher, as platform teams do it, on a fresh local cluster.

Each path installs, finishes a real load test, re-applies with no change, and uninstalls
leaving nothing behind. The commands are the ones docs/install.md gives; the from-source
ones are run word for word out of README.md.
"""

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import __version__
from devcluster import operator_shapes as shapes
from devcluster.build import ensure_tool
from devcluster.cert_manager import start_cert_manager
from devcluster.cluster import LocalCluster, serve_registry
from devcluster.install import (
    NAMESPACE,
    copy_manifests,
    make_certificates,
    opt_in_namespace,
    wait_for_webhook,
)
from devcluster.loadtest import Outcome, prepare_namespace, run_load_test
from devcluster.processes import wait_until
from release import release_manifests
from tests.cluster.conftest import SharedCluster
from tests.workflows.docs_recipes import ROOT, from_source_recipe

pytestmark = pytest.mark.cluster

CHART = Path(__file__).resolve().parents[2] / "manifests" / "chart" / "locust-finisher"
CLUSTER_WIDE = [
    ("mutatingwebhookconfiguration", "locust-finisher"),
    ("clusterrole", "locust-finisher-controller"),
    ("clusterrolebinding", "locust-finisher-controller"),
]


@pytest.fixture(scope="module")
def fresh(shared_cluster: SharedCluster) -> Iterator[LocalCluster]:
    shared_cluster.stop()  # one real node per machine
    with LocalCluster() as running:
        yield running


def finishes_a_load_test(cluster: LocalCluster, namespace: str) -> Outcome:
    prepare_namespace(cluster, namespace)
    test = shapes.LoadTest(
        name="install",
        namespace=namespace,
        run_time="4s",
        autoquit=8,
        master_annotations={"locust-finisher.io/ttl": "3s"},
    )
    outcome = run_load_test(cluster, test)
    assert outcome.pod["spec"]["containers"][0]["name"] == "locust-finisher"
    assert outcome.job_condition == "Complete"
    return outcome


def nothing_left(cluster: LocalCluster) -> None:
    def gone() -> bool:
        missing = [
            cluster.run_tool("kubectl", "get", kind, name).returncode != 0
            for kind, name in CLUSTER_WIDE
        ]
        namespace = cluster.run_tool("kubectl", "get", "namespace", NAMESPACE).returncode != 0
        return all(missing) and namespace

    wait_until(gone, 120, "every object of the installation to be gone")


def test_kubernetes_accepts_every_overlay_in_a_server_side_dry_run(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    manifests = copy_manifests(tmp_path)
    make_certificates(manifests / "overlays" / "self-signed")
    # A dry run creates nothing, so the namespace its objects go into must exist already.
    fresh.kubectl("create", "namespace", NAMESPACE)
    for overlay in ("self-signed", "dev"):
        result = fresh.run_tool(
            "kubectl",
            "apply",
            "--server-side",
            "--dry-run=server",
            "-k",
            str(manifests / "overlays" / overlay),
        )
        assert result.returncode == 0, result.stderr
    opt_in_namespace(fresh, "policy-check")
    component = tmp_path / "policy-namespace"
    component.mkdir()
    (component / "kustomization.yaml").write_text(
        "namespace: policy-check\ncomponents:\n  - ../manifests/components/network-policy\n"
    )
    result = fresh.run_tool(
        "kubectl", "apply", "--server-side", "--dry-run=server", "-k", str(component)
    )
    assert result.returncode == 0, result.stderr
    assert "networkpolicy.networking.k8s.io/locust-finisher-exporter-access" in result.stdout
    fresh.kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=120s")


def test_the_self_signed_overlay_installs_finishes_a_test_reapplies_cleanly_and_uninstalls(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    manifests = copy_manifests(tmp_path)
    overlay = manifests / "overlays" / "self-signed"
    make_certificates(overlay)
    fresh.kubectl("apply", "--server-side", "-k", str(overlay))
    wait_for_webhook(fresh)
    finishes_a_load_test(fresh, "install-kustomize")

    again = fresh.run_tool("kubectl", "diff", "--server-side", "-k", str(overlay))
    assert again.returncode == 0, f"re-applying would change: {again.stdout[-2000:]}"

    fresh.kubectl("delete", "-k", str(overlay), "--wait=true", "--timeout=120s")
    nothing_left(fresh)


def test_the_helm_chart_lints_renders_installs_upgrades_in_place_and_uninstalls(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    lint = fresh.run_tool("helm", "lint", str(CHART), "--strict")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for values in (
        [],
        ["--set", "certManager.enabled=true"],
        ["--set", "controller.enabled=false"],
    ):
        rendered = fresh.run_tool(
            "helm",
            "template",
            "lf",
            str(CHART),
            "-n",
            NAMESPACE,
            "--kube-version",
            "v1.36.3",
            *values,
        )
        assert rendered.returncode == 0, rendered.stderr
        assert "kind: MutatingWebhookConfiguration" in rendered.stdout

    # The artifact a release pushes to oci://ghcr.io/locust-finisher/charts.
    packaged = fresh.run_tool("helm", "package", str(CHART), "--destination", str(tmp_path))
    assert packaged.returncode == 0, packaged.stderr
    chart = tmp_path / f"locust-finisher-{__version__}.tgz"
    install = [
        "upgrade",
        "--install",
        "lf",
        str(chart),
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--set",
        "defaults.shutdownTTL=3s",
        "--wait",
        "--timeout",
        "3m",
    ]
    result = fresh.run_tool("helm", *install)
    assert result.returncode == 0, result.stderr
    wait_for_webhook(fresh)
    finishes_a_load_test(fresh, "install-helm")

    def versions() -> dict[str, str]:
        listing = fresh.api().get(f"/api/v1/namespaces/{NAMESPACE}/secrets")["items"]
        secret = next(s for s in listing if s["metadata"]["name"] == "locust-finisher-webhook-tls")
        webhook = fresh.api().get(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/locust-finisher"
        )
        return {
            "secret": secret["metadata"]["resourceVersion"],
            "caBundle": webhook["webhooks"][0]["clientConfig"]["caBundle"],
        }

    before = versions()
    result = fresh.run_tool("helm", *install)
    assert result.returncode == 0, result.stderr
    assert versions() == before, "an upgrade keeps the certificate (and so the caBundle)"

    result = fresh.run_tool("helm", "uninstall", "lf", "-n", NAMESPACE, "--wait")
    assert result.returncode == 0, result.stderr
    fresh.kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=120s")
    nothing_left(fresh)


def test_the_release_manifest_gets_its_certificate_and_ca_from_cert_manager(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    # The file a release attaches (`make release-manifests`), applied as the README says.
    start_cert_manager(fresh)
    release = next(
        path for path in release_manifests.write(tmp_path) if path.name == "locust-finisher.yaml"
    )
    fresh.kubectl("apply", "--server-side", "-f", str(release))

    def injected() -> bool:
        webhook = fresh.api().get(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/locust-finisher"
        )
        return bool(webhook["webhooks"][0]["clientConfig"].get("caBundle"))

    wait_until(injected, 120, "cainjector to write the caBundle")
    wait_for_webhook(fresh)
    finishes_a_load_test(fresh, "install-cert-manager")

    again = fresh.run_tool("kubectl", "diff", "--server-side", "-f", str(release))
    if again.returncode != 0:
        # cert-manager before 1.12 (the newest we can build here is 1.11.5) updates the webhook
        # configuration through a Kubernetes 1.26 client that does not know matchConditions
        # and drops them; the caBundle it owns is never part of the diff. Nothing else may differ.
        assert again.stdout.count("diff -u -N") == 1, again.stdout[-2000:]
        assert "MutatingWebhookConfiguration..locust-finisher" in again.stdout
        changed = [line for line in again.stdout.splitlines() if line[:1] in "+-"]
        changed = [line for line in changed if not line.startswith(("+++", "---"))]
        assert all(
            "generation" in line
            or "matchConditions" in line
            or "expression" in line
            or "name: not-a-mirror-pod" in line
            or "name: locust-candidate" in line
            or line.lstrip("+- ").startswith(
                (
                    "&&",
                    "||",
                    "in object",
                    "object.",
                    "'locust-finisher",
                    "'locust.io",
                    "== 'master'",
                )
            )
            for line in changed
        ), again.stdout[-2000:]

    fresh.kubectl("delete", "-f", str(release), "--wait=true", "--timeout=120s")
    nothing_left(fresh)


def runs(pods: list[dict[str, Any]], container: str) -> set[tuple[str, str]]:
    """(image, imageID) of ``container`` in each pod, as the kubelet reports them."""
    return {
        (status["image"], status["imageID"])
        for pod in pods
        for status in pod.get("status", {}).get("containerStatuses", [])
        if status["name"] == container
    }


def test_from_source_the_readme_commands_push_both_images_install_them_and_finish_a_test(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    # The platform team's registry, which takes pushes, and its nodes pointed at it. The
    # node's own registry serves nothing under this host or path: what runs was pushed.
    url = serve_registry(
        fresh.processes, "push-registry", "devcluster.push_registry", str(tmp_path / "pushed")
    )
    host = url.removeprefix("http://")
    assert fresh.runtime is not None
    assert fresh.binaries is not None
    fresh.runtime.pull_from(host, url)
    registry = f"{host}/from-source"
    tools = f"{ensure_tool('helm').parent}:{fresh.binaries.kubectl.parent}"
    env = {
        **os.environ,
        "PATH": f"{tools}:{os.environ['PATH']}",
        "KUBECONFIG": str(fresh.kubeconfig),
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", from_source_recipe(registry)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    pushed = dict(
        re.findall(
            rf"^({re.escape(registry)}/[a-z-]+:\S+)@(sha256:[0-9a-f]{{64}})$", done.stdout, re.M
        )
    )
    app_image = f"{registry}/locust-finisher:{__version__}"
    finisher_image = f"{registry}/finisher:{__version__}"
    assert set(pushed) == {app_image, finisher_image}, done.stdout[-2000:]

    wait_for_webhook(fresh)
    outcome = finishes_a_load_test(fresh, "install-from-source")

    # Every pod runs the very manifests `make push` pushed, pulled from that registry.
    def pulled(image: str) -> tuple[str, str]:
        return image, f"{image.rpartition(':')[0]}@{pushed[image]}"

    ours = fresh.api().get(f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
    assert runs(ours, "webhook") | runs(ours, "controller") == {pulled(app_image)}
    assert runs([outcome.pod], "locust-finisher") == {pulled(finisher_image)}

    result = fresh.run_tool("helm", "uninstall", "locust-finisher", "-n", NAMESPACE, "--wait")
    assert result.returncode == 0, result.stderr
    fresh.kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=120s")
    nothing_left(fresh)
