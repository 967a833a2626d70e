"""Fitting the finisher into the pod's budget, so adding it never gets a test refused.

Admission checks that run after our webhook refuse a pod for what we add: pod-level
resources (the containers' requests may not exceed ``spec.resources``), a LimitRange's
per-container minimum, maximum and limit/request ratio, a LimitRange's per-pod maximum, and
a ResourceQuota the master alone just fits. Measured on 1.36, each refused a master that was
admitted unmutated: a refusal, not a fail-open. So the webhook reads the namespace's
LimitRanges and ResourceQuotas and this module decides, purely: the finisher's resources
fitted (each change said in a note), or the finisher left out with the reason (the pod is
then finished by the controller, as with ``strategy: controller``).

Quotas are taken as they stand (``status.used``) and whatever their scopes: leaving the
finisher out of a test a scoped quota would not have counted costs a container, while adding
it to one it does count costs the test.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from app.core import podview
from app.core.finisher_spec import FinisherResources
from app.core.patch import PatchOp, put_entries
from app.core.quantities import format_quantity, parse_quantity

# The resources a LimitRange, a quota or pod-level resources bound that we set.
RESOURCES = ("cpu", "memory")
SECTIONS = ("requests", "limits")
# Below this memory limit the finisher would risk its own OOM (its peak is half its 64Mi
# default by design, docs/design.md); a LimitRange allowing less leaves it out.
MEMORY_FLOOR = Fraction(48 * 1024 * 1024)
# A quota's keys, and the section and resource of a pod each one counts.
QUOTA_KEYS = {
    "requests.cpu": ("requests", "cpu"),
    "cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"),
    "limits.memory": ("limits", "memory"),
}

Amounts = dict[str, dict[str, Fraction]]  # section -> resource -> amount


@dataclass(frozen=True)
class NamespaceLimits:
    """What the webhook read of the pod's namespace: its LimitRanges and ResourceQuotas."""

    limit_ranges: tuple[Mapping[str, Any], ...] = ()
    quotas: tuple[Mapping[str, Any], ...] = ()


NO_LIMITS = NamespaceLimits()


@dataclass(frozen=True)
class Fitted:
    """The finisher's resources as the namespace admits them, and what was changed."""

    resources: FinisherResources
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeftOut:
    """The pod is admitted without the finisher, for this reason."""

    reason: str


@dataclass
class _Fitting:
    amounts: Amounts
    notes: list[str] = field(default_factory=list)

    def set(self, section: str, resource: str, amount: Fraction, why: str) -> None:
        old = self.amounts[section].get(resource)
        self.amounts[section][resource] = amount
        was = format_quantity(resource, old) if old is not None else "none"
        self.notes.append(
            f"{resource} {section[:-1]} {was} -> {format_quantity(resource, amount)} ({why})"
        )


def fit(
    pod: Mapping[str, Any], wanted: FinisherResources, limits: NamespaceLimits
) -> Fitted | LeftOut:
    """The finisher's resources fitted to ``limits``, or why it is left out of ``pod``."""
    if not limits.limit_ranges and not limits.quotas:
        # Nothing bounds the pod (the common case, and always when they are not read), so
        # neither its own totals (every container's quantities) nor ours are read again:
        # the configured resources as written, once per configuration.
        return _as_configured(wanted)
    fitting = _Fitting(_amounts(wanted))
    for range_ in limits.limit_ranges:
        left_out = _fit_container_range(fitting, range_)
        if left_out is not None:
            return left_out
    own = _pod_totals(pod)
    for range_ in limits.limit_ranges:
        left_out = _check_pod_range(own, fitting.amounts, range_)
        if left_out is not None:
            return left_out
    for quota in limits.quotas:
        left_out = _check_quota(own, fitting.amounts, quota)
        if left_out is not None:
            return left_out
    return Fitted(_resources(fitting.amounts), tuple(fitting.notes))


# The configurations seen lately, by identity (kept alive here, so an id is not reused):
# the webhook's lives until its ConfigMap is reloaded; tests and `mutate` make their own.
_CONFIGURED: dict[int, tuple[FinisherResources, Fitted]] = {}
_CONFIGURED_MAX = 8


def _as_configured(wanted: FinisherResources) -> Fitted:
    """The finisher's configured resources, written as the fitting writes them."""
    known = _CONFIGURED.get(id(wanted))
    if known is not None and known[0] is wanted:
        return known[1]
    fitted = Fitted(_resources(_amounts(wanted)))
    if len(_CONFIGURED) >= _CONFIGURED_MAX:
        _CONFIGURED.clear()
    _CONFIGURED[id(wanted)] = (wanted, fitted)
    return fitted


def pod_level_ops(pod: Mapping[str, Any], resources: FinisherResources) -> list[PatchOp]:
    """Ops that add the finisher's share to the pod's own ``spec.resources``, where it has one.

    With pod-level resources the containers' requests together may not exceed the pod's, so
    what the finisher takes is added to the pod's budget rather than taken from the master's.
    """
    pod_resources = podview.mapping(podview.spec(pod), "resources")
    if not pod_resources:
        return []
    ours = _amounts(resources)
    ops: list[PatchOp] = []
    for section in SECTIONS:
        budget = podview.mapping(pod_resources, section)
        raised = {}
        for resource in RESOURCES:
            amount = parse_quantity(budget.get(resource))
            extra = ours[section].get(resource)
            if amount is not None and extra is not None:
                raised[resource] = format_quantity(resource, amount + extra)
        if raised:
            ops += put_entries(pod, ("spec", "resources", section), raised)
    return ops


def _amounts(resources: FinisherResources) -> Amounts:
    sections = {"requests": resources.requests, "limits": resources.limits}
    amounts: Amounts = {}
    for section, values in sections.items():
        amounts[section] = {}
        for resource, text in values.items():
            amount = parse_quantity(text)
            if amount is not None:
                amounts[section][resource] = amount
    return amounts


def _resources(amounts: Amounts) -> FinisherResources:
    def written(section: str) -> dict[str, str]:
        return {name: format_quantity(name, value) for name, value in amounts[section].items()}

    return FinisherResources(requests=written("requests"), limits=written("limits"))


def _items(range_: Mapping[str, Any], kind: str) -> Iterable[Mapping[str, Any]]:
    for item in podview.objects(podview.mapping(range_, "spec"), "limits"):
        if podview.text(item, "type") == kind:
            yield item


def _bound(item: Mapping[str, Any], key: str, resource: str) -> Fraction | None:
    return parse_quantity(podview.mapping(item, key).get(resource))


def _name(obj: Mapping[str, Any]) -> str:
    return podview.text(podview.mapping(obj, "metadata"), "name") or "?"


def _fit_container_range(fitting: _Fitting, range_: Mapping[str, Any]) -> LeftOut | None:
    """Raise to the LimitRange's minimum, lower to its maximum, keep within its ratio."""
    where = f"LimitRange {_name(range_)}"
    requests, limits = fitting.amounts["requests"], fitting.amounts["limits"]
    for item in _items(range_, "Container"):
        for resource in RESOURCES:
            low = _bound(item, "min", resource)
            high = _bound(item, "max", resource)
            ratio = _bound(item, "maxLimitRequestRatio", resource)
            if low is not None and high is not None and low > high:
                continue  # the API server refuses such a range; nothing can fit it
            if low is not None:
                if requests.get(resource, Fraction(0)) < low:
                    fitting.set("requests", resource, low, f"{where} minimum")
                if resource in limits and limits[resource] < low:
                    fitting.set("limits", resource, low, f"{where} minimum")
            if high is not None:
                if resource not in limits or limits[resource] > high:
                    fitting.set("limits", resource, high, f"{where} maximum")
                if requests.get(resource, Fraction(0)) > high:
                    fitting.set("requests", resource, high, f"{where} maximum")
            request, limit = requests.get(resource), limits.get(resource)
            if ratio and request and limit and limit / request > ratio:
                fitting.set("requests", resource, limit / ratio, f"{where} limit/request ratio")
    memory = fitting.amounts["limits"].get("memory")
    if memory is not None and memory < MEMORY_FLOOR:
        return LeftOut(
            f"{where} allows the finisher a memory limit of {format_quantity('memory', memory)}, "
            f"below the {format_quantity('memory', MEMORY_FLOOR)} it needs"
        )
    return None


def _pod_totals(pod: Mapping[str, Any]) -> Amounts:
    """What the pod's own containers ask for, as LimitRanges and quotas count a pod."""
    totals: Amounts = {section: {} for section in SECTIONS}
    pod_level = podview.mapping(podview.spec(pod), "resources")
    running = [
        *podview.containers(pod),
        *filter(podview.is_native_sidecar, podview.init_containers(pod)),
    ]
    init_only = [c for c in podview.init_containers(pod) if not podview.is_native_sidecar(c)]
    for section in SECTIONS:
        for resource in RESOURCES:
            declared = parse_quantity(podview.mapping(pod_level, section).get(resource))
            if declared is not None:
                totals[section][resource] = declared
                continue
            alongside = sum((_of(c, section, resource) for c in running), Fraction(0))
            before = max((_of(c, section, resource) for c in init_only), default=Fraction(0))
            totals[section][resource] = max(alongside, before)
    return totals


def _of(container: Mapping[str, Any], section: str, resource: str) -> Fraction:
    values = podview.mapping(podview.mapping(container, "resources"), section)
    return parse_quantity(values.get(resource)) or Fraction(0)


def _check_pod_range(own: Amounts, ours: Amounts, range_: Mapping[str, Any]) -> LeftOut | None:
    for item in _items(range_, "Pod"):
        for section in SECTIONS:
            for resource in RESOURCES:
                high = _bound(item, "max", resource)
                total = own[section][resource] + ours[section].get(resource, Fraction(0))
                if high is not None and total > high and own[section][resource] <= high:
                    return LeftOut(
                        f"LimitRange {_name(range_)} allows a pod {format_quantity(resource, high)}"
                        f" of {resource} {section}; with the finisher the master pod would take"
                        f" {format_quantity(resource, total)}"
                    )
    return None


def _check_quota(own: Amounts, ours: Amounts, quota: Mapping[str, Any]) -> LeftOut | None:
    status = podview.mapping(quota, "status")
    hard = podview.mapping(status, "hard") or podview.mapping(
        podview.mapping(quota, "spec"), "hard"
    )
    used = podview.mapping(status, "used")
    for key, (section, resource) in QUOTA_KEYS.items():
        cap = parse_quantity(hard.get(key))
        if cap is None:
            continue
        left = cap - (parse_quantity(used.get(key)) or Fraction(0))
        need = own[section][resource] + ours[section].get(resource, Fraction(0))
        if need > left:

            def shown(amount: Fraction, resource: str = resource) -> str:
                return format_quantity(resource, max(amount, Fraction(0)))

            return LeftOut(
                f"ResourceQuota {_name(quota)} has {shown(left)} of {key} left; the master pod"
                f" needs {shown(own[section][resource])}, {shown(need)} with the finisher"
            )
    return None
