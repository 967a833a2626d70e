"""``locust-finisher await-ready``: the finisher container's postStart hook."""

import argparse
import sys

from app.cli.common import Subparsers, duration


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "await-ready",
        help="postStart hook: return once the finisher in this pod is watching",
        description="Wait until the finisher announces it is watching, so kubelet starts "
        "the Locust master only then. Always exits 0: a slow finisher must not kill the pod.",
    )
    parser.add_argument(
        "--timeout", type=duration, default=20.0, help="give up after this long (default: 20s)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Wait; report a timeout on stderr but never fail the hook."""
    from app.finisher.readiness import await_ready

    if not await_ready(args.timeout):
        print(
            f"locust-finisher await-ready: finisher not ready after {args.timeout:g}s; "
            "letting the pod start anyway",
            file=sys.stderr,
        )
    return 0
