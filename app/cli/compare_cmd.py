"""``locust-finisher compare BASELINE CURRENT``: did it get worse? Offline, for CI artifacts.

Two runs as CI keeps them (``wait --report-dir``'s ``summary.json``, or ``wait -o json``'s
output), compared number by number, with no cluster and no kubeconfig. With relative checks
(``--check-p95-regression 10%`` ...) it is a verdict: exit 1 when one failed; with none it
only shows the deltas and exits 0. Anything else (a file that cannot be read or is no run's,
a baseline ``--strict-baseline`` refuses, an output that cannot be written) is one line on
stderr and exit 2.
"""

import argparse
import json
from pathlib import Path
from typing import Any

from app.cli.common import CliError, Subparsers, add_relative_check_flags, relative_check_flags


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "compare",
        help="compare two runs' summary.json files (CI artifacts), offline; exit 0/1/2",
        description="Compare a run with a baseline run: every number, its change, and the "
        "relative checks asked for. BASELINE and CURRENT are summary.json files (wait "
        "--report-dir) or `wait -o json` outputs. Exit 0 when no relative check failed (or "
        "none was asked for), 1 when one failed, 2 on any error (one line on stderr).",
    )
    parser.add_argument("baseline", type=Path, metavar="BASELINE", help="the baseline run")
    parser.add_argument("current", type=Path, metavar="CURRENT", help="the run to judge")
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="the comparison on stdout as text, or as one JSON object (default: text)",
    )
    parser.add_argument(
        "--junit", type=Path, metavar="FILE", help="write a JUnit XML file: a testcase per check"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="write a Markdown delta table and chart (for a pull request comment)",
    )
    add_relative_check_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compare, print and write what was asked for; 0, 1 (a check failed) or CliError."""
    from app.core.against import judged_alone, strict_refusal
    from app.core.checks import describe_check
    from app.core.compare_outputs import comparison_lines, comparison_markdown
    from app.core.markdown_text import md
    from app.core.results import checks_junit, comparison_document
    from app.core.settings import FinishSettings
    from app.waiting.baseline import BaselineError, read_run_file

    try:
        baseline, current = read_run_file(args.baseline), read_run_file(args.current)
    except BaselineError as error:
        raise CliError(str(error)) from None
    settings = FinishSettings(**relative_check_flags(args))
    passed, checks, comparison = judged_alone(settings, baseline, current)
    refusal = strict_refusal(comparison)
    if args.strict_baseline and refusal is not None:
        raise CliError(refusal)
    verdict = "passed" if passed else "failed"
    name = str(args.baseline)
    if args.output == "json":
        document: dict[str, Any] = {
            "version": 1,
            "verdict": verdict,
            "current": str(args.current),
            "checks": checks,
            "comparison": comparison_document(name, comparison),
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"{args.current}: {verdict}" if checks else f"{args.current}:")
        for line in comparison_lines(comparison, name):
            print(line)
        for check in checks:
            print(f"  check {describe_check(check)}")
    writes: list[tuple[Path, str]] = []
    if args.junit is not None:
        properties = (("verdict", verdict), ("baseline", name), ("current", str(args.current)))
        writes.append((args.junit, checks_junit(str(args.current), checks, properties, "")))
    if args.markdown is not None:
        marker = "[PASS]" if passed else "[FAIL]"
        heading = f"## {marker} {md(args.current)} against {md(name)}: {verdict}"
        rows = [f"- check {md(describe_check(check))}" for check in checks]
        page = [heading, "", *rows, *([""] if rows else []), *comparison_markdown(comparison, name)]
        writes.append((args.markdown, "\n".join(page)))
    for path, content in writes:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        except OSError as error:
            raise CliError(f"cannot write {path}: {error.strerror or error}") from None
    return 0 if passed else 1
