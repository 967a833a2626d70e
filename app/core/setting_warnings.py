"""What the webhook could not use as given, in one typed form for every place that says it.

An admission warning reaches only the pod's creator: for a Job's pod that is the Job
controller, not a person. So each one is also kept in the status annotation, logged by the
webhook, and turned into an Event on the pod and its Job by the controller. They all come
from this one list, made where the settings and the pod are read (app/core/settings.py,
classify.py, inject.py), so each place says the same thing.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.core.setting_codecs import shown

# Bounds on what is written into (and read back from) the status annotation.
MAX_GIVEN = 64
MAX_FIELD = 200
MAX_WARNINGS = 32


class WarningReason(StrEnum):
    """Why the warning was given; also the reason of the controller's Event."""

    # A value that could not be used (bad, unknown, out of range, not applicable): the
    # setting's default, or nothing, was used instead.
    SETTING_IGNORED = "SettingIgnored"
    # Locust will serve no web UI the finisher can read: no numbers, no summary, no checks.
    NO_NUMBERS = "NoNumbers"


@dataclass(frozen=True, slots=True)
class SettingWarning:
    """One setting given on the pod that is not used as given."""

    reason: WarningReason
    setting: str  # as the user wrote it: an annotation, a flag, an environment variable
    given: str  # the value given, clipped; "" for a flag that takes none
    problem: str  # why it is not used as given
    instead: str  # what was used instead, or what to use

    @property
    def text(self) -> str:
        """The one line said in the admission warning, the webhook's log and the Event."""
        given = f"{shown(self.given)} " if self.given else ""
        return f"{self.setting}: {given}{self.problem}; {self.instead}"

    def encode(self) -> dict[str, str]:
        """The warning as the status annotation keeps it."""
        return {
            "reason": self.reason.value,
            "setting": self.setting,
            "given": self.given,
            "problem": self.problem,
            "instead": self.instead,
        }


def ignored(setting: str, given: str, problem: str, instead: str) -> SettingWarning:
    """A ``SettingIgnored`` warning, its given value clipped to what the status keeps."""
    return SettingWarning(
        WarningReason.SETTING_IGNORED, setting, given[:MAX_GIVEN], problem, instead
    )


def read_warnings(value: Any) -> tuple[SettingWarning, ...]:
    """The warnings a status annotation of any version holds; unusable entries are dropped.

    Versions before them wrote none; a later version's reason is not one this version can
    name an Event after, so it is dropped too.
    """
    if not isinstance(value, list):
        return ()
    found = []
    for entry in value[:MAX_WARNINGS]:
        warning = _read_one(entry)
        if warning is not None:
            found.append(warning)
    return tuple(found)


def _read_one(entry: Any) -> SettingWarning | None:
    if not isinstance(entry, Mapping):
        return None
    try:
        reason = WarningReason(str(entry.get("reason")))
    except ValueError:
        return None
    fields = [entry.get(key) for key in ("setting", "given", "problem", "instead")]
    if not all(isinstance(field, str) for field in fields):
        return None
    setting, given, problem, instead = (str(field)[:MAX_FIELD] for field in fields)
    if not setting:
        return None
    return SettingWarning(reason, setting, given[:MAX_GIVEN], problem, instead)
