"""The CLI's argument parser: every subcommand, each registered by its own module.

Apart from :mod:`app.cli.main`, so that the finisher's postStart hook, which needs none of
it, does not import it (see there).
"""

import argparse
from collections.abc import Sequence
from typing import Any

from app.cli import (
    artifacts_cmd,
    await_ready_cmd,
    certs_cmd,
    check_cmd,
    compare_cmd,
    controller_cmd,
    finish_cmd,
    history_cmd,
    mutate_cmd,
    wait_cmd,
    webhook_cmd,
)
from app.cli.common import OneLineParser, Subparsers
from app.logs import LOG_FORMATS, LOG_LEVELS

_COMMANDS = (
    webhook_cmd,
    mutate_cmd,
    certs_cmd,
    finish_cmd,
    await_ready_cmd,
    controller_cmd,
    wait_cmd,
    compare_cmd,
    artifacts_cmd,
    check_cmd,
    history_cmd,
)


class _ShowVersion(argparse.Action):
    """argparse's ``version`` action, reading the version only when asked.

    The finisher runs through this module for as long as its test pod lives; it need not
    load importlib.metadata (megabytes) for a flag it is never given.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from app import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


def build_parser() -> OneLineParser:
    """The argument parser for every subcommand."""
    parser = OneLineParser(
        prog="locust-finisher",
        description="Make Locust master pods finish on their own, keep the final numbers in "
        "Prometheus, and tell CI whether the test passed.",
    )
    parser.add_argument(
        "--version", action=_ShowVersion, help="show program's version number and exit"
    )
    _add_logging_flags(parser, defaults=True)
    # The same flags after the subcommand, where manifests put a command's arguments.
    logging_flags = argparse.ArgumentParser(add_help=False)
    _add_logging_flags(logging_flags, defaults=False)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    for command in _COMMANDS:
        command.register(_WithParents(commands, logging_flags))
    return parser


def _add_logging_flags(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    parser.add_argument(
        "--log-level",
        default="info" if defaults else argparse.SUPPRESS,
        choices=LOG_LEVELS,
        help="log verbosity (default: info)",
    )
    parser.add_argument(
        "--log-format",
        default="text" if defaults else argparse.SUPPRESS,
        choices=LOG_FORMATS,
        help="log lines as text or as JSON objects (default: text)",
    )


class _WithParents:
    """Adds shared flags to every subcommand's parser."""

    def __init__(self, commands: Subparsers, *parents: argparse.ArgumentParser) -> None:
        self.commands = commands
        self.parents = list(parents)

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """Add one subcommand, with the shared flags."""
        return self.commands.add_parser(name, parents=self.parents, **kwargs)
