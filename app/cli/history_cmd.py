"""``locust-finisher history``: a test's last runs, as the controller keeps them in the cluster.

Exit 0 with the runs (a table, or ``-o json``); also 0 when no run is kept yet (a test's
first run in CI has none, and that is no error): the table is then one line on stderr, the
JSON an empty ``runs`` list. Exit 2 (one line on stderr) when the history cannot be read.
"""

import argparse
import sys

from app.cli.common import CliError, Subparsers, add_cluster_arguments
from app.core.history import MOST_KEPT
from app.core.run_metadata import MAX_NAME


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MOST_KEPT):
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a number from 1 to {MOST_KEPT}")
    return int(text)


def _test(text: str) -> str:
    if not text or len(text) > MAX_NAME or not text.isprintable():
        raise argparse.ArgumentTypeError(f"a test's name is 1 to {MAX_NAME} printable characters")
    return text


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "history",
        help="a test's last runs as the controller keeps them: when, result, numbers",
        description="Show the runs the controller keeps of a test (newest first): when, the "
        "result and its reason, requests, fail %%, p95, rps, users and revision. The test is "
        "the LocustTest's or CronJob's name, else the Job's (or the pod's, without a Job). "
        "Exit 0, also when no run is kept yet; 2 when the history cannot be read.",
    )
    parser.add_argument(
        "--test", type=_test, required=True, help="the test's name (a LocustTest's, a Job's)"
    )
    add_cluster_arguments(parser, "the test's namespace")
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="a table, or one JSON object: namespace, test, counts (every run recorded, by "
        "result) and runs (newest first) (default: text)",
    )
    parser.add_argument(
        "--limit", type=_limit, metavar="N", help=f"the N newest runs only (1-{MOST_KEPT})"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read the test's history and print it; 0, or CliError (exit 2)."""
    import asyncio

    from app.core.history_view import history_document, history_table, newest_first
    from app.kube.client import READER_LIMITS, ConfigurationMissingError, KubeClient
    from app.waiting.history_read import HistoryReadError, KeptHistory, read_kept_history

    async def read() -> KeptHistory:
        try:
            client = await KubeClient.connect(args.kubeconfig, args.context, READER_LIMITS)
        except ConfigurationMissingError as error:
            raise CliError(str(error)) from None
        try:
            return await read_kept_history(client, args.namespace or client.namespace, args.test)
        except HistoryReadError as error:
            raise CliError(str(error)) from None
        finally:
            await client.close()

    kept = asyncio.run(read())
    runs = newest_first(kept.entries, args.limit)
    if args.output == "json":
        print(history_document(kept.namespace, kept.test, runs, kept.counts), end="")
    elif runs:
        print(history_table(runs), end="")
    if not runs:
        print(f"no runs kept for test {kept.test} in {kept.namespace}", file=sys.stderr)
    return 0
