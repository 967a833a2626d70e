"""``locust-finisher finish``: the injected container's program.

Pods mutated by version 0.1 run it as ``locust-finisher terminator``; that name stays an
alias, so those pods keep working with a newer image.

It exits 0 whatever happens, because its exit code is part of the test pod's verdict. The
one exception is a bad flag, which gets exit 2 and one line: the webhook passes every
setting through the environment and never a flag, so flags come only from a human trying
the finisher by hand. A bad value in the environment is a warning in the log and the
summary, and the setting's default is used.
"""

import argparse

from app.cli.common import CliError, Subparsers


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    from app.finisher.config import add_arguments

    parser = commands.add_parser(
        "finish",
        aliases=["terminator"],
        help="run inside a Locust master pod: end the exporter after the test",
        description="Watch the Locust master in this pod; after it exits, keep the exporter "
        "up for the TTL and the final scrape, end it, and write a JSON summary to the "
        "termination log. Settings come from the env the webhook wrote; flags override. "
        "Always exits 0, except for a bad flag (2); a bad env value is a warning.",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the finisher: 0, or 2 for a bad flag."""
    from app.finisher.config import ConfigurationError, resolve
    from app.finisher.supervisor import supervise

    try:
        config = resolve(args, strict_flags=True)
    except ConfigurationError as error:
        raise CliError(str(error)) from None
    return supervise(config)
