"""``locust-finisher wait``: block CI until a load test ends; exit 0 passed, 1 failed, else 2.

Anything that is not Locust's verdict (bad configuration, no access, a test that cannot
start, the timeout, an output file that cannot be written) is one line on stderr and exit 2:
CI must never read it as "failed". The outputs asked for (``-o json``, ``--junit``,
``--markdown``, the step summary) then still say so, with verdict ``error`` and that line, so
CI has something to show.
"""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.kube.client import KubeClient
    from app.waiting.follow import Rejudge

from app.cli.common import (
    CliError,
    Subparsers,
    add_relative_check_flags,
    add_test_arguments,
    duration,
    master_job,
    positive_duration,
    relative_check_flags,
)


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "wait",
        help="follow a load test from CI: progress, then the summary; exit 0/1/2",
        description="Follow a Locust test until it ends. Exit 0 when it passed, 1 when it "
        "failed, 2 on timeout or any error (one line on stderr saying why). Works with or "
        "without the controller installed.",
    )
    add_test_arguments(parser)
    parser.add_argument(
        "--timeout", type=duration, default=1800.0, help="give up after this long (default 30m)"
    )
    parser.add_argument(
        "--interval", type=positive_duration, default=2.0, help="how often to look (default 2s)"
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="the verdict on stdout as text, or as one JSON object (progress then goes to "
        "stderr) (default: text)",
    )
    parser.add_argument(
        "--strict-checks",
        action="store_true",
        help="a check that could not be made (no number for it) fails the test, as the "
        "locust-finisher.io/strict-checks annotation would; without it such a check is shown "
        "but does not count",
    )
    parser.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="write a JUnit XML file: a testcase per check and one for Locust's exit code; "
        "request names and their errors as the suite's output",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="write a Markdown summary (with $GITHUB_STEP_SUMMARY set, the same summary is "
        "appended there, with or without this flag)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help="write summary.json, stats.json and, when it was kept, Locust's report.html",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="compare with a baseline run: a summary.json (--report-dir) or `wait -o json` "
        "file of an earlier run; the relative checks (the pod's locust-finisher.io/check-*-"
        "regression settings, or the flags below) join the verdict, and every output shows "
        "the deltas",
    )
    add_relative_check_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Follow the test, write the outputs asked for; its exit code."""
    import asyncio

    from app.core.results import FinishedTest, encode_document, no_verdict
    from app.kube.client import READER_LIMITS, ConfigurationMissingError, KubeClient
    from app.waiting.artifacts import ArtifactsError, KeptArtifacts, fetch_artifacts
    from app.waiting.follow import UNDECIDED, Follower, NoVerdictError, Target
    from app.waiting.outputs import OutputError, OutputFiles, step_summary_path, write_outputs

    job = master_job(args)
    overrides = relative_check_flags(args)
    if (overrides or args.strict_baseline) and not args.baseline:
        raise CliError("the relative checks and --strict-baseline need --baseline")
    files = OutputFiles(args.junit, args.markdown, step_summary_path(), args.report_dir)
    # With JSON on stdout, everything for humans goes to stderr, so stdout parses as is.
    human = sys.stderr if args.output == "json" else sys.stdout

    refused: list[str] = []  # a kept report refused: the other outputs are still written
    seen: dict[str, str | None] = {"namespace": args.namespace, "pod": args.pod}

    def show(finished: FinishedTest, kept: KeptArtifacts | None = None) -> None:
        if args.output == "json":
            print(encode_document(finished), end="", flush=True)
        try:
            write_outputs(finished, files, kept)
        except OutputError as error:
            raise CliError(str(error)) from None

    async def follow() -> tuple[int, FinishedTest | None, KeptArtifacts | None]:
        # A baseline that cannot be read ends the wait before it starts, not after the test.
        rejudge = _against_baseline(args, overrides) if args.baseline else None
        try:
            client = await KubeClient.connect(args.kubeconfig, args.context, READER_LIMITS)
        except ConfigurationMissingError as error:
            raise CliError(str(error)) from None
        namespace = seen["namespace"] = args.namespace or client.namespace
        target = Target(namespace=namespace, job=job, pod=args.pod, test=args.test)
        follower = Follower(
            client, target, human, strict_checks=args.strict_checks, rejudge=rejudge
        )
        try:
            code = await follower.follow(args.timeout, args.interval)
            finished = follower.finished
            kept = None
            if finished is not None and files.report_dir is not None:
                try:
                    kept = await fetch_artifacts(client, finished)
                except ArtifactsError as error:
                    refused.append(str(error))
            return code, finished, kept
        except NoVerdictError as error:
            raise CliError(str(error)) from None
        finally:
            await client.close()

    try:
        code, finished, kept = asyncio.run(follow())
    except (CliError, KeyboardInterrupt) as error:
        # No verdict: the files CI shows say why, and the exit stays 2 with that one line.
        reason = str(error) if isinstance(error, CliError) else "interrupted"
        try:
            show(no_verdict(reason, seen["namespace"], seen["pod"], job, args.test))
        except CliError as unwritten:
            raise CliError(f"{reason} (and {unwritten})") from None
        if isinstance(error, KeyboardInterrupt):
            return UNDECIDED
        raise
    if finished is not None:
        show(finished, kept)
    if refused:
        raise CliError(refused[0])
    return code


def _against_baseline(args: argparse.Namespace, overrides: dict[str, Any]) -> "Rejudge":
    """What judges the finished test against ``--baseline``.

    A file is read now (CliError if it cannot); ``previous`` is the test's previous run,
    read from the cluster's history once the test has ended.
    """
    from dataclasses import replace

    from app.core.against import BaselineRefusedError, judged_against
    from app.core.results import FinishedTest
    from app.core.settings import FinishSettings
    from app.waiting.baseline import PREVIOUS, BaselineError, previous_run, read_run_file
    from app.waiting.follow import NoVerdictError

    source = args.baseline
    try:
        given = None if source == PREVIOUS else read_run_file(Path(source))
    except BaselineError as error:
        raise CliError(f"--baseline: {error}") from None

    async def rejudge(
        finished: FinishedTest, settings: FinishSettings, client: "KubeClient"
    ) -> FinishedTest:
        settings = replace(settings, **overrides)
        if args.strict_checks:
            settings = replace(settings, strict_checks=True)
        baseline, name = given, source
        if source == PREVIOUS:
            try:
                found = await previous_run(client, finished)
            except BaselineError as error:
                raise NoVerdictError(f"--baseline previous: {error}") from None
            baseline, name = found if found is not None else (None, "none: no earlier run kept")
        try:
            return judged_against(
                finished, settings, baseline, name, strict_baseline=args.strict_baseline
            )
        except BaselineRefusedError as error:
            raise NoVerdictError(str(error)) from None

    return rejudge
