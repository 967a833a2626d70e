"""The Argo CD health checks as users install them: kustomize Component, or Helm values.

Both carry the very Lua in manifests/argocd/*.lua, under the keys Argo CD reads
(``resource.customizations.health.<group>_<kind>``), and leave the rest of argocd-cm alone.
"""

from pathlib import Path

import yaml

from tests.manifests.render import MANIFESTS, kustomize_objects
from tests.manifests.test_controller_write_policy import relative

ARGOCD = MANIFESTS / "argocd"
KEYS = {
    "resource.customizations.health.locust.io_LocustTest": "locusttest-health.lua",
    "resource.customizations.health.batch_Job": "job-health.lua",
}


def lua(name: str) -> str:
    return (ARGOCD / name).read_text(encoding="utf-8")


def test_the_component_merges_both_checks_into_argo_cds_own_argocd_cm(tmp_path: Path) -> None:
    (tmp_path / "argocd-cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n"
        "  labels:\n    app.kubernetes.io/part-of: argocd\ndata:\n  url: https://cd.example\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - argocd-cm.yaml\ncomponents:\n  - {relative(ARGOCD, tmp_path)}\n"
    )
    found = kustomize_objects(tmp_path)
    configmap = found[("ConfigMap", "argocd", "argocd-cm")]
    assert configmap["data"] == {
        "url": "https://cd.example",
        **{k: lua(v) for k, v in KEYS.items()},
    }
    assert configmap["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}


def test_the_helm_values_hold_the_same_lua() -> None:
    values = yaml.safe_load((ARGOCD / "values-argo-cd.yaml").read_text(encoding="utf-8"))
    assert values["configs"]["cm"] == {key: lua(name) for key, name in KEYS.items()}
