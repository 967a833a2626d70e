"""The finisher's settings: what the webhook put in its environment, overridden by flags."""

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.core import finisher_spec as spec
from app.core.durations import parse_duration
from app.core.settings import FinishSettings, WaitForScrape
from app.terminator.http import Endpoint


class ConfigurationError(ValueError):
    """Our own configuration is unusable: the only reason the finisher exits non-zero."""


@dataclass(frozen=True)
class TerminatorConfig:
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
    """The terminator's flags; each defaults to its env variable (see finisher_spec)."""
    parser.add_argument(
        "--ttl",
        help=f"least time the exporter outlives the master (env {spec.ENV_TTL}, default 30s)",
    )
    parser.add_argument(
        "--wait-for-scrape",
        choices=[w.value for w in WaitForScrape],
        help=f"wait for Prometheus's final scrape (env {spec.ENV_WAIT_FOR_SCRAPE}, default auto)",
    )
    parser.add_argument(
        "--max-wait", help=f"longest wait for that scrape (env {spec.ENV_MAX_WAIT}, default 5m)"
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


def resolve(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> TerminatorConfig:
    """Flags over env over defaults.

    Raises:
        ConfigurationError: naming the setting that is wrong.
    """
    defaults = FinishSettings()

    def pick(flag: str | None, variable: str, default: str) -> str:
        return flag if flag is not None else env.get(variable, default)

    wait_value = pick(
        args.wait_for_scrape, spec.ENV_WAIT_FOR_SCRAPE, defaults.wait_for_scrape.value
    )
    try:
        wait = WaitForScrape(wait_value.strip().lower())
    except ValueError:
        raise ConfigurationError(
            f"wait-for-scrape: {wait_value!r} is not auto, true or false"
        ) from None
    settings = FinishSettings(
        ttl_seconds=_duration(pick(args.ttl, spec.ENV_TTL, "30s"), "ttl"),
        wait_for_scrape=wait,
        max_wait_seconds=_duration(pick(args.max_wait, spec.ENV_MAX_WAIT, "5m"), "max-wait"),
    )
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
    return TerminatorConfig(
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
