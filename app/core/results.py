"""A finished test as CI tools read it: a JSON document, a JUnit XML file, a Markdown summary.

``wait`` has the verdict, Locust's exit code and the finisher's summary (with the verdict
policy's check results, when there are any); CI systems each want them in their own format:
JUnit for test reporters, Markdown for a job's summary page, JSON for scripts. These are pure
renderers, so every format says the same thing and each is tested without a cluster.

Every format follows the verdict, never more nor less: JUnit's testcases are what decides it
(the checks and Locust's exit code), so a report never shows a failure under a passing
verdict; a check that could not be made is shown as such everywhere; and a wait that ended
without a verdict (exit 2) still gets a file that says why, so CI has something to show.
"""

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.core.checks import NOT_MADE_WHY, against, check_state
from app.core.compare import Comparison
from app.core.compare_outputs import comparison_markdown, flag_line
from app.core.markdown_text import md as _md
from app.core.markdown_text import md_row as _row
from app.core.markdown_text import md_table as _table
from app.core.markdown_text import text as _text
from app.core.reasons import ReasonKind, check_reason, parse_reason
from app.core.summary import CheckState, Summary

DOCUMENT_VERSION = 1

# Summary fields that are not Locust's numbers: how the test ended, not what it measured.
_NOT_STATS = frozenset(
    {"version", "masterFinishedAt", "finalScrape", "exporter", "notes", "checks", "run", "reason"}
)


class Verdict(StrEnum):
    """How ``wait`` ended: the test's verdict (exit 0 or 1), or none (exit 2)."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # no verdict: a timeout, an API error, no such test...


@dataclass(frozen=True)
class FinishedTest:
    """One test as ``wait`` left it: with a verdict, or with why it has none (``error``)."""

    passed: bool
    exit_code: int | None
    namespace: str | None  # None: not known (no usable kubeconfig)
    pod: str | None  # None: no pod was found
    job: str | None = None
    test: str | None = None
    source: str = ""  # where the verdict came from: "controller annotations" or "pod status"
    summary: Summary | None = None
    error: str | None = None  # why there is no verdict (exit 2), one line
    # Which pod it is, and its controller (its Job): the identities its kept report is found by.
    pod_uid: str = ""
    owner_uid: str = ""
    reason: str | None = None  # a failed verdict's reason code (app/core/reasons.py)
    # Judged against a baseline run (``wait --baseline``): what it was, and how the runs differ.
    baseline: str = ""
    comparison: Comparison | None = None

    @property
    def verdict(self) -> Verdict:
        """``passed`` or ``failed``, the words of ``locust-finisher.io/result``; or ``error``."""
        if self.error is not None:
            return Verdict.ERROR
        return Verdict.PASSED if self.passed else Verdict.FAILED

    @property
    def name(self) -> str:
        """What CI calls the test: the LocustTest's name, else the Job's, else the pod's."""
        return self.test or self.job or self.pod or ""

    @property
    def checks(self) -> list[Mapping[str, Any]]:
        """The verdict policy's check results the summary carries (none before that policy)."""
        given: Any = dict(self.summary or {}).get("checks")
        return [c for c in given if isinstance(c, Mapping)] if isinstance(given, list) else []


def no_verdict(
    reason: str, namespace: str | None, pod: str | None, job: str | None, test: str | None
) -> FinishedTest:
    """A wait that ended without a verdict (exit 2), and why, for CI's files all the same."""
    return FinishedTest(False, None, namespace, pod, job, test, error=reason)


def document(finished: FinishedTest) -> dict[str, Any]:
    """The JSON document of ``wait --output json`` (its fields are in docs/reference.md)."""
    shown = {
        "version": DOCUMENT_VERSION,
        "verdict": finished.verdict,
        "exitCode": finished.exit_code,
        "test": finished.test,
        "job": finished.job,
        "pod": finished.pod,
        "namespace": finished.namespace,
        "source": finished.source,
        "error": finished.error,
        "reason": finished.reason,
        "summary": finished.summary,
        "checks": [{**check, "state": check_state(check).value} for check in finished.checks],
    }
    if finished.comparison is not None:
        shown["comparison"] = comparison_document(finished.baseline, finished.comparison)
    return shown


def comparison_document(baseline: str, comparison: Comparison) -> dict[str, Any]:
    """A comparison in JSON: what the baseline was, the numbers, and the flag (null if none)."""
    return {"baseline": baseline, "flagged": flag_line(comparison), **comparison}


def stats_of(summary: Summary | None) -> dict[str, Any] | None:
    """Locust's numbers in the summary: its totals, busiest request names and errors."""
    if summary is None:
        return None
    return {key: value for key, value in summary.items() if key not in _NOT_STATS}


def _ratio(failures: float, requests: float) -> str:
    return f"{failures / requests:.2%}" if requests else "0.00%"


# A check without a value could not be made: the summary lacks the number it reads.
_NOT_MADE = "not made"


def _strictly_failed(check: Mapping[str, Any]) -> bool:
    """A check not made that fails the verdict all the same: the checks are strict."""
    return check_state(check) is CheckState.NOT_MADE and check.get("passed") is not True


def _not_counted(finished: FinishedTest) -> list[str]:
    """The checks that could not be made and so did not count (not strict)."""
    return [
        _text(check.get("name"))
        for check in finished.checks
        if check_state(check) is CheckState.NOT_MADE and not _strictly_failed(check)
    ]


# --- JUnit XML -------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all, not even escaped (a request name may hold any).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", _text(value))


@dataclass(frozen=True)
class _Case:
    name: str
    failure: str | None = None  # the failure's message; None when the case passed
    details: str = ""  # the failure's text, or what a passing case read
    skipped: str | None = None
    error: str | None = None  # no verdict at all: why
    kind: str = ""  # the failure's type: the reason code this case's failure gives


def _check_cases(checks: Sequence[Mapping[str, Any]], reason: str | None = None) -> list[_Case]:
    """A testcase for each check; ``reason`` is the verdict's (a strict no-numbers failure)."""
    cases = []
    for check in checks:
        name, reads = _text(check.get("name")), _text(check.get("reads"))
        value, limit = check.get("value"), _text(check.get("limit"))
        case = f"check {name}"
        code = check_reason(check).code
        if _strictly_failed(check):
            strictly = f"{name}: {_NOT_MADE}, {NOT_MADE_WHY} (strict checks), limit {limit}"
            if reason == ReasonKind.NO_NUMBERS:
                code = ReasonKind.NO_NUMBERS.value
            cases.append(_Case(case, failure=strictly, details=reads, kind=code))
        elif check_state(check) is CheckState.NOT_MADE:
            skipped = f"{_NOT_MADE}: {NOT_MADE_WHY}, so it does not count (limit {limit})"
            cases.append(_Case(case, skipped=skipped, details=reads))
        else:
            failed = f"{name}: {value}{against(check)}, limit {limit}"
            failure = None if check.get("passed") is True else failed
            cases.append(_Case(case, failure=failure, details=reads, kind=code))
    return cases


def _exit_code_case(finished: FinishedTest) -> _Case:
    code = finished.exit_code
    if code is None:
        return _Case("locust exit code", skipped="Locust's exit code was not recorded")
    # A master that never started exited too: its code says so, as the verdict's reason does.
    never = finished.reason == ReasonKind.MASTER_NEVER_STARTED
    kind = ReasonKind.MASTER_NEVER_STARTED if never else ReasonKind.LOCUST_EXIT
    return _Case(
        "locust exit code", failure=f"Locust exited {code}" if code else None, kind=kind.value
    )


def _cases(finished: FinishedTest) -> list[_Case]:
    """What decides the verdict, one testcase each: a failure is exactly what failed it."""
    if finished.error is not None:
        return [_Case("verdict", error=f"no verdict: {finished.error}")]
    cases = [*_check_cases(finished.checks, finished.reason), _exit_code_case(finished)]
    if not finished.passed and not any(case.failure for case in cases):
        # A report that shows green under a failed wait would be believed over the exit code.
        cases.append(
            _Case(
                "verdict",
                failure=f"the verdict from the {finished.source or 'pod status'} is failed",
                details="neither Locust's exit code nor a check recorded here says why",
                kind=finished.reason or "",
            )
        )
    return cases


def _request_lines(summary: Summary) -> list[str]:
    """Request names and errors: reported, never testcases, so never a failure of their own.

    Locust counts a failed request whatever the verdict policy allows; the verdict decides
    whether that failed the test (through Locust's exit code or the fail-ratio check).
    """
    lines = []
    if "requests" in summary:
        failures, requests = summary.get("failures", 0), summary.get("requests", 0)
        lines.append(f"{requests} requests, {failures} failed ({_ratio(failures, requests)})")
    for row in summary.get("endpoints", []):
        failures, requests = row.get("failures", 0), row.get("requests", 0)
        lines.append(
            f"{row.get('method', '')} {row.get('name', '')}: {requests} requests, {failures} "
            f"failed ({_ratio(failures, requests)}), average {row.get('avgMs', 0):g} ms, "
            f"p95 {row.get('p95Ms', 0):g} ms"
        )
    left_out = summary.get("leftOut", {}).get("endpoints", 0)
    if left_out:
        lines.append(f"{left_out} more request names are not in the summary")
    for error in summary.get("errors", []):
        lines.append(
            f"error: {error.get('method', '')} {error.get('name', '')}: "
            f"{error.get('error', '')} ({error.get('occurrences', 0)} times)"
        )
    return lines


def _suite_output(finished: FinishedTest) -> str:
    if finished.error is not None:
        return f"locust-finisher wait ended without a verdict (exit 2): {finished.error}"
    summary = finished.summary
    if summary is None:
        return "no summary: the finisher left none"
    lines = _request_lines(summary)
    not_counted = _not_counted(finished)
    if not_counted:
        lines.append(f"not made, so not counted: {', '.join(not_counted)} ({NOT_MADE_WHY})")
    lines += [f"note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)


def junit_xml(finished: FinishedTest) -> str:
    """One ``<testsuite>`` for the test: a testcase per check and one for the exit code.

    The layout is the common (Jenkins "junit-10") one that CI test reporters read. Request
    names and their errors are the suite's ``<system-out>``.
    """
    properties = (
        ("verdict", finished.verdict),
        ("reason", finished.reason),
        ("exitCode", finished.exit_code),
        ("namespace", finished.namespace),
        ("job", finished.job),
        ("pod", finished.pod),
        ("source", finished.source),
        ("baseline", finished.baseline or None),
    )
    return _junit(finished.name, _cases(finished), properties, _suite_output(finished))


def checks_junit(
    name: str,
    checks: Sequence[Mapping[str, Any]],
    properties: tuple[tuple[str, Any], ...],
    out: str,
) -> str:
    """A JUnit file of ``checks`` alone, a testcase each (``compare``'s relative checks)."""
    return _junit(name, _check_cases(checks), properties, out)


def _junit(
    suite_name: str, cases: list[_Case], given: tuple[tuple[str, Any], ...], output: str
) -> str:
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(1 for case in cases if case.failure is not None)),
        "errors": str(sum(1 for case in cases if case.error is not None)),
    }
    # The schema has no skipped count on the root, only on a suite.
    root = ET.Element("testsuites", {"name": "locust-finisher", **counts})
    skipped = str(sum(1 for case in cases if case.skipped is not None))
    suite = ET.SubElement(
        root, "testsuite", {"name": _xml(suite_name), **counts, "skipped": skipped}
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in given:
        if value is not None:
            ET.SubElement(properties, "property", {"name": name, "value": _xml(value)})
    for case in cases:
        attributes = {"name": _xml(case.name), "classname": _xml(suite_name)}
        element = ET.SubElement(suite, "testcase", attributes)
        if case.skipped is not None:
            ET.SubElement(element, "skipped", {"message": _xml(case.skipped)})
        if case.error is not None:
            ET.SubElement(element, "error", {"message": _xml(case.error)})
        elif case.failure is not None:
            failed = {"message": _xml(case.failure)}
            if case.kind:
                failed["type"] = _xml(case.kind)
            failure = ET.SubElement(element, "failure", failed)
            failure.text = _xml(case.details) or None
        elif case.details:
            ET.SubElement(element, "system-out").text = _xml(case.details)
    if output:
        ET.SubElement(suite, "system-out").text = _xml(output)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


# --- Markdown --------------------------------------------------------------------------------


def _ms(summary: Summary, key: str) -> str:
    value = summary.get(key)
    return f"{value:g} ms" if isinstance(value, int | float) else "-"


def _totals(summary: Summary) -> list[str]:
    requests, failures = summary.get("requests", 0), summary.get("failures", 0)
    rps = summary.get("rps")
    # p99 only where Locust reported it: most summaries have none.
    percentiles = ["p95", "p99"] if "p99Ms" in summary else ["p95"]
    header = ("requests", "failures", "median", *percentiles, "average", "max", "throughput")
    row = _row(
        requests,
        f"{failures} ({_ratio(failures, requests)})",
        _ms(summary, "medianMs"),
        *(_ms(summary, f"{p}Ms") for p in percentiles),
        _ms(summary, "avgMs"),
        _ms(summary, "maxMs"),
        f"{rps:g} req/s" if isinstance(rps, int | float) else "-",
    )
    return _table(header, "---:", [row])


def _checks(finished: FinishedTest) -> list[str]:
    rows = []
    for check in finished.checks:
        value = f"{_text(check.get('value'))}{against(check)}"
        result = "pass" if check.get("passed") is True else "FAIL"
        if check_state(check) is CheckState.NOT_MADE:
            value = "-"
            result = f"FAIL: {_NOT_MADE} (strict)" if _strictly_failed(check) else _NOT_MADE
        rows.append(_row(check.get("name"), result, value, check.get("limit"), check.get("reads")))
    if not rows:
        return []
    header = ("check", "result", "value", "limit", "reads")
    lines = ["### Checks", "", *_table(header, "---", rows)]
    not_counted = _not_counted(finished)
    if not_counted:
        lines += [
            f"**Not made, so not counted:** {_md(', '.join(not_counted))}: {NOT_MADE_WHY}. "
            "Strict checks (`wait --strict-checks`, or the `strict-checks` setting) fail "
            "such a test.",
            "",
        ]
    return lines


def _busiest(summary: Summary) -> list[str]:
    endpoints = summary.get("endpoints", [])
    if not endpoints:
        return []
    rows = [
        _row(
            f"{row.get('method', '')} {row.get('name', '')}".strip(),
            row.get("requests", 0),
            row.get("failures", 0),
            f"{row.get('avgMs', 0):g} ms",
            f"{row.get('p95Ms', 0):g} ms",
        )
        for row in endpoints
    ]
    header = ("request", "requests", "failures", "average", "p95")
    lines = ["### Busiest request names", "", *_table(header, "---", rows)]
    left_out = summary.get("leftOut", {}).get("endpoints", 0)
    if left_out:
        lines += [f"{left_out} more request names are not in the summary.", ""]
    return lines


_MARKERS = {Verdict.PASSED: "[PASS]", Verdict.FAILED: "[FAIL]", Verdict.ERROR: "[ERROR]"}


def markdown(finished: FinishedTest) -> str:
    """A summary page: the verdict, the totals, the checks and the busiest request names."""
    where = [f"namespace {_md(finished.namespace)}"] if finished.namespace else []
    if finished.job:
        where.append(f"job {_md(finished.job)}")
    if finished.pod:
        where.append(f"pod {_md(finished.pod)}")
    heading = f"## {_MARKERS[finished.verdict]} Load test {_md(finished.name)}: {finished.verdict}"
    if finished.error is not None:
        said = f"No verdict (exit 2): {_md(finished.error)}"
        return "\n".join([heading, "", f"{said}; {', '.join(where)}." if where else said, ""])
    code = "not recorded" if finished.exit_code is None else str(finished.exit_code)
    reason = parse_reason(finished.reason)
    said = f"**Reason `{reason.code}`**: {reason.meaning}. " if reason else ""
    lines = [
        heading,
        "",
        f"{said}Locust exit code {code}; {', '.join(where)}; "
        f"verdict from the {_md(finished.source or 'pod status')}.",
        "",
    ]
    summary = finished.summary
    if summary is None:
        return "\n".join([*lines, "No summary: the finisher left none.", ""])
    if "requests" in summary:
        lines += _totals(summary)
    else:
        notes = "; ".join(summary.get("notes", [])) or "the summary has none"
        lines += [f"No numbers from Locust: {_md(notes)}.", ""]
    lines += _checks(finished)
    if finished.comparison is not None:
        lines += comparison_markdown(finished.comparison, finished.baseline)
    lines += _busiest(summary)
    return "\n".join(lines)


def encode_document(finished: FinishedTest) -> str:
    """:func:`document` as indented JSON, as ``wait`` prints and writes it."""
    return json.dumps(document(finished), indent=2) + "\n"
