"""The one pure function behind the webhook and ``locust-finisher mutate``: pod in, patch out.

Like Istio's ``injectPod``, the webhook and the CLI preview both call :func:`mutate_pod`, so
what a user previews is exactly what the API server will store. The status annotation it
writes makes a second pass a no-op (reinvocation, retries, ``mutate`` on a stored pod).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

from app import __version__
from app.core import names, podview
from app.core.classify import LocustMaster, NotManaged, classify_pod
from app.core.cluster_config import InjectionConfig
from app.core.finisher_spec import (
    REPORT_TOKEN_VOLUME,
    STATE_VOLUME,
    finisher_container,
    report_token_volume,
    state_volume,
)
from app.core.fitting import NO_LIMITS, Fitted, LeftOut, NamespaceLimits, fit, pod_level_ops
from app.core.injection_status import Fitting, InjectionStatus
from app.core.patch import PatchOp, add, put_entries
from app.core.run_metadata import revision
from app.core.setting_warnings import SettingWarning
from app.core.settings import FinishSettings, Strategy, resolve_settings, without_exporter


@dataclass(frozen=True)
class Mutation:
    """What to do to one pod, and why."""

    decision: Literal["mutate", "skip"]
    reason: str
    ops: list[PatchOp] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The status annotation's value, when the pod is mutated: what its admission record signs.
    status: str | None = None


def mutate_pod(
    pod: Mapping[str, Any],
    config: InjectionConfig,
    namespace: NamespaceLimits = NO_LIMITS,
) -> Mutation:
    """Decide how to finish ``pod`` and return the JSON Patch that sets it up.

    ``namespace`` holds the LimitRanges and ResourceQuotas of the pod's namespace, which the
    finisher is fitted into (``mutate`` previews without them unless told).
    """
    found = classify_pod(pod)
    if isinstance(found, NotManaged):
        return Mutation("skip", found.reason)

    annotations = podview.annotations(pod)
    settings, ignored = resolve_settings(annotations, config.defaults)
    if found.exporter is None:
        ignored += without_exporter(annotations, ignored)
    bad_revision = revision(annotations)[1]
    if bad_revision is not None:
        ignored.append(bad_revision)
    # One list for the admission warnings, the status annotation, the log and the Events.
    noted = (*ignored, *found.warnings)
    warnings = [note.text for note in noted]
    fitted: Fitted | LeftOut | None = None
    if settings.strategy is Strategy.FINISHER:
        blocker = _process_namespace_blocker(pod)
        if blocker is not None:
            return Mutation("skip", blocker, warnings=warnings)
        fitted = fit(pod, config.resources, namespace)
        if isinstance(fitted, LeftOut):
            # Finished from outside, as a pod that asks for it is: the test still runs. The
            # status says it as its fitting, and the controller in a FinisherLeftOut Event.
            settings = replace(settings, strategy=Strategy.CONTROLLER)
            warnings.append(f"the finisher is left out: {fitted.reason}")
    if isinstance(fitted, Fitted):
        volume = _free_volume_name(pod, REPORT_TOKEN_VOLUME) if config.report_url else None
        taken = {volume} if volume else set()
        state = _free_volume_name(pod, STATE_VOLUME, taken) if config.restart_rules else None
        container = finisher_container(
            found, settings, config.image, fitted.resources, volume, config.report_url, state
        )
        ops = [add(container, "spec", "containers", 0)]
        ops += pod_level_ops(pod, fitted.resources)
        if podview.spec(pod).get("shareProcessNamespace") is not True:
            ops.insert(0, add(True, "spec", "shareProcessNamespace"))
        injected = ["shareProcessNamespace", f"container/{names.FINISHER_CONTAINER}"]
        if volume is not None:
            ops.append(_volume_op(pod, report_token_volume(volume)))
            injected.append(f"volume/{volume}")
        if state is not None:
            ops.append(_volume_op(pod, state_volume(state), bool(taken)))
            injected.append(f"volume/{state}")
        pull_secrets = _pull_secret_ops(pod, config.image.pull_secrets)
        if pull_secrets:
            ops += pull_secrets
            injected.append("imagePullSecrets")
    else:
        ops = []
        injected = []

    status = _status(found, settings, tuple(injected), _fitting(fitted), noted)
    ops += put_entries(pod, ("metadata", "labels"), {names.MANAGED_LABEL: "true"})
    ops += put_entries(pod, ("metadata", "annotations"), {names.STATUS_ANNOTATION: status})
    mode = _mode(settings, found, fitted)
    return Mutation("mutate", f"{found.reason}; {mode}", ops, warnings, status)


def _mode(settings: FinishSettings, found: LocustMaster, fitted: Fitted | LeftOut | None) -> str:
    """How the pod is finished, and why that way (``mutate`` and the webhook's log say it)."""
    if isinstance(fitted, LeftOut):
        return f"finisher left out ({fitted.reason}): the controller finishes the test"
    if settings.strategy is Strategy.FINISHER:
        # Measured on the real kubelet (tests/cluster/test_verdict_safety.py).
        return (
            "strategy finisher: a regular container that always exits 0 (a native sidecar "
            "whose image cannot be pulled would keep the test from starting)"
        )
    if found.exporter is None:
        return "strategy controller: no container added, the controller records the verdict"
    return "strategy controller: no container added, the controller ends the exporter"


def _free_volume_name(pod: Mapping[str, Any], base: str, ours: set[str] | None = None) -> str:
    """``base``, or ``base-2``, ``-3``...: a volume name neither the pod nor we use yet."""
    taken = {
        podview.text(volume, "name") for volume in podview.objects(podview.spec(pod), "volumes")
    } | (ours or set())
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def _volume_op(pod: Mapping[str, Any], volume: dict[str, Any], after_ours: bool = False) -> PatchOp:
    """The op that adds ``volume``, creating the pod's list when it has none (nor ours yet)."""
    if not isinstance(podview.spec(pod).get("volumes"), list) and not after_ours:
        return add([volume], "spec", "volumes")
    return add(volume, "spec", "volumes", "-")


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


def _fitting(fitted: Fitted | LeftOut | None) -> tuple[Fitting, str]:
    """How the finisher was fitted, and why, as the status says it."""
    if isinstance(fitted, LeftOut):
        return Fitting.LEFT_OUT, fitted.reason
    if fitted is not None and fitted.notes:
        return Fitting.RESIZED, "; ".join(fitted.notes)
    return Fitting.AS_CONFIGURED, ""


# Most master pods of a cluster differ only in names and uids, none of which the status
# holds: the same few inputs give the same text, which is a fifth of deciding about a pod.
@lru_cache(maxsize=256)
def _status(
    found: LocustMaster,
    settings: FinishSettings,
    injected: tuple[str, ...],
    fitting: tuple[Fitting, str],
    noted: tuple[SettingWarning, ...],
) -> str:
    """The status annotation's value: what we decided and injected."""
    exporter = found.exporter
    return InjectionStatus(
        settings=settings,
        master_container=found.master_container,
        exporter_container=exporter.name if exporter else None,
        exporter_sidecar=exporter.native_sidecar if exporter else False,
        exporter_port=exporter.port if exporter else names.EXPORTER_DEFAULT_PORT,
        locust_web_port=found.locust_web_port,
        injected=injected,
        version=__version__,
        fitting=fitting[0],
        fitting_reason=fitting[1],
        warnings=noted,
    ).encode()
