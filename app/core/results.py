"""A finished test as CI tools read it: a JSON document, a JUnit XML file, a Markdown summary.

``wait`` has the verdict, Locust's exit code and the finisher's summary (with the verdict
policy's check results, when there are any); CI systems each want them in their own format:
JUnit for test reporters, Markdown for a job's summary page, JSON for scripts. These are pure
renderers, so every format says the same thing and each is tested without a cluster.
"""

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core.summary import Summary

DOCUMENT_VERSION = 1

# Summary fields that are not Locust's numbers: how the test ended, not what it measured.
_NOT_STATS = frozenset(
    {"version", "masterFinishedAt", "finalScrape", "exporter", "notes", "checks"}
)


@dataclass(frozen=True)
class FinishedTest:
    """One test with a verdict, as ``wait`` found it."""

    passed: bool
    exit_code: int | None
    namespace: str
    pod: str
    job: str | None = None
    test: str | None = None
    source: str = ""  # where the verdict came from: "controller annotations" or "pod status"
    summary: Summary | None = None
    # Which pod it is, and its controller (its Job): the identities its kept report is found by.
    pod_uid: str = ""
    owner_uid: str = ""

    @property
    def verdict(self) -> str:
        """``passed`` or ``failed``, the words of the ``locust-finisher.io/result`` annotation."""
        return "passed" if self.passed else "failed"

    @property
    def name(self) -> str:
        """What CI calls the test: the LocustTest's name, else the Job's, else the pod's."""
        return self.test or self.job or self.pod

    @property
    def checks(self) -> list[Mapping[str, Any]]:
        """The verdict policy's check results the summary carries (none before that policy)."""
        given: Any = dict(self.summary or {}).get("checks")
        return [c for c in given if isinstance(c, Mapping)] if isinstance(given, list) else []


def document(finished: FinishedTest) -> dict[str, Any]:
    """The JSON document of ``wait --output json`` (its fields are in docs/reference.md)."""
    return {
        "version": DOCUMENT_VERSION,
        "verdict": finished.verdict,
        "exitCode": finished.exit_code,
        "test": finished.test,
        "job": finished.job,
        "pod": finished.pod,
        "namespace": finished.namespace,
        "source": finished.source,
        "summary": finished.summary,
        "checks": [dict(check) for check in finished.checks],
    }


def stats_of(summary: Summary | None) -> dict[str, Any] | None:
    """Locust's numbers in the summary: its totals, busiest request names and errors."""
    if summary is None:
        return None
    return {key: value for key, value in summary.items() if key not in _NOT_STATS}


def _ratio(failures: float, requests: float) -> str:
    return f"{failures / requests:.2%}" if requests else "0.00%"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# A check without a value could not be made: the summary lacks the number it reads.
_NOT_MADE = "not made"


# --- JUnit XML -------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all, not even escaped (a request name may hold any).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", _text(value))


@dataclass(frozen=True)
class _Case:
    name: str
    time: float | None = None
    failure: str | None = None  # the failure's message; None when the case passed
    details: str = ""  # the failure's text, or what a passing case read
    skipped: str | None = None


def _request_cases(finished: FinishedTest) -> list[_Case]:
    summary = finished.summary or {}
    errors = summary.get("errors", [])
    cases = []
    for row in summary.get("endpoints", []):
        label = f"{row.get('method', '')} {row.get('name', '')}".strip()
        failures, requests = row.get("failures", 0), row.get("requests", 0)
        failure = None
        details = ""
        if failures:
            failure = f"{failures} of {requests} requests failed ({_ratio(failures, requests)})"
            details = "\n".join(
                f"{e.get('error', '')} ({e.get('occurrences', 0)} times)"
                for e in errors
                if e.get("method") == row.get("method") and e.get("name") == row.get("name")
            )
        cases.append(_Case(label, row.get("avgMs", 0.0) / 1000, failure, details))
    return cases


def _check_cases(finished: FinishedTest) -> list[_Case]:
    cases = []
    for check in finished.checks:
        name, reads = _text(check.get("name")), _text(check.get("reads"))
        value, limit = check.get("value"), _text(check.get("limit"))
        if value is None:
            cases.append(
                _Case(
                    f"check {name}",
                    skipped=f"{_NOT_MADE}: the summary has no number for it",
                    details=reads,
                )
            )
            continue
        failure = None if check.get("passed") is True else f"{name}: {value}, limit {limit}"
        cases.append(_Case(f"check {name}", failure=failure, details=reads))
    return cases


def _exit_code_case(finished: FinishedTest) -> _Case:
    code = finished.exit_code
    if code is None:
        return _Case("locust exit code", skipped="Locust's exit code was not recorded")
    return _Case("locust exit code", failure=f"Locust exited {code}" if code else None)


def _cases(finished: FinishedTest) -> list[_Case]:
    cases = [*_request_cases(finished), *_check_cases(finished), _exit_code_case(finished)]
    if not finished.passed and not any(case.failure for case in cases):
        # A report that shows green under a failed wait would be believed over the exit code.
        cases.append(
            _Case(
                "verdict",
                failure=f"the verdict from the {finished.source or 'pod status'} is failed",
                details="neither Locust's exit code nor a check recorded here says why",
            )
        )
    return cases


def _suite_output(finished: FinishedTest) -> str:
    summary = finished.summary
    if summary is None:
        return "no summary: the finisher left none"
    lines = []
    left_out = summary.get("leftOut", {}).get("endpoints", 0)
    if left_out:
        lines.append(f"{left_out} more request names are not in the summary")
    lines += [f"note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)


def junit_xml(finished: FinishedTest) -> str:
    """One ``<testsuite>`` for the test: a testcase per request name, check and exit code.

    The layout is the common (Jenkins "junit-10") one that CI test reporters read; a request
    name's ``time`` is its average response time.
    """
    cases = _cases(finished)
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(1 for case in cases if case.failure is not None)),
        "errors": "0",
    }
    # The schema has no skipped count on the root, only on a suite.
    root = ET.Element("testsuites", {"name": "locust-finisher", **counts})
    skipped = str(sum(1 for case in cases if case.skipped is not None))
    suite = ET.SubElement(
        root, "testsuite", {"name": _xml(finished.name), **counts, "skipped": skipped}
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", finished.verdict),
        ("exitCode", finished.exit_code),
        ("namespace", finished.namespace),
        ("job", finished.job),
        ("pod", finished.pod),
        ("source", finished.source),
    ):
        if value is not None:
            ET.SubElement(properties, "property", {"name": name, "value": _xml(value)})
    for case in cases:
        attributes = {"name": _xml(case.name), "classname": _xml(finished.name)}
        if case.time is not None:
            attributes["time"] = f"{case.time:.3f}"
        element = ET.SubElement(suite, "testcase", attributes)
        if case.skipped is not None:
            ET.SubElement(element, "skipped", {"message": _xml(case.skipped)})
        if case.failure is not None:
            failure = ET.SubElement(element, "failure", {"message": _xml(case.failure)})
            failure.text = _xml(case.details) or None
        elif case.details:
            ET.SubElement(element, "system-out").text = _xml(case.details)
    output = _suite_output(finished)
    if output:
        ET.SubElement(suite, "system-out").text = _xml(output)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


# --- Markdown --------------------------------------------------------------------------------

# Markdown punctuation that could start a link, emphasis, code, HTML or a table cell in a
# value that comes from a user's test (a request name, an error).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


def _md(value: Any) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(_text(value).split()))


def _row(*cells: Any) -> str:
    return "| " + " | ".join(_md(cell) for cell in cells) + " |"


def _table(header: tuple[str, ...], align: str, rows: list[str]) -> list[str]:
    return [_row(*header), "|" + "|".join(align for _ in header) + "|", *rows, ""]


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
        value = check.get("value")
        result = "pass" if check.get("passed") is True else "FAIL"
        if value is None:
            result, value = _NOT_MADE, "-"
        rows.append(_row(check.get("name"), result, value, check.get("limit"), check.get("reads")))
    if not rows:
        return []
    return ["### Checks", "", *_table(("check", "result", "value", "limit", "reads"), "---", rows)]


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


def markdown(finished: FinishedTest) -> str:
    """A summary page: the verdict, the totals, the checks and the busiest request names."""
    marker = "[PASS]" if finished.passed else "[FAIL]"
    code = "not recorded" if finished.exit_code is None else str(finished.exit_code)
    where = [f"namespace {_md(finished.namespace)}"]
    if finished.job:
        where.append(f"job {_md(finished.job)}")
    where.append(f"pod {_md(finished.pod)}")
    lines = [
        f"## {marker} Load test {_md(finished.name)}: {finished.verdict}",
        "",
        f"Locust exit code {code}; {', '.join(where)}; "
        f"verdict from the {_md(finished.source or 'pod status')}.",
        "",
    ]
    summary = finished.summary
    if summary is None:
        return "\n".join([*lines, "No summary: the finisher left none.", ""])
    lines += _totals(summary)
    lines += _checks(finished)
    lines += _busiest(summary)
    return "\n".join(lines)


def encode_document(finished: FinishedTest) -> str:
    """:func:`document` as indented JSON, as ``wait`` prints and writes it."""
    return json.dumps(document(finished), indent=2) + "\n"
