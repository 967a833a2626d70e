"""The one pure function behind the webhook and ``locust-finisher mutate``: pod in, patch out.

Like Istio's ``injectPod``, the webhook and the CLI preview both call :func:`mutate_pod`, so
what a user previews is exactly what the API server will store. The status annotation it
writes makes a second pass a no-op (reinvocation, retries, ``mutate`` on a stored pod).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app import __version__
from app.core import names, podview
from app.core.classify import LocustMaster, NotManaged, classify_pod
from app.core.finisher_spec import FinisherImage, FinisherResources, finisher_container
from app.core.injection_status import InjectionStatus
from app.core.patch import PatchOp, add, put_entries
from app.core.settings import FinishSettings, Strategy, resolve_settings


@dataclass(frozen=True)
class InjectionConfig:
    """Cluster-wide webhook configuration: default settings and the finisher container."""

    defaults: FinishSettings = field(default_factory=FinishSettings)
    image: FinisherImage = field(default_factory=FinisherImage)
    resources: FinisherResources = field(default_factory=FinisherResources)


@dataclass(frozen=True)
class Mutation:
    """What to do to one pod, and why."""

    decision: Literal["mutate", "skip"]
    reason: str
    ops: list[PatchOp] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def mutate_pod(pod: Mapping[str, Any], config: InjectionConfig) -> Mutation:
    """Decide how to finish ``pod`` and return the JSON Patch that sets it up."""
    found = classify_pod(pod)
    if isinstance(found, NotManaged):
        return Mutation("skip", found.reason)

    settings, warnings = resolve_settings(podview.annotations(pod), config.defaults)
    warnings = [*warnings, *found.warnings]
    if settings.strategy is Strategy.FINISHER:
        blocker = _process_namespace_blocker(pod)
        if blocker is not None:
            return Mutation("skip", blocker, warnings=warnings)
        container = finisher_container(found, settings, config.image, config.resources)
        ops = [add(container, "spec", "containers", 0)]
        if podview.spec(pod).get("shareProcessNamespace") is not True:
            ops.insert(0, add(True, "spec", "shareProcessNamespace"))
        injected = ["shareProcessNamespace", f"container/{names.FINISHER_CONTAINER}"]
        pull_secrets = _pull_secret_ops(pod, config.image.pull_secrets)
        if pull_secrets:
            ops += pull_secrets
            injected.append("imagePullSecrets")
    else:
        ops = []
        injected = []

    status = _status(found, settings, injected).encode()
    ops += put_entries(pod, ("metadata", "labels"), {names.MANAGED_LABEL: "true"})
    ops += put_entries(pod, ("metadata", "annotations"), {names.STATUS_ANNOTATION: status})
    return Mutation("mutate", f"{found.reason}; {_mode(settings)}", ops, warnings)


def _mode(settings: FinishSettings) -> str:
    """How the pod is finished, and why that way (``mutate`` and the webhook's log say it)."""
    if settings.strategy is Strategy.FINISHER:
        # Measured on the real kubelet (tests/cluster/test_verdict_safety.py).
        return (
            "strategy finisher: a regular container that always exits 0 (a native sidecar "
            "whose image cannot be pulled would keep the test from starting)"
        )
    return "strategy controller: no container added, the controller ends the exporter"


def _pull_secret_ops(pod: Mapping[str, Any], secrets: tuple[str, ...]) -> list[PatchOp]:
    """Ops that add the finisher's pull secrets the pod does not list yet, keeping its own.

    The kubelet pulls every container of a pod with the pod's one list of Secrets, so the
    finisher's must be on it; each must exist in the pod's namespace.
    """
    present = {
        podview.text(entry, "name")
        for entry in podview.objects(podview.spec(pod), "imagePullSecrets")
    }
    missing = [{"name": name} for name in secrets if name not in present]
    if not missing:
        return []
    if not isinstance(podview.spec(pod).get("imagePullSecrets"), list):
        return [add(missing, "spec", "imagePullSecrets")]
    return [add(entry, "spec", "imagePullSecrets", "-") for entry in missing]


def _process_namespace_blocker(pod: Mapping[str, Any]) -> str | None:
    """Why the finisher could not see the master's process in this pod, if it could not."""
    spec = podview.spec(pod)
    hint = f"set {names.STRATEGY_ANNOTATION}: controller to finish it from outside"
    if spec.get("hostPID") is True:
        return f"hostPID pod: it cannot also share a process namespace; {hint}"
    if spec.get("shareProcessNamespace") is False:
        return f"shareProcessNamespace is explicitly false; {hint}"
    if podview.text(podview.mapping(spec, "os"), "name") == "windows":
        return f"Windows pod: no shared process namespace; {hint}"
    return None


def _status(found: LocustMaster, settings: FinishSettings, injected: list[str]) -> InjectionStatus:
    """What we decided and injected, for the status annotation."""
    return InjectionStatus(
        settings=settings,
        master_container=found.master_container,
        exporter_container=found.exporter.name,
        exporter_sidecar=found.exporter.native_sidecar,
        exporter_port=found.exporter.port,
        locust_web_port=found.locust_web_port,
        injected=tuple(injected),
        version=__version__,
    )
