"""``locust-finisher``: one command for every piece (webhook, finisher, controller) and tool.

Each subcommand lives in its own module and imports its heavy dependencies only when it
runs, so the finisher inside every test pod does not pay for FastAPI or the Kubernetes
client. This module imports nothing of its own until :func:`main` knows the command: the
finisher's postStart hook (``await-ready --timeout 20``) runs inside the finisher's container,
beside the finisher and within the same 64 MiB, and needs no parser, only
:mod:`app.finisher.readiness`, which costs it half the memory the whole CLI would.
"""

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.cli.common import OneLineParser


def build_parser() -> "OneLineParser":
    """The argument parser for every subcommand."""
    from app.cli.parser import build_parser as build

    return build()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; exit 2 with a one-line message on bad input."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    from app.cli.await_ready_cmd import hook_timeout

    timeout = hook_timeout(arguments)
    if timeout is not None:
        from app.cli.await_ready_cmd import await_finisher

        return await_finisher(timeout)
    from app.cli.common import CliError
    from app.logs import setup_logging

    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:
        _complete(parser)
    args = parser.parse_args(arguments)
    setup_logging(args.log_level, args.log_format)
    try:
        code: int = args.run(args)
    except CliError as error:
        print(f"locust-finisher {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


def _complete(parser: "OneLineParser") -> None:
    """Answer the shell's completion request and exit (argcomplete's protocol).

    Only a shell asking for completions (``_ARGCOMPLETE`` set by the script that
    ``register-python-argcomplete locust-finisher`` prints) imports argcomplete; an install
    without it, such as the finisher image, then simply offers none.
    """
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


if __name__ == "__main__":
    sys.exit(main())
