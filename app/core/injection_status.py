"""The status annotation: what the webhook decided for a pod, with one writer and one reader.

The webhook writes it once, at admission; the controller, ``wait`` and a second webhook pass
read it. Its presence marks a pod as ours, and it carries what the others cannot work out
from the pod alone (the effective settings, which containers are the master and the
exporter, their ports). Pods live longer than a version of ours, so the reader takes what
any version wrote: a missing or unusable field reads as its default.

A master without an exporter is written ``"exporterContainer": null``, with no exporter
sidecar or port: versions before it read that as an exporter that never runs, so they
never try to end it either.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from app.core import names
from app.core.setting_warnings import SettingWarning, read_warnings
from app.core.settings import DEFAULT_SETTINGS, FinishSettings, read_settings


class Fitting(StrEnum):
    """How the finisher was fitted into the namespace's limits (app/core/fitting.py)."""

    AS_CONFIGURED = ""
    RESIZED = "resized"
    LEFT_OUT = "left-out"


# A reason is ours, but pods outlive versions: read back no more than we ever write.
_MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class InjectionStatus:
    """The webhook's record on one pod."""

    settings: FinishSettings
    master_container: str
    exporter_container: str | None  # None: the master has no exporter
    exporter_sidecar: bool
    exporter_port: int = names.EXPORTER_DEFAULT_PORT
    locust_web_port: int = names.LOCUST_DEFAULT_WEB_PORT
    injected: tuple[str, ...] = ()
    version: str = ""
    # Said in the status and, by the controller, in an Event: what a LimitRange or quota
    # made us change, or why the finisher was left out.
    fitting: Fitting = Fitting.AS_CONFIGURED
    fitting_reason: str = ""
    # What on the pod was not used as given (the admission warnings), said again by the
    # controller in Events: the pod's creator (a Job controller) is rarely a person.
    warnings: tuple[SettingWarning, ...] = ()

    def encode(self) -> str:
        """The annotation's value: compact JSON, keys in a stable order."""
        settings = self.settings.describe()
        return orjson.dumps(
            {
                "version": self.version,
                # The strategy first, as every version wrote it.
                "strategy": settings.pop("strategy"),
                **settings,
                "masterContainer": self.master_container,
                "exporterContainer": self.exporter_container,
                **(
                    {"exporterSidecar": self.exporter_sidecar, "exporterPort": self.exporter_port}
                    if self.exporter_container is not None
                    else {}
                ),
                "locustWebPort": self.locust_web_port,
                "injected": list(self.injected),
                **(
                    {"fitting": self.fitting.value, "fittingReason": self.fitting_reason}
                    if self.fitting is not Fitting.AS_CONFIGURED
                    else {}
                ),
                # Only when there are any, so a pod without is written as before them.
                **(
                    {"warnings": [warning.encode() for warning in self.warnings]}
                    if self.warnings
                    else {}
                ),
            }
        ).decode()


def _port(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    return default


def read_status(annotations: Mapping[str, Any]) -> InjectionStatus | None:
    """The status a webhook of any version wrote on a pod; None if it carries none."""
    text = annotations.get(names.STATUS_ANNOTATION)
    if not isinstance(text, str):
        return None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # nested past the parser's depth: not ours either
        return None
    if not isinstance(document, dict):
        return None
    # A setting this version cannot read is the default: the pod was admitted long ago.
    settings, _ = read_settings(document, lambda setting: setting.key, DEFAULT_SETTINGS)
    injected = document.get("injected")
    return InjectionStatus(
        settings=settings,
        master_container=_text(document.get("masterContainer")),
        # Every version that wrote a name wrote a real one: none at all is no exporter.
        exporter_container=_text(document.get("exporterContainer")) or None,
        exporter_sidecar=document.get("exporterSidecar") is True,
        exporter_port=_port(document.get("exporterPort"), names.EXPORTER_DEFAULT_PORT),
        locust_web_port=_port(document.get("locustWebPort"), names.LOCUST_DEFAULT_WEB_PORT),
        injected=tuple(i for i in injected if isinstance(i, str))
        if isinstance(injected, list)
        else (),
        version=_text(document.get("version")),
        fitting=_fitting(document.get("fitting")),
        fitting_reason=_text(document.get("fittingReason"))[:_MAX_REASON],
        warnings=read_warnings(document.get("warnings")),
    )


def _fitting(value: Any) -> Fitting:
    try:
        return Fitting(value) if isinstance(value, str) else Fitting.AS_CONFIGURED
    except ValueError:  # a later version's outcome: nothing this one can say about it
        return Fitting.AS_CONFIGURED


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
