"""``locust-finisher await-ready``: the finisher container's postStart hook.

The kubelet runs it inside the finisher's container, so its memory counts against the
container's 64 MiB beside the starting finisher. The call the webhook writes
(:data:`app.core.finisher_spec.AWAIT_READY_COMMAND`) is therefore answered without the
parser (:func:`hook_timeout`); only this module's top imports and :mod:`app.finisher.readiness`
are loaded for it. Anything else given to ``await-ready`` goes through the parser as usual.
"""

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from app.cli.common import Subparsers

COMMAND = "await-ready"
DEFAULT_TIMEOUT = 20.0


def register(commands: "Subparsers") -> None:
    """Add the subcommand."""
    from app.cli.common import duration

    parser = commands.add_parser(
        COMMAND,
        help="postStart hook: return once the finisher in this pod is watching",
        description="Wait until the finisher announces it is watching, so kubelet starts "
        "the Locust master only then. Always exits 0: a slow finisher must not kill the pod.",
    )
    parser.add_argument(
        "--timeout",
        type=duration,
        default=DEFAULT_TIMEOUT,
        help="give up after this long (default: 20s)",
    )
    parser.set_defaults(run=run)


def hook_timeout(arguments: Sequence[str]) -> float | None:
    """The timeout, when ``arguments`` are the hook's plain call; None for anything else.

    Plain: ``await-ready``, optionally with one ``--timeout`` that is a good duration. A bad
    one, a logging flag or ``--help`` is left to the parser, which says what it says.
    """
    if not arguments or arguments[0] != COMMAND:
        return None
    rest = list(arguments[1:])
    if not rest:
        return DEFAULT_TIMEOUT
    if len(rest) == 1 and rest[0].startswith("--timeout="):
        text = rest[0].removeprefix("--timeout=")
    elif len(rest) == 2 and rest[0] == "--timeout":
        text = rest[1]
    else:
        return None
    from app.core.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        return None


def await_finisher(timeout: float) -> int:
    """Wait; report a timeout on stderr but never fail the hook."""
    from app.finisher.readiness import await_ready

    if not await_ready(timeout):
        print(
            f"locust-finisher await-ready: finisher not ready after {timeout:g}s; "
            "letting the pod start anyway",
            file=sys.stderr,
        )
    return 0


def run(args: "argparse.Namespace") -> int:
    """The parsed command: as the plain call."""
    return await_finisher(args.timeout)
