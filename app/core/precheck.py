"""``locust-finisher check``: the pre-flight, decided from what the API server answered.

A platform engineer asks, before the first test, what ``istioctl x precheck`` answers for
Istio: will a master pod in this namespace be admitted, and mutated, and can its finisher
run? The only faithful answer is the API server's own: a server-side dry run of a
master-shaped pod goes through every admission step (our webhook, Pod Security or
OpenShift's SCC, quotas, policy engines) without creating anything. This module makes that
pod and reads the answers; the shell (app/cli/check_cmd.py) asks.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from app.core import names, podview
from app.core.injection_status import Fitting, read_status

PROBE_NAME: Final = "locust-finisher-check"
Right = tuple[str, str, str, str]  # API group, resource, verb, subresource
# What ``wait``, ``report`` and ``history`` ask of the API server (app/waiting): the Job, its
# pods (a watch), the ConfigMaps that hold kept reports (a list) and a test's history (a get).
CI_RIGHTS: Final[tuple[Right, ...]] = (
    ("batch", "jobs", "get", ""),
    ("", "pods", "get", ""),
    ("", "pods", "list", ""),
    ("", "pods", "watch", ""),
    ("", "configmaps", "get", ""),
    ("", "configmaps", "list", ""),
)
# Only for live numbers while the test runs; without it ``wait`` shows the pod status.
LIVE_NUMBERS_RIGHT: Final[Right] = ("", "pods", "get", "proxy")


class Status(StrEnum):
    """One check's outcome."""

    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    reason: str

    def line(self) -> str:
        """The line printed for it."""
        return f"{self.status.value:<7}  {self.name}: {self.reason}"

    def document(self) -> dict[str, str]:
        """Its entry in ``-o json``."""
        return {"name": self.name, "status": self.status.value, "reason": self.reason}


def probe_pod(namespace: str) -> dict[str, Any]:
    """A master pod as locust-k8s-operator 2.2 makes it: what the webhook recognises first."""
    name = f"{PROBE_NAME}-master"
    restricted = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    resources = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "managed-by": "locust-k8s-operator",
                "performance-test-name": PROBE_NAME,
                "performance-test-pod-name": name,
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": name,
                    "image": "locustio/locust:2.43.3",
                    "args": ["--master", "--autostart", "--autoquit", "60"],
                    "ports": [{"containerPort": 8089}],
                    "resources": resources,
                    "securityContext": restricted,
                },
                {
                    "name": "locust-metrics-exporter",
                    "image": "containersol/locust_exporter:v0.5.0",
                    "ports": [{"containerPort": 9646}],
                    "resources": resources,
                    "securityContext": restricted,
                },
            ],
        },
    }


def opted_in(namespace: Mapping[str, Any]) -> Check:
    """Whether the namespace carries the label the webhook is bound by."""
    labels = podview.labels(namespace)
    if labels.get(names.NAMESPACE_INJECT_LABEL) == "enabled":
        return Check("namespace", Status.OK, f"labelled {names.NAMESPACE_INJECT_LABEL}=enabled")
    return Check(
        "namespace",
        Status.FAILED,
        f"not labelled {names.NAMESPACE_INJECT_LABEL}=enabled: the webhook never sees its pods "
        f"(kubectl label namespace <ns> {names.NAMESPACE_INJECT_LABEL}=enabled)",
    )


def admitted(dry_run: Mapping[str, Any]) -> list[Check]:
    """What the dry run of :func:`probe_pod` says: admitted, and mutated by us."""
    checks = [Check("admission", Status.OK, "a master pod is admitted (server-side dry run)")]
    status = read_status(podview.annotations(dry_run))
    if status is None:
        checks.append(
            Check(
                "webhook",
                Status.FAILED,
                "the master pod was admitted unmutated: the webhook was not called or did not "
                "answer (its Service, its CA bundle, a network policy), and its failurePolicy "
                "Ignore let the pod through",
            )
        )
        return checks
    finisher = _finisher(dry_run)
    if status.fitting is Fitting.LEFT_OUT:
        checks.append(
            Check(
                "webhook",
                Status.WARNING,
                f"mutated, but the finisher is left out: {status.fitting_reason} (the "
                "controller finishes such tests)",
            )
        )
    elif finisher is None:
        checks.append(Check("webhook", Status.WARNING, f"mutated: {status.settings.strategy}"))
    else:
        resized = f"; {status.fitting_reason}" if status.fitting is Fitting.RESIZED else ""
        checks.append(Check("webhook", Status.OK, f"mutated: the finisher is injected{resized}"))
    return checks


def refused(message: str) -> Check:
    """The dry run was refused: by an admission step after ours, most likely."""
    return Check("admission", Status.FAILED, f"a master pod is refused: {message}")


def finisher_image(dry_run: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """The injected finisher's image and the pod's pull secrets, when one was injected."""
    finisher = _finisher(dry_run)
    image = podview.text(finisher, "image") if finisher else None
    if not image:
        return None
    secrets = [
        podview.text(entry, "name") or ""
        for entry in podview.objects(podview.spec(dry_run), "imagePullSecrets")
    ]
    return image, [secret for secret in secrets if secret]


def pull_probe(namespace: str, image: str, secrets: Sequence[str], suffix: str) -> dict[str, Any]:
    """A pod that only runs the finisher image's ``--version``: can the node pull and run it?"""
    context = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": 300,
        "containers": [
            {
                "name": "finisher",
                "image": image,
                "command": ["locust-finisher", "--version"],
                "resources": {
                    "requests": {"cpu": "10m", "memory": "32Mi"},
                    "limits": {"memory": "64Mi"},
                },
                "securityContext": context,
            }
        ],
    }
    if secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in secrets]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{PROBE_NAME}-pull-{suffix}",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": PROBE_NAME},
        },
        "spec": spec,
    }


def pulled(pod: Mapping[str, Any]) -> Check | None:
    """How the pull probe went; None while it is still on its way."""
    status = podview.mapping(pod, "status")
    for container in podview.objects(status, "containerStatuses"):
        state = podview.mapping(container, "state")
        waiting = podview.mapping(state, "waiting")
        reason = podview.text(waiting, "reason") or ""
        if reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"):
            message = (podview.text(waiting, "message") or "")[:300]
            return Check(
                "image", Status.FAILED, f"the finisher image cannot be pulled: {reason}: {message}"
            )
        terminated = podview.mapping(state, "terminated")
        if terminated:
            code = terminated.get("exitCode")
            if code == 0:
                said = (podview.text(terminated, "message") or "").strip()
                return Check(
                    "image", Status.OK, f"pulled and ran --version{f': {said}' if said else ''}"
                )
            return Check("image", Status.FAILED, f"pulled, but --version exited {code}")
    if podview.text(status, "phase") == "Failed":
        return Check(
            "image", Status.FAILED, podview.text(status, "message") or "the probe pod failed"
        )
    return None


def rights(answers: Sequence[tuple[Right, bool]]) -> Check:
    """What the CI identity may do, from one SelfSubjectAccessReview per right."""
    missing = [_said(right) for right, allowed in answers if not allowed]
    required = [m for m in missing if m != _said(LIVE_NUMBERS_RIGHT)]
    if required:
        return Check(
            "ci-rights",
            Status.FAILED,
            f"wait and report would exit 2: no {', '.join(required)} (bind the ClusterRole "
            f"{names.CI_ROLE} in this namespace)",
        )
    if missing:
        return Check(
            "ci-rights",
            Status.WARNING,
            f"wait shows no live numbers: no {_said(LIVE_NUMBERS_RIGHT)} (the ClusterRole "
            f"{names.CI_LIVE_NUMBERS_ROLE} has it)",
        )
    return Check("ci-rights", Status.OK, "this identity may run wait and report here")


def _said(right: Right) -> str:
    group, resource, verb, sub = right
    return f"{verb} {resource}{'/' + sub if sub else ''}{' (' + group + ')' if group else ''}"


def _finisher(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for container in podview.containers(pod):
        if podview.text(container, "name") == names.FINISHER_CONTAINER:
            return container
    return None
