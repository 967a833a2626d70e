"""The finisher's settings: what the webhook put in its environment, overridden by flags."""

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.core import finisher_spec as spec
from app.core.durations import parse_duration
from app.core.settings import (
    DEFAULT_SETTINGS,
    MAX_WAIT,
    TTL,
    WAIT_FOR_SCRAPE,
    FinishSettings,
    read_settings,
)
from app.finisher.http import Endpoint


class ConfigurationError(ValueError):
    """Our own configuration is unusable: the only reason the finisher exits non-zero."""


@dataclass(frozen=True)
class FinisherConfig:
    """Everything the finisher needs to know."""

    settings: FinishSettings
    exporter: Endpoint
    locust: Endpoint
    exporter_sidecar: bool
    termination_log: Path
    master_pattern: re.Pattern[str] | None
    master_container: str
    exporter_container: str
    poll_seconds: float = 2.0
    wait_check_seconds: float = 1.0


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
        help=f"the exporter (env {spec.ENV_EXPORTER_URL}, default http://localhost:9646)",
    )
    parser.add_argument(
        "--locust-url",
        help=f"Locust's web UI (env {spec.ENV_LOCUST_URL}, default http://localhost:8089)",
    )
    parser.add_argument(
        "--exporter-sidecar",
        action="store_const",
        const="true",
        help=f"the exporter is a native sidecar: do not quit it (env {spec.ENV_EXPORTER_SIDECAR})",
    )
    parser.add_argument(
        "--termination-log", help="where the summary goes (default /dev/termination-log)"
    )
    parser.add_argument(
        "--master-pattern",
        help="regex for the master's command line (default: has --master, not --worker)",
    )
    parser.add_argument("--poll-interval", help="how often to read Locust's stats (default 2s)")


def _duration(value: str, what: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise ConfigurationError(f"{what}: {error}") from None


def _settings(args: argparse.Namespace, env: Mapping[str, str]) -> FinishSettings:
    given = dict(env)
    for setting in (TTL, WAIT_FOR_SCRAPE, MAX_WAIT):
        flag = getattr(args, setting.option.replace("-", "_"))
        if flag is not None and setting.env:
            given[setting.env] = flag
    settings, rejected = read_settings(given, lambda setting: setting.env)
    if rejected:
        raise ConfigurationError(f"{rejected[0].setting.option}: {rejected[0].error}")
    return settings


def resolve(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> FinisherConfig:
    """Flags over env over defaults.

    Raises:
        ConfigurationError: naming the setting that is wrong.
    """

    def pick(flag: str | None, variable: str, default: str) -> str:
        return flag if flag is not None else env.get(variable, default)

    settings = _settings(args, env)
    try:
        exporter = Endpoint.parse(
            pick(args.exporter_url, spec.ENV_EXPORTER_URL, "http://localhost:9646")
        )
        locust = Endpoint.parse(pick(args.locust_url, spec.ENV_LOCUST_URL, "http://localhost:8089"))
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    try:
        pattern = re.compile(args.master_pattern) if args.master_pattern else None
    except re.error as error:
        raise ConfigurationError(f"master-pattern: {error}") from None
    poll = _duration(args.poll_interval or "2s", "poll-interval")
    if poll <= 0:
        raise ConfigurationError("poll-interval must be positive")
    sidecar = pick(args.exporter_sidecar, spec.ENV_EXPORTER_SIDECAR, "false").strip().lower()
    return FinisherConfig(
        settings=settings,
        exporter=exporter,
        locust=locust,
        exporter_sidecar=sidecar == "true",
        termination_log=Path(args.termination_log or "/dev/termination-log"),
        master_pattern=pattern,
        master_container=env.get(spec.ENV_MASTER_CONTAINER, ""),
        exporter_container=env.get(spec.ENV_EXPORTER_CONTAINER, ""),
        poll_seconds=poll,
    )
