"""The finisher's settings: what the webhook put in its environment, overridden by flags.

A bad value must never fail the test's pod (a non-zero exit of a regular container makes a
``restartPolicy: Never`` pod Failed, whatever Locust said). So a value from the environment,
which the webhook wrote, becomes a warning and the setting's default. Only flags are refused
(``strict_flags``, exit 2): the webhook passes no flags, so they come from a human trying the
finisher by hand, who is better told at once.
"""

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from app.core import env_names
from app.core import finisher_spec as spec
from app.core.durations import format_duration, parse_interval
from app.core.env_names import ENV_MASTER_START_TIMEOUT
from app.core.settings import (
    DEFAULT_SETTINGS,
    MAX_WAIT,
    TTL,
    WAIT_FOR_SCRAPE,
    FinishSettings,
    read_settings,
)
from app.finisher.faults import Fault, read_fault
from app.finisher.http import Endpoint

DEFAULT_EXPORTER_URL = "http://localhost:9646"
DEFAULT_LOCUST_URL = "http://localhost:8089"
DEFAULT_TERMINATION_LOG = spec.TERMINATION_LOG
DEFAULT_POLL_SECONDS = 2.0
# Long enough for kubelet to pull a big Locust image after ours has started, short enough
# that a master which never starts does not hold the pod for ever.
DEFAULT_MASTER_START_SECONDS = 600.0


class ConfigurationError(ValueError):
    """A flag is unusable: the only reason ``finish`` exits non-zero."""


@dataclass(frozen=True)
class FinisherConfig:
    """Everything the finisher reads from its flags and environment, read once here."""

    settings: FinishSettings
    exporter: Endpoint | None  # None: the master has no exporter (nothing to prime or end)
    locust: Endpoint
    exporter_sidecar: bool
    termination_log: Path
    master_pattern: re.Pattern[str] | None
    master_container: str
    exporter_container: str
    poll_seconds: float = DEFAULT_POLL_SECONDS
    wait_check_seconds: float = 0.5  # how soon a final scrape is seen once it completes
    master_start_seconds: float = DEFAULT_MASTER_START_SECONDS
    # Where Locust's artifacts are handed over (the controller's receiver); empty: nowhere.
    artifacts_url: str = ""
    # A fault the fault campaign asked for (app/finisher/faults.py); None in every real pod.
    fault: Fault | None = None
    # Where what the finisher learned outlives its container (app/finisher/state.py).
    state_dir: Path | None = None
    # Each bad value that was replaced by its default, for the log and the summary.
    warnings: tuple[str, ...] = field(default=())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The finisher's flags; each defaults to its env variable (see finisher_spec)."""
    for setting in (TTL, WAIT_FOR_SCRAPE, MAX_WAIT):
        parser.add_argument(
            f"--{setting.option}",
            help=f"{setting.description} (env {setting.env}, "
            f"default {setting.show(DEFAULT_SETTINGS)})",
        )
    parser.add_argument(
        "--exporter-url",
        help=f"the exporter, or {spec.EXPORTER_NONE!r} when the master has none "
        f"(env {env_names.ENV_EXPORTER_URL}, default {DEFAULT_EXPORTER_URL})",
    )
    parser.add_argument(
        "--locust-url",
        help=f"Locust's web UI (env {env_names.ENV_LOCUST_URL}, default {DEFAULT_LOCUST_URL})",
    )
    parser.add_argument(
        "--exporter-sidecar",
        action="store_const",
        const="true",
        help="the exporter is a native sidecar: do not quit it "
        f"(env {env_names.ENV_EXPORTER_SIDECAR})",
    )
    parser.add_argument(
        "--termination-log", help=f"where the summary goes (default {DEFAULT_TERMINATION_LOG})"
    )
    parser.add_argument(
        "--master-pattern",
        help="regex for the master's command line (default: how Locust itself is told to be "
        "a master: --master, LOCUST_MODE_MASTER, a config file)",
    )
    parser.add_argument("--poll-interval", help="how often to read Locust's stats (default 2s)")
    parser.add_argument(
        "--master-start-timeout",
        help=f"no master by then: end the exporter after the TTL (env {ENV_MASTER_START_TIMEOUT}, "
        f"default {format_duration(DEFAULT_MASTER_START_SECONDS)})",
    )


_Value = TypeVar("_Value")


@dataclass
class _Reader:
    """Reads each value once, from a flag or the env; decides what a bad one means."""

    args: argparse.Namespace
    env: Mapping[str, str]
    strict_flags: bool
    warnings: list[str] = field(default_factory=list)

    def bad(self, what: str, from_flag: bool, error: str, default: str) -> None:
        if from_flag and self.strict_flags:
            raise ConfigurationError(f"--{what}: {error}")
        self.warnings.append(f"{what}: {error}; using the default {default}")

    def value(
        self,
        option: str,
        variable: str | None,
        default: _Value,
        parse: Callable[[str], _Value],
        shown: str,
    ) -> _Value:
        flag = getattr(self.args, option.replace("-", "_"), None)
        text = flag if flag is not None else (self.env.get(variable) if variable else None)
        if text is None:
            return default
        try:
            return parse(text)
        except (ValueError, re.error) as error:
            where = option if flag is not None else f"{option} (env {variable})"
            self.bad(where, flag is not None, str(error), shown)
            return default

    def settings(self) -> FinishSettings:
        given: dict[str, str] = {}
        from_flag: set[str] = set()
        for setting in (TTL, WAIT_FOR_SCRAPE, MAX_WAIT):
            flag = getattr(self.args, setting.option.replace("-", "_"), None)
            if flag is not None:
                given[setting.option] = flag
                from_flag.add(setting.option)
            elif setting.env and setting.env in self.env:
                given[setting.option] = self.env[setting.env]
        settings, rejected = read_settings(given, lambda setting: setting.option)
        for bad in rejected:
            option = bad.setting.option
            where = option if option in from_flag else f"{option} (env {bad.setting.env})"
            self.bad(where, option in from_flag, str(bad.error), bad.setting.show(settings))
        return settings


def _exporter(text: str) -> Endpoint | None:
    if text.strip().lower() == spec.EXPORTER_NONE:
        return None
    return Endpoint.parse(text)


def _pattern(text: str) -> re.Pattern[str] | None:
    return re.compile(text) if text else None


def resolve(
    args: argparse.Namespace, env: Mapping[str, str] = os.environ, *, strict_flags: bool = False
) -> FinisherConfig:
    """Flags over env over defaults; every bad value is a warning and its default.

    Raises:
        ConfigurationError: only with ``strict_flags``, for a bad flag.
    """
    read = _Reader(args, env, strict_flags)
    settings = read.settings()
    default_exporter: Endpoint | None = Endpoint.parse(DEFAULT_EXPORTER_URL)
    exporter = read.value(
        "exporter-url",
        env_names.ENV_EXPORTER_URL,
        default_exporter,
        _exporter,
        DEFAULT_EXPORTER_URL,
    )
    locust = read.value(
        "locust-url",
        env_names.ENV_LOCUST_URL,
        Endpoint.parse(DEFAULT_LOCUST_URL),
        Endpoint.parse,
        DEFAULT_LOCUST_URL,
    )
    pattern = read.value("master-pattern", None, None, _pattern, "(Locust's own ways)")
    poll = read.value("poll-interval", None, DEFAULT_POLL_SECONDS, parse_interval, "2s")
    master_start = read.value(
        "master-start-timeout",
        ENV_MASTER_START_TIMEOUT,
        DEFAULT_MASTER_START_SECONDS,
        parse_interval,
        format_duration(DEFAULT_MASTER_START_SECONDS),
    )
    sidecar = read.value(
        "exporter-sidecar", env_names.ENV_EXPORTER_SIDECAR, False, _boolean, "false"
    )
    return FinisherConfig(
        settings=settings,
        exporter=exporter,
        locust=locust,
        exporter_sidecar=sidecar,
        termination_log=Path(args.termination_log or DEFAULT_TERMINATION_LOG),
        master_pattern=pattern,
        master_container=env.get(env_names.ENV_MASTER_CONTAINER, ""),
        exporter_container=env.get(env_names.ENV_EXPORTER_CONTAINER, ""),
        poll_seconds=poll,
        master_start_seconds=master_start,
        artifacts_url=env.get(env_names.ENV_REPORT_URL, ""),
        fault=read_fault(env),
        state_dir=Path(env[env_names.ENV_STATE_DIR]) if env.get(env_names.ENV_STATE_DIR) else None,
        warnings=tuple(read.warnings),
    )


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word not in ("true", "false"):
        raise ValueError(f"{text[:24]!r} is not true or false")
    return word == "true"
