"""The install manifests a GitHub release attaches, rendered from the kustomize overlays.

Users who do not keep our repository install a release with one command and no kustomize:

    kubectl apply --server-side -f https://github.com/locust-finisher/locust-finisher/releases/download/vX.Y.Z/locust-finisher.yaml

Only the cert-manager installation can be pre-rendered: a self-signed one needs a CA key,
and a key inside a published file would let anyone impersonate the webhook. Without
cert-manager, users run ``locust-finisher certs`` and the self-signed overlay, or Helm, which
makes its keys at install time (docs/install.md).

    python -m release.release_manifests dist/release    # what `make release-manifests` runs
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from app import __version__
from app.core import names
from devcluster.build import ensure_tool

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
CERT_MANAGER_OVERLAY = MANIFESTS / "overlays" / "cert-manager"
NETWORK_POLICY_COMPONENT = MANIFESTS / "components" / "network-policy"
WRITE_POLICY_COMPONENT = MANIFESTS / "components" / "controller-write-policy"
CONTROLLER_NETWORK_POLICY_COMPONENT = MANIFESTS / "components" / "controller-network-policy"
GRAFANA_DASHBOARD_COMPONENT = MANIFESTS / "components" / "grafana-dashboard"

# File name -> what it holds, for the release notes and `--help`.
FILES = {
    "locust-finisher.yaml": "everything, with cert-manager issuing the webhook's certificate",
    "locust-finisher-network-policy.yaml": "the exporter's NetworkPolicy, for each test namespace "
    "(kubectl apply -n <namespace> -f)",
    "locust-finisher-controller-write-policy.yaml": "Kubernetes 1.30+: limits the controller's "
    "writes to locust-finisher.io/* labels and annotations of managed pods and Jobs",
    "locust-finisher-controller-network-policy.yaml": "the controller's NetworkPolicy: reports "
    "only from managed master pods, metrics only from the monitoring namespace",
    "locust-finisher-grafana-dashboard.yaml": "the Grafana dashboard of the tests' trends: a "
    'ConfigMap in locust-finisher labelled grafana_dashboard: "1", for the Grafana sidecar',
}


class ReleaseError(RuntimeError):
    """The manifests cannot be released as they are; the message says why."""


def kustomize(directory: Path) -> str:
    """``kubectl kustomize directory``, as users' ``kubectl apply -k`` renders it."""
    result = subprocess.run(
        [str(ensure_tool("kubectl")), "kustomize", str(directory)],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ReleaseError(f"kubectl kustomize {directory}: {result.stderr.strip()}")
    return result.stdout


def component(directory: Path) -> str:
    """A kustomize Component on its own, without a namespace (``kubectl apply -n`` gives one)."""
    with tempfile.TemporaryDirectory() as scratch:
        # kustomize builds a Component only from a kustomization that includes it.
        component = os.path.relpath(directory, scratch)
        Path(scratch, "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            f"components:\n  - {component}\n"
        )
        return kustomize(Path(scratch))


def versioned_images() -> tuple[str, str]:
    """The two image references a release of this version must carry."""
    return (
        f"{names.IMAGE_REPOSITORY}:{__version__}",
        f"{names.FINISHER_IMAGE_REPOSITORY}:{__version__}",
    )


def render() -> dict[str, str]:
    """Each release file's content, by file name.

    Raises:
        ReleaseError: if kustomize fails, or the manifests do not name this version's images
            (a release must never install another version's webhook or finisher).
    """
    install = kustomize(CERT_MANAGER_OVERLAY)
    missing = [image for image in versioned_images() if image not in install]
    if missing:
        raise ReleaseError(
            f"{CERT_MANAGER_OVERLAY} does not use {', '.join(missing)} "
            f"(python -m release.version check)"
        )
    return {
        "locust-finisher.yaml": install,
        "locust-finisher-network-policy.yaml": component(NETWORK_POLICY_COMPONENT),
        "locust-finisher-controller-write-policy.yaml": component(WRITE_POLICY_COMPONENT),
        "locust-finisher-controller-network-policy.yaml": component(
            CONTROLLER_NETWORK_POLICY_COMPONENT
        ),
        "locust-finisher-grafana-dashboard.yaml": component(GRAFANA_DASHBOARD_COMPONENT),
    }


def write(outdir: Path) -> list[Path]:
    """Render every release file into ``outdir``; the paths written."""
    rendered = render()
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in rendered.items():
        path = outdir / name
        path.write_text(content)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    """``python -m release.release_manifests OUTDIR``."""
    if len(argv) != 1 or argv[0].startswith("-"):
        listing = "\n".join(f"  {name}: {what}" for name, what in FILES.items())
        print(f"usage: python -m release.release_manifests OUTDIR\nwrites:\n{listing}")
        return 2
    try:
        for path in write(Path(argv[0])):
            print(f"{path}: {FILES[path.name]}")
    except ReleaseError as error:
        print(f"release-manifests: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
