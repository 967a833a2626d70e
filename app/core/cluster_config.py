"""The webhook's cluster-wide configuration file (a mounted ConfigMap), parsed and checked.

Platform teams set defaults such as the TTL through Helm values or kustomize; they reach the
webhook as this document and take effect on the next admission, without a restart. A file
that does not parse is reported as a whole and the previous configuration stays in force.
"""

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from app.core.inject import InjectionConfig
from app.core.settings import SETTINGS, read_settings

_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
KNOWN_KEYS = (
    *(setting.key for setting in SETTINGS),
    "finisherImage",
    "finisherImagePullPolicy",
)


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

    defaults, rejected = read_settings(document, lambda setting: setting.key, base.defaults)
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
    return InjectionConfig(defaults=defaults, image=image)
