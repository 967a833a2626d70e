"""The captured pods on disk, and the pod rules a patch must keep: for tests and benchmarks.

``python -m testkit.capture_pods`` writes the pods; goldens, unit tests and the webhook
benchmark read them from here.
"""

import copy
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
POD_FIXTURES = FIXTURES / "pods"


def pod_cases() -> list[str]:
    """Every captured pod fixture, by case name."""
    return sorted(path.stem for path in POD_FIXTURES.glob("*.yaml"))


def load_pod(case: str) -> dict[str, Any]:
    """A pod as the API server handed it to the capture webhook."""
    pod: dict[str, Any] = yaml.safe_load((POD_FIXTURES / f"{case}.yaml").read_text())
    return pod


def apply_patch(pod: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    """The pod after an RFC 6902 patch, applied by an independent implementation."""
    patched: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(pod), ops)
    return patched


def pod_rule_violations(pod: dict[str, Any]) -> list[str]:
    """The API server's pod rules our patch could break."""
    spec = pod.get("spec", {})
    names = [c["name"] for key in ("initContainers", "containers") for c in spec.get(key, [])]
    problems = [f"duplicate container name {n}" for n in set(names) if names.count(n) > 1]
    if spec.get("hostPID") and spec.get("shareProcessNamespace"):
        problems.append("shareProcessNamespace together with hostPID")
    return problems


def pod_review(
    pod: Any,
    namespace: str = "golden",
    uid: str = "4f2a",
    creator: str = "system:serviceaccount:kube-system:job-controller",
) -> dict[str, Any]:
    """An AdmissionReview v1 for creating ``pod``, as kube-apiserver sends it to a webhook."""
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "namespace": namespace,
            "object": pod,
            "userInfo": {"username": creator, "groups": ["system:serviceaccounts"]},
        },
    }
