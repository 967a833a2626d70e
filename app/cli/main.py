"""``locust-finisher``: one command for every piece (webhook, terminator, controller) and tool.

Each subcommand lives in its own module and imports its heavy dependencies only when it
runs, so the finisher inside every test pod does not pay for FastAPI or the Kubernetes
client.
"""

import logging
import sys
from collections.abc import Sequence

from app import __version__
from app.cli import (
    await_ready_cmd,
    certs_cmd,
    controller_cmd,
    mutate_cmd,
    terminator_cmd,
    wait_cmd,
    webhook_cmd,
)
from app.cli.common import CliError, OneLineParser

_COMMANDS = (
    webhook_cmd,
    mutate_cmd,
    certs_cmd,
    terminator_cmd,
    await_ready_cmd,
    controller_cmd,
    wait_cmd,
)


def build_parser() -> OneLineParser:
    """The argument parser for every subcommand."""
    parser = OneLineParser(
        prog="locust-finisher",
        description="Make Locust master pods finish on their own, keep the final numbers in "
        "Prometheus, and tell CI whether the test passed.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default: info)",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    for command in _COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; exit 2 with a one-line message on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.run(args)
    except CliError as error:
        print(f"locust-finisher {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
