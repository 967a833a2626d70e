"""The webhook's cluster-wide configuration file (a mounted ConfigMap), parsed and checked.

Platform teams set defaults such as the TTL through Helm values or kustomize; they reach the
webhook as this document and take effect on the next admission, without a restart. A file
that does not parse is reported as a whole and the previous configuration stays in force.
"""

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypeVar

from app.core.durations import parse_duration
from app.core.inject import InjectionConfig
from app.core.settings import Strategy, WaitForScrape

_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
KNOWN_KEYS = (
    "ttl",
    "waitForScrape",
    "maxWait",
    "strategy",
    "finisherImage",
    "finisherImagePullPolicy",
)


_Choice = TypeVar("_Choice", WaitForScrape, Strategy)


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
    unknown = sorted(set(document) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} (known: {', '.join(KNOWN_KEYS)})")

    defaults, image = base.defaults, base.image
    if "ttl" in document:
        defaults = replace(defaults, ttl_seconds=_duration("ttl", document["ttl"]))
    if "maxWait" in document:
        defaults = replace(defaults, max_wait_seconds=_duration("maxWait", document["maxWait"]))
    if "waitForScrape" in document:
        chosen = _choice("waitForScrape", document["waitForScrape"], WaitForScrape)
        defaults = replace(defaults, wait_for_scrape=chosen)
    if "strategy" in document:
        defaults = replace(defaults, strategy=_choice("strategy", document["strategy"], Strategy))
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
    return InjectionConfig(defaults=defaults, image=image)


def _duration(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a duration such as 30s or 5m")
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None
    raise ConfigError(f"{key} must be a duration such as 30s or 5m")


def _choice(key: str, value: Any, choices: type[_Choice]) -> _Choice:
    text = str(value).lower() if isinstance(value, str | bool) else ""
    for choice in choices:
        if choice.value == text:
            return choice
    raise ConfigError(f"{key} must be one of {', '.join(c.value for c in choices)}")
