"""The settings that decide how one pod is finished, from cluster defaults and its annotations.

A bad annotation value must never fail admission: the default is used and the caller gets a
warning naming the annotation, which the webhook passes back to ``kubectl``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from app.core import names
from app.core.durations import format_duration, parse_duration

# The API server shows warnings to users and may truncate long ones; stay well under.
MAX_WARNING_LENGTH = 120


class WaitForScrape(StrEnum):
    """Whether the exporter waits for Prometheus to collect the final numbers."""

    AUTO = "auto"  # only if someone scraped the exporter during the test
    TRUE = "true"
    FALSE = "false"


class Strategy(StrEnum):
    """Who ends the exporter."""

    TERMINATOR = "terminator"  # the injected finisher container, inside the pod
    CONTROLLER = "controller"  # the controller, over the pod network


@dataclass(frozen=True)
class FinishSettings:
    """How one test pod is finished; also the cluster-wide defaults."""

    ttl_seconds: float = 30.0
    wait_for_scrape: WaitForScrape = WaitForScrape.AUTO
    max_wait_seconds: float = 300.0
    strategy: Strategy = Strategy.TERMINATOR

    def describe(self) -> dict[str, str]:
        """The settings as users write them, for the status annotation and logs."""
        return {
            "strategy": self.strategy.value,
            "ttl": format_duration(self.ttl_seconds),
            "waitForScrape": self.wait_for_scrape.value,
            "maxWait": format_duration(self.max_wait_seconds),
        }


def warning(message: str) -> str:
    """A warning clipped to what ``kubectl`` shows in full."""
    if len(message) <= MAX_WARNING_LENGTH:
        return message
    return message[: MAX_WARNING_LENGTH - 3] + "..."


def _shown(value: Any) -> str:
    if not isinstance(value, str):
        return "a non-string"
    return repr(value if len(value) <= 24 else value[:21] + "...")


def _rejected(annotation: str, value: Any, expected: str, default: str) -> str:
    return warning(f"{annotation}: {_shown(value)} is not {expected}; using the default {default}")


def _duration_from(
    annotations: Mapping[str, Any], annotation: str, default: float, warnings: list[str]
) -> float:
    if annotation not in annotations:
        return default
    value = annotations[annotation]
    try:
        if isinstance(value, str):
            return parse_duration(value)
    except ValueError:
        pass
    warnings.append(
        _rejected(annotation, value, "a duration like 45s or 2m", format_duration(default))
    )
    return default


_Choice = TypeVar("_Choice", WaitForScrape, Strategy)


def _choice_from(
    annotations: Mapping[str, Any], annotation: str, default: _Choice, warnings: list[str]
) -> _Choice:
    if annotation not in annotations:
        return default
    value = annotations[annotation]
    for choice in type(default):
        if isinstance(value, str) and value.strip().lower() == choice.value:
            return choice
    allowed = ", ".join(choice.value for choice in type(default))
    warnings.append(_rejected(annotation, value, f"one of {allowed}", default.value))
    return default


def resolve_settings(
    annotations: Mapping[str, Any], defaults: FinishSettings
) -> tuple[FinishSettings, list[str]]:
    """Apply a pod's annotations on top of the defaults.

    Returns:
        The effective settings and one warning per annotation that could not be used.
    """
    warnings: list[str] = []
    settings = FinishSettings(
        ttl_seconds=_duration_from(
            annotations, names.TTL_ANNOTATION, defaults.ttl_seconds, warnings
        ),
        wait_for_scrape=_choice_from(
            annotations, names.WAIT_FOR_SCRAPE_ANNOTATION, defaults.wait_for_scrape, warnings
        ),
        max_wait_seconds=_duration_from(
            annotations, names.MAX_WAIT_ANNOTATION, defaults.max_wait_seconds, warnings
        ),
        strategy=_choice_from(annotations, names.STRATEGY_ANNOTATION, defaults.strategy, warnings),
    )
    return settings, warnings
