"""The webhook's cluster-wide configuration (a mounted ConfigMap): its shape, parsed and checked.

Platform teams set defaults such as the TTL through Helm values or kustomize; they reach the
webhook as this document and take effect on the next admission, without a restart. A file
that does not parse is reported as a whole and the previous configuration stays in force.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Final

from app.core.artifacts import receiver_url
from app.core.durations import format_duration, parse_duration
from app.core.finisher_spec import FinisherImage, FinisherResources
from app.core.history import DEFAULT_EXPIRE_SECONDS, DEFAULT_KEEP, MOST_KEPT
from app.core.quantities import QUANTITY, parse_quantity
from app.core.settings import (
    SETTINGS,
    TOPICS,
    FinishSettings,
    Setting,
    read_settings,
)

_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
KNOWN_KEYS = (
    *(setting.key for setting in SETTINGS),
    "finisherImage",
    "finisherImagePullPolicy",
    "finisherImagePullSecrets",
    "finisherResources",
    "checks",
    "retention",
    "reportUrl",
    "notifications",
    "history",
)
# The sections that are mappings of settings, each setting under its key after "<section>.":
# checks (failRatio, p95, ...) and retention (passed, failed).
SECTIONS: dict[str, tuple[Setting, ...]] = {
    topic: settings for topic, settings in TOPICS.items() if topic != "finishing"
}

# A Secret's name is a DNS-1123 subdomain; anything else the API server refuses on the pod.
_SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_RESOURCE_SECTIONS = ("requests", "limits")
_RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")


@dataclass(frozen=True)
class HistoryConfig:
    """What the controller keeps of each test's runs (app/core/history.py), and how long."""

    keep: int = DEFAULT_KEEP
    # A test not run for this long has its history deleted; None: never.
    expire_after_seconds: float | None = DEFAULT_EXPIRE_SECONDS


_HISTORY_KEYS = ("keep", "expireAfter")
_NEVER = "never"
_DAY = 24 * 3600.0
# Longest expireAfter in days: ten years is "never" in all but name.
_MOST_DAYS = 3650


def expire_after(value: object) -> float | None:
    """``history.expireAfter``: days (``30d``), a duration (``12h``), or ``never`` (None).

    Raises:
        ConfigError: for anything else.
    """
    expected = f"history.expireAfter must be days like 30d, a duration like 12h, or {_NEVER}"
    if not isinstance(value, str) or len(value) > 16:
        raise ConfigError(expected)
    text = value.strip().lower()
    if text == _NEVER:
        return None
    days = text.removesuffix("d")
    if days != text:
        if not (days.isascii() and days.isdigit() and 0 < int(days) <= _MOST_DAYS):
            raise ConfigError(expected)
        return int(days) * _DAY
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ConfigError(expected) from None
    if seconds <= 0:
        raise ConfigError(expected)
    return seconds


def show_expire_after(seconds: float | None) -> str:
    """``history.expireAfter`` as users write it (:func:`expire_after` reads it back)."""
    if seconds is None:
        return _NEVER
    if seconds % _DAY == 0:
        return f"{int(seconds // _DAY)}d"
    return format_duration(seconds)


def _history(value: object, base: HistoryConfig) -> HistoryConfig:
    if value is None:
        return base
    if not isinstance(value, Mapping):
        raise ConfigError("history must be a mapping of keep, expireAfter")
    _only_known(value, _HISTORY_KEYS, "history: ")
    keep = value.get("keep", base.keep)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MOST_KEPT:
        raise ConfigError(f"history.keep must be a whole number from 1 to {MOST_KEPT}")
    expires = base.expire_after_seconds
    if "expireAfter" in value:
        expires = expire_after(value["expireAfter"])
    return HistoryConfig(keep=keep, expire_after_seconds=expires)


@dataclass(frozen=True)
class InjectionConfig:
    """Cluster-wide webhook configuration: default settings and the finisher container."""

    defaults: FinishSettings = field(default_factory=FinishSettings)
    image: FinisherImage = field(default_factory=FinisherImage)
    resources: FinisherResources = field(default_factory=FinisherResources)
    # Where finishers hand Locust's report to the controller; empty: they keep none.
    report_url: str = field(default_factory=lambda: receiver_url("locust-finisher"))
    # The API server takes container restart rules (1.35+, where they are on by default): the
    # kubelet then restarts a finisher killed as a whole (a cgroup v2 OOM kills every process
    # of a container) instead of failing the pod. Found out by the webhook, not configured.
    restart_rules: bool = False
    # The Secret, in the installation's namespace, whose ``url`` receives every test's verdict
    # (a namespace's own locust-finisher.io/notify-secret wins); empty: none. Read by the
    # controller, never by the webhook.
    notify_secret: str = ""
    # Read by the controller, not the webhook.
    history: HistoryConfig = field(default_factory=HistoryConfig)


class ConfigError(ValueError):
    """The configuration document is unusable; the message names the key."""


def parse_cluster_config(document: Any, base: InjectionConfig) -> InjectionConfig:
    """Apply a configuration document (keys as in :data:`KNOWN_KEYS`) on top of ``base``.

    Raises:
        ConfigError: naming the first key that is unknown or has a bad value.
    """
    if document is None:
        return base
    if not isinstance(document, Mapping):
        raise ConfigError("the configuration must be a mapping of keys to values")
    _only_known(document, KNOWN_KEYS)

    values = dict(document)
    for section, settings in SECTIONS.items():
        values.update(_section(section, settings, document.get(section)))
    defaults, rejected = read_settings(values, lambda setting: setting.key, base.defaults)
    if rejected:
        raise ConfigError(f"{rejected[0].name}: {rejected[0].error}")
    image = base.image
    if "finisherImage" in document:
        value = document["finisherImage"]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError("finisherImage must be a non-empty image reference")
        image = replace(image, image=value.strip())
    if "finisherImagePullPolicy" in document:
        value = document["finisherImagePullPolicy"]
        if value not in _PULL_POLICIES:
            raise ConfigError(f"finisherImagePullPolicy must be one of {', '.join(_PULL_POLICIES)}")
        image = replace(image, pull_policy=value)
    if "finisherImagePullSecrets" in document:
        image = replace(image, pull_secrets=_pull_secrets(document["finisherImagePullSecrets"]))
    resources = base.resources
    if "finisherResources" in document:
        resources = _resources(document["finisherResources"], resources)
    report = base.report_url
    if "reportUrl" in document:
        report = _report_url(document["reportUrl"])
    notify_secret = base.notify_secret
    if "notifications" in document:
        notify_secret = _notifications(document["notifications"])
    history = _history(document.get("history"), base.history)
    return replace(
        base,
        defaults=defaults,
        image=image,
        resources=resources,
        report_url=report,
        notify_secret=notify_secret,
        history=history,
    )


def _notifications(value: object) -> str:
    """``notifications: {secret: NAME}``: the cluster's notification Secret ("" or none: none)."""
    if value is None:
        return ""
    if not isinstance(value, Mapping) or set(value) - {"secret"}:
        raise ConfigError("notifications must be a mapping with the key secret (a Secret's name)")
    name = value.get("secret") or ""
    if not isinstance(name, str) or (name and not secret_name(name)):
        raise ConfigError(f"notifications.secret: {name!r} is not a Secret's name")
    return name


def secret_name(name: str) -> bool:
    """Whether ``name`` may name a Secret (a DNS-1123 subdomain)."""
    return len(name) <= 253 and _SECRET_NAME.fullmatch(name) is not None


def _only_known(value: Mapping[Any, Any], keys: Sequence[str], where: str = "") -> None:
    """Refuse the first key of ``value`` that is not one of ``keys``, naming ``where``."""
    # key=str: YAML keys may be numbers too, and a refusal must never be a TypeError.
    unknown = sorted(set(value) - set(keys), key=str)
    if unknown:
        raise ConfigError(f"{where}unknown key {unknown[0]!r} (known: {', '.join(keys)})")


def _report_url(value: object) -> str:
    """Where finishers hand Locust's report: an http:// URL, or empty to keep no report."""
    if value is None or value == "":
        return ""
    if (
        not isinstance(value, str)
        or not value.startswith("http://")
        or any(c.isspace() for c in value)
    ):
        raise ConfigError("reportUrl must be an http:// URL (the controller's), or empty")
    return value


def _section(section: str, settings: tuple[Setting, ...], value: object) -> dict[str, Any]:
    """A section's mapping under the keys its settings go by (``checks.p95``)."""
    if value is None:  # `checks:` with nothing under it
        return {}
    keys = [setting.key.removeprefix(f"{section}.") for setting in settings]
    if not isinstance(value, Mapping):
        raise ConfigError(f"{section} must be a mapping of {', '.join(keys)}")
    _only_known(value, keys, f"{section}: ")
    return {f"{section}.{key}": setting for key, setting in value.items()}


def _pull_secrets(value: object) -> tuple[str, ...]:
    """Secret names, each once, in the order given."""
    expected = "finisherImagePullSecrets must be a list of Secret names"
    if not isinstance(value, list):
        raise ConfigError(expected)
    for name in value:
        if not isinstance(name, str) or not secret_name(name):
            raise ConfigError(f"{expected}; {name!r} is not one")
    return tuple(dict.fromkeys(value))


def _resources(value: object, base: FinisherResources) -> FinisherResources:
    """``requests`` and ``limits``; a section given replaces the default one wholly.

    A request above its limit would make the API server refuse every mutated pod (the
    webhook's failurePolicy cannot help then), so it is refused here, where it is one line in
    the webhook's log and the previous configuration stays in force.
    """
    key = "finisherResources"
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a mapping with requests and/or limits")
    _only_known(value, _RESOURCE_SECTIONS, f"{key}: ")
    sections = {"requests": base.requests, "limits": base.limits}
    for section in _RESOURCE_SECTIONS:
        if section in value:
            sections[section] = _resource_list(f"{key}.{section}", value[section])
    requests, limits = sections["requests"], sections["limits"]
    for name in sorted(set(requests) & set(limits)):
        if _amount(requests[name]) > _amount(limits[name]):
            raise ConfigError(
                f"{key}: the {name} request {requests[name]} is above its limit {limits[name]}"
            )
    return FinisherResources(requests=requests, limits=limits)


def _resource_list(where: str, value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping of cpu, memory, ephemeral-storage")
    amounts: dict[str, str] = {}
    for name, amount in value.items():
        if name not in _RESOURCE_NAMES:
            raise ConfigError(f"{where}: unknown resource {name!r} (known: cpu, memory, ...)")
        # YAML reads `cpu: 1` and `cpu: 0.5` as numbers; they mean the same quantity.
        text = str(amount) if isinstance(amount, int | float) else amount
        if isinstance(amount, bool) or not isinstance(text, str) or not QUANTITY.fullmatch(text):
            raise ConfigError(f"{where}.{name}: {amount!r} is not a quantity like 100m or 64Mi")
        amounts[name] = text
    return amounts


def _amount(text: str) -> Fraction:
    """The exact amount of a quantity :func:`_resource_list` has already checked."""
    amount = parse_quantity(text)
    if amount is None:
        raise ConfigError(f"{text!r} is not a quantity")
    return amount


# The first Kubernetes whose API server takes container restart rules by default (beta).
RESTART_RULES_SINCE: Final = (1, 35)


def takes_restart_rules(version: Mapping[str, Any]) -> bool:
    """Whether an API server of this ``/version`` takes container restart rules.

    Older ones refuse a regular container's ``restartPolicy`` (1.28 to 1.33) or drop it; a
    minor such as ``"35+"`` is a managed cluster's own build of 1.35.
    """
    try:
        major = int(str(version.get("major", "")).rstrip("+"))
        minor = int(str(version.get("minor", "")).rstrip("+"))
    except ValueError:
        return False
    return (major, minor) >= RESTART_RULES_SINCE
