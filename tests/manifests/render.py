"""Render the chart and the kustomize overlays as users do, into objects tests can compare."""

import subprocess
from pathlib import Path
from typing import Any

import yaml

from devcluster.build import ensure_tool
from release.release_manifests import kustomize

REPOSITORY = Path(__file__).resolve().parents[2]
MANIFESTS = REPOSITORY / "manifests"
CHART = MANIFESTS / "chart" / "locust-finisher"
NAMESPACE = "locust-finisher"
# The oldest Kubernetes we support; the chart's kubeVersion must admit it.
KUBE_VERSION = "v1.28.15"

Key = tuple[str, str, str]  # kind, namespace, name


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run helm; the caller checks the outcome."""
    return subprocess.run(
        [str(ensure_tool("helm")), *args], check=False, capture_output=True, text=True
    )


def helm_template(*values: str) -> subprocess.CompletedProcess[str]:
    """``helm template`` of the chart into the usual namespace, with ``--set`` style values."""
    sets = [arg for value in values for arg in ("--set", value)]
    return helm(
        "template", "lf", str(CHART), "-n", NAMESPACE, "--kube-version", KUBE_VERSION, *sets
    )


def objects(text: str) -> dict[Key, dict[str, Any]]:
    """The objects of a multi-document YAML stream, by kind, namespace and name."""
    found: dict[Key, dict[str, Any]] = {}
    for document in yaml.safe_load_all(text):
        if not document:
            continue
        metadata = document["metadata"]
        key = (document["kind"], metadata.get("namespace", ""), metadata["name"])
        assert key not in found, f"{key} twice"
        found[key] = document
    return found


def chart_objects(*values: str) -> dict[Key, dict[str, Any]]:
    """The chart's objects for ``values``; fails the test if helm refuses them."""
    rendered = helm_template(*values)
    assert rendered.returncode == 0, rendered.stderr
    return objects(rendered.stdout)


def kustomize_objects(directory: Path) -> dict[Key, dict[str, Any]]:
    """``kubectl kustomize directory``'s objects."""
    return objects(kustomize(directory))
