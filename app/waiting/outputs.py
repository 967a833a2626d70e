"""Where ``wait`` puts a finished test for CI: JUnit, Markdown, step summary, report folder.

The report folder holds the summary and the stats, and Locust's own files (report.html,
failures.csv, exceptions.json) when the controller kept them (app/waiting/artifacts.py).

They are written for a passed and a failed test alike, and for a wait without a verdict
(exit 2), where they say why. One that cannot be written ends the wait with one line and exit
2, never 1: exit 1 means Locust's verdict and nothing else.
"""

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from app.core.results import FinishedTest, encode_document, junit_xml, markdown, stats_of
from app.waiting.artifacts import ArtifactsError, KeptArtifacts, write_artifacts

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

# The report directory's files.
SUMMARY_FILE = "summary.json"
STATS_FILE = "stats.json"
REPORT_FILE = "report.html"


class OutputError(Exception):
    """An output file could not be written; the message is one line."""


@dataclass(frozen=True)
class OutputFiles:
    """The files asked for (None: not wanted)."""

    junit: Path | None = None
    markdown: Path | None = None
    step_summary: Path | None = None  # appended to, as GitHub Actions expects
    report_dir: Path | None = None


def step_summary_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    """GitHub Actions' step summary file, when ``wait`` runs in a step."""
    value = environ.get(STEP_SUMMARY_ENV, "")
    return Path(value) if value else None


def _write(path: Path, content: str | bytes, *, append: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    with path.open("ab" if append else "wb") as file:
        file.write(data)


def _same_file(one: Path | None, other: Path | None) -> bool:
    return one is not None and other is not None and one.resolve() == other.resolve()


def _writes(
    finished: FinishedTest, files: OutputFiles, kept: KeptArtifacts | None
) -> list[tuple[Path, Callable[[Path], None]]]:
    writes: list[tuple[Path, Callable[[Path], None]]] = []
    if files.junit is not None:
        writes.append((files.junit, lambda p: _write(p, junit_xml(finished))))
    if files.markdown is not None:
        writes.append((files.markdown, lambda p: _write(p, markdown(finished))))
    # --markdown naming the step summary itself must not show the summary twice.
    if files.step_summary is not None and not _same_file(files.step_summary, files.markdown):
        page = markdown(finished) + "\n"
        writes.append((files.step_summary, lambda p: _write(p, page, append=True)))
    if files.report_dir is not None:
        stats = stats_of(finished.summary)
        directory = files.report_dir
        writes.append((directory / SUMMARY_FILE, lambda p: _write(p, encode_document(finished))))
        if finished.error is None and (kept is None or kept.stats_json is None):
            # Locust's own stats, when kept, are written as kept by write_artifacts.
            writes.append(
                (directory / STATS_FILE, lambda p: _write(p, json.dumps(stats, indent=2) + "\n"))
            )
    return writes


def write_outputs(finished: FinishedTest, files: OutputFiles, kept: KeptArtifacts | None) -> None:
    """Write every file asked for, each one even when another fails.

    Raises:
        OutputError: naming the first file that could not be written (and how many others).
    """
    failed: list[str] = []
    for path, write in _writes(finished, files, kept):
        try:
            write(path)
        except OSError as error:
            failed.append(f"cannot write {path}: {error.strerror or error}")
    if files.report_dir is not None and kept is not None:
        try:
            write_artifacts(kept, files.report_dir)
        except ArtifactsError as error:
            failed.append(str(error))
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise OutputError(failed[0] + more)
