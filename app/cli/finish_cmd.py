"""``locust-finisher finish``: the injected container's program.

Pods mutated by version 0.1 run it as ``locust-finisher terminator``; that name stays an
alias, so those pods keep working with a newer image.
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
        "termination log. Settings come from the env the webhook wrote; flags override.",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the finisher; 2 only for a configuration error of ours."""
    from app.finisher.config import ConfigurationError, resolve
    from app.finisher.run import run_finisher

    try:
        config = resolve(args)
    except ConfigurationError as error:
        raise CliError(str(error)) from None
    return run_finisher(config)
