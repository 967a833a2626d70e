"""A run judged against a baseline run: its relative checks joined to its verdict.

``wait --baseline`` and ``compare`` read the baseline from a file CI kept (``wait
--report-dir``'s ``summary.json``, or what ``wait -o json`` printed) or, for ``wait``, from
the cluster's history; either way it ends here as a :class:`~app.core.summary.Summary`.

The relative checks judged here replace any of the same name the verdict already carries
(the controller's, against the test's previous run): the baseline CI names is the one it
asked for. Every other part of the verdict stands: Locust's exit code and the other checks
still fail a test whatever the baseline says, and a check not made still does not count.
"""

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

from app.core.compare import (
    Comparison,
    baseline_entry,
    compare,
    refused_differences,
    relative_checks,
)
from app.core.compare_outputs import flags
from app.core.reasons import ReasonKind, reason_of
from app.core.results import FinishedTest
from app.core.settings import FinishSettings
from app.core.summary import SUMMARY_VERSION, CheckResult, Summary


class BaselineRefusedError(ValueError):
    """A baseline ``--strict-baseline`` refuses, or a file that holds no run; one line."""


def summary_of_document(document: Any) -> Summary:
    """The run in a ``summary.json`` or ``wait -o json`` document, or a bare summary.

    Raises:
        BaselineRefusedError: when it holds no run's summary.
    """
    if not isinstance(document, Mapping):
        raise BaselineRefusedError("is not a JSON object (a summary.json or `wait -o json` output)")
    if "verdict" in document:  # wait's document: the summary is inside
        summary = document.get("summary")
        if not isinstance(summary, Mapping):
            why = document.get("error")
            said = f": its wait ended without a verdict ({str(why)[:120]})" if why else ""
            raise BaselineRefusedError(f"holds no summary of a run{said}")
        return cast(Summary, dict(summary))
    if "version" in document and ("requests" in document or "checks" in document):
        return cast(Summary, dict(document))
    raise BaselineRefusedError(
        "is not a summary.json or `wait -o json` output (no verdict, no summary)"
    )


def strict_refusal(comparison: Comparison) -> str | None:
    """Why ``--strict-baseline`` refuses this baseline (None: it does not)."""
    differ = refused_differences(comparison)
    if not differ:
        return None
    said = flags({"numbers": [], "differences": differ})
    return f"the baseline is not like with like: {'; '.join(said)} (--strict-baseline)"


def _verdict_before(finished: FinishedTest, replaced: set[str]) -> bool:
    """The verdict without the relative checks that are judged again."""
    if finished.passed:
        return True
    kept = [check for check in finished.checks if check.get("name") not in replaced]
    failed_replaced = any(
        check.get("passed") is not True
        for check in finished.checks
        if check.get("name") in replaced
    )
    # Failed only by a check judged again: Locust passed it and every other check did.
    return (
        failed_replaced
        and finished.exit_code == 0
        and all(check.get("passed") is True for check in kept)
    )


def judged_against(
    finished: FinishedTest,
    settings: FinishSettings,
    baseline: Summary | None,
    baseline_name: str,
    *,
    strict_baseline: bool = False,
) -> FinishedTest:
    """``finished`` with its relative checks judged against ``baseline`` (None: none found).

    Raises:
        BaselineRefusedError: ``strict_baseline`` and the baseline is not like with like.
    """
    current: Summary = finished.summary or {"version": SUMMARY_VERSION}
    comparison = compare(baseline, current) if baseline is not None else None
    if strict_baseline and comparison is not None:
        refusal = strict_refusal(comparison)
        if refusal is not None:
            raise BaselineRefusedError(refusal)
    relative = relative_checks(settings, baseline, current)
    replaced = {check["name"] for check in relative}
    kept = [
        cast(CheckResult, check) for check in finished.checks if check.get("name") not in replaced
    ]
    summary: Summary = {**current}
    if relative or kept:
        summary["checks"] = kept + relative
    if baseline is not None:
        summary["baseline"] = baseline_entry(baseline, current)
    passed = _verdict_before(finished, replaced) and all(check["passed"] for check in relative)
    reason = None if passed else _reason(finished, summary)
    summary.pop("reason", None)
    if reason is not None:
        summary["reason"] = reason
    return replace(
        finished,
        passed=passed,
        summary=summary,
        baseline=baseline_name,
        comparison=comparison,
        reason=reason,
    )


def _reason(finished: FinishedTest, judged: Summary) -> str | None:
    """The failed verdict's reason once the relative checks joined it (as the controller says)."""
    started = finished.reason != ReasonKind.MASTER_NEVER_STARTED
    found = reason_of(
        finished.exit_code or 0,
        judged.get("checks", []),
        has_numbers="requests" in judged,
        master_started=started,
    )
    return found.code if found is not None else finished.reason


def judged_alone(
    settings: FinishSettings, baseline: Summary, current: Summary
) -> tuple[bool, list[CheckResult], Comparison]:
    """``compare``'s verdict: the relative checks alone, of ``current`` against ``baseline``."""
    checks = relative_checks(settings, baseline, current)
    return all(check["passed"] for check in checks), checks, compare(baseline, current)
