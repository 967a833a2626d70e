"""What every subcommand shares: the bad-input error and the flags for finishing defaults."""

import argparse
from typing import Any, NoReturn, Protocol

from app.core.durations import parse_duration
from app.core.settings import FinishSettings, Strategy, WaitForScrape


class CliError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: message`` and exit 2."""
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


class Subparsers(Protocol):
    """The bit of argparse's private subparsers action that commands use."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """Add one subcommand."""
        ...


def duration(text: str) -> float:
    """Argparse type for durations such as ``45s`` or ``2m``."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_finish_defaults(parser: argparse.ArgumentParser) -> None:
    """Flags for the cluster-wide finishing defaults (overridable per pod by annotations)."""
    defaults = FinishSettings()
    parser.add_argument(
        "--ttl",
        type=duration,
        default=defaults.ttl_seconds,
        help="least time the exporter stays up after the master exits (default: 30s)",
    )
    parser.add_argument(
        "--wait-for-scrape",
        type=WaitForScrape,
        choices=list(WaitForScrape),
        default=defaults.wait_for_scrape,
        help="wait for Prometheus to collect the final numbers (default: auto)",
    )
    parser.add_argument(
        "--max-wait",
        type=duration,
        default=defaults.max_wait_seconds,
        help="longest wait for that final scrape after the master exits (default: 5m)",
    )
    parser.add_argument(
        "--strategy",
        type=Strategy,
        choices=list(Strategy),
        default=defaults.strategy,
        help="who ends the exporter: the finisher, or the controller (default: terminator)",
    )


def finish_defaults(args: argparse.Namespace) -> FinishSettings:
    """The defaults given by :func:`add_finish_defaults` flags."""
    return FinishSettings(
        ttl_seconds=args.ttl,
        wait_for_scrape=args.wait_for_scrape,
        max_wait_seconds=args.max_wait,
        strategy=args.strategy,
    )
