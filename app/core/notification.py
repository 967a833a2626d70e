"""What a team's chat or webhook receives when a test ends: one versioned JSON body, or Slack's.

The controller sends it once per run (app/controller/notifier.py) to the URL a Secret holds.
Pure: the pod's facts and its Job as recorded (the verdict and the summary the controller wrote
on it) in, a bounded JSON document out. Everything in it comes from our own annotations on the
Job, which the Job's owner could rewrite, so every string is cut to a length and every list to
a count, and Slack's text is escaped: a check name cannot mention ``@channel``.

The generic body (``version`` 1, docs/reference.md lists its fields) carries the verdict and
its reason code, the checks with their values, limits and any baseline and delta, the headline
numbers, and the commands that fetch the summary and the report. :func:`slack_body` makes a
Slack incoming-webhook body (``text`` plus ``blocks``) from it.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, NotRequired, TypedDict, cast

from app.core import names, podview
from app.core.checks import check_state
from app.core.reasons import ReasonKind, parse_reason
from app.core.reasons import reason_of as reason_of_verdict
from app.core.run_metadata import which_test
from app.core.summary import CheckResult, CheckState, Summary, decode_summary, headline

NOTIFICATION_VERSION: Final = 1
# A run's checks are a handful (absolute and relative); a forged summary could hold hundreds.
MAX_CHECKS: Final = 16
# Kubernetes names are at most 253 characters; the summary's strings are short by making.
MAX_TEXT: Final = 256
# The summary annotation as the controller writes it is at most 4 KiB; a larger one is not ours.
MAX_SUMMARY_BYTES: Final = 16 * 1024
# Slack refuses a section's text over 3,000 characters and a header's over 150.
SLACK_SECTION_CHARS: Final = 2900
SLACK_HEADER_CHARS: Final = 150
NUMBERS: Final = ("requests", "failures", "failRatio", "avgMs", "medianMs", "p95Ms", "p99Ms", "rps")
_LOOKALIKES: Final = str.maketrans({"<": "(", ">": ")", "&": "+"})
_EXIT_CODE: Final = re.compile(r"-?[0-9]{1,3}")


class CheckEntry(TypedDict):
    """One check as the notification says it."""

    name: str
    state: str  # passed | failed | not-made
    limit: str
    value: str | None
    baseline: NotRequired[str]
    delta: NotRequired[str]


class Fetch(TypedDict):
    """The commands that fetch what the controller kept of the run."""

    summary: str
    report: str
    wait: str


class Notification(TypedDict):
    """The generic JSON body (``Content-Type: application/json``)."""

    version: int
    test: str
    namespace: str
    pod: str
    job: str
    uid: str
    verdict: str  # passed | failed
    reason: str | None
    exitCode: int | None
    finishedAt: str | None
    headline: str
    numbers: dict[str, float]
    checks: list[CheckEntry]
    failedChecks: list[str]
    fetch: Fetch
    baseline: NotRequired[dict[str, Any]]


def _text(value: object, limit: int = MAX_TEXT) -> str:
    return str(value)[:limit]


def reason_of(result: str, exit_code: int | None, summary: Mapping[str, Any]) -> str | None:
    """The failed verdict's reason code (app/core/reasons.py); None when it passed.

    The code recorded with the verdict wins; a summary without one (written before reason
    codes) gets it from the exit code and the checks, as the controller would say it.
    """
    if result == "passed":
        return None
    written = parse_reason(summary.get("reason"))
    if written is not None:
        return written.code
    checks = [
        cast(CheckResult, check)
        for check in _checks(summary)
        if isinstance(check.get("passed"), bool)
    ]
    found = reason_of_verdict(exit_code or 0, checks, has_numbers="requests" in summary)
    return found.code if found is not None else ReasonKind.LOCUST_EXIT.value


def _checks(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The summary's checks, whatever a forged one holds instead of a list of them."""
    checks = summary.get("checks")
    if not isinstance(checks, list):
        return []
    return [check for check in checks if isinstance(check, Mapping)]


def _check(check: Mapping[str, Any]) -> CheckEntry:
    value = check.get("value")
    entry = CheckEntry(
        name=_text(check.get("name")),
        state=check_state(check).value,
        limit=_text(check.get("limit")),
        value=None if value is None else _text(value),
    )
    for key in ("baseline", "delta"):
        if isinstance(check.get(key), str | int | float):
            entry[key] = _text(check[key])
    return entry


def _numbers(summary: Summary) -> dict[str, float]:
    return {
        key: value
        for key in NUMBERS
        if isinstance(value := summary.get(key), int | float) and not isinstance(value, bool)
    }


def fetch_commands(namespace: str, job: str) -> Fetch:
    """How to read what the controller kept: the summary, Locust's report, the verdict."""
    summary_path = "{.metadata.annotations.locust-finisher\\.io/summary}"
    return Fetch(
        summary=f"kubectl get job {job} -n {namespace} -o jsonpath='{summary_path}'",
        report=f"locust-finisher report --job {job} -n {namespace} --dir .",
        wait=f"locust-finisher wait --job {job} -n {namespace} -o json",
    )


def notification(namespace: str, pod: str, uid: str, job: Mapping[str, Any]) -> Notification:
    """The generic body for the run of pod ``uid``, from its Job's recorded verdict."""
    metadata = podview.mapping(job, "metadata")
    annotations = podview.mapping(metadata, "annotations")
    job_name = _text(podview.text(metadata, "name") or "")
    encoded = podview.text(annotations, names.SUMMARY_ANNOTATION) or ""
    summary = (decode_summary(encoded) if len(encoded) <= MAX_SUMMARY_BYTES else None) or {}
    result = (
        "passed" if podview.text(annotations, names.RESULT_ANNOTATION) == "passed" else "failed"
    )
    code_text = podview.text(annotations, names.EXIT_CODE_ANNOTATION) or ""
    exit_code = int(code_text) if _EXIT_CODE.fullmatch(code_text) else None
    checks = [_check(c) for c in _checks(summary)[:MAX_CHECKS]]
    numbers = _numbers(summary)
    body = Notification(
        version=NOTIFICATION_VERSION,
        test=which_test(job, podview.text(podview.mapping(job, "metadata"), "name"), pod),
        namespace=_text(namespace),
        pod=_text(pod),
        job=job_name,
        uid=_text(uid, 64),
        verdict=result,
        reason=reason_of(result, exit_code, summary),
        exitCode=exit_code,
        finishedAt=_text(podview.text(annotations, names.FINISHED_AT_ANNOTATION) or "", 64) or None,
        # From the numbers alone: a forged summary's strings would not format.
        headline=_text(headline(cast(Summary, numbers))) if "requests" in numbers else "no numbers",
        numbers=numbers,
        checks=checks,
        failedChecks=failed_names(checks),
        fetch=fetch_commands(_text(namespace), job_name),
    )
    baseline = summary.get("baseline")
    if isinstance(baseline, Mapping):
        body["baseline"] = _baseline(baseline)
    return body


def _baseline(baseline: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline the verdict was judged against: which run, and its numbers."""
    kept: dict[str, Any] = {
        key: _text(baseline[key], 64)
        for key in ("uid", "revision", "finishedAt")
        if isinstance(baseline.get(key), str)
    }
    numbers = baseline.get("numbers")
    if isinstance(numbers, Mapping):
        kept["numbers"] = _numbers(numbers)  # type: ignore[arg-type]
    return kept


def _escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``<`` and ``>`` would make links and mentions, ``&`` entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> str:
    """Plain text with nothing Slack could read as a link, mention or entity."""
    return text.translate(_LOOKALIKES)


def _check_line(check: CheckEntry) -> str:
    line = f"• {check['name']}: {check['value'] or 'not made'} (limit {check['limit']})"
    if "baseline" in check:
        line += f", baseline {check['baseline']}"
    if "delta" in check:
        line += f", {check['delta']}"
    return _escape(line)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SLACK_SECTION_CHARS]}}


def slack_body(body: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` (the notification's one line) and ``blocks``."""
    icon = ":white_check_mark:" if body["verdict"] == "passed" else ":x:"
    why = f" ({body['reason']})" if body["reason"] else ""
    line = f"Load test {body['test']} {body['verdict']}{why} in {body['namespace']}"
    failed = [c for c in body["checks"] if c["name"] in body["failedChecks"]]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _plain(line)[:SLACK_HEADER_CHARS]},
        },
        _section(f"{icon} *{_escape(body['verdict'])}*{_escape(why)}: {_escape(body['headline'])}"),
    ]
    if failed:
        lines = "\n".join(_check_line(c) for c in failed)
        blocks.append(_section(f"*Failed checks*\n{lines}"))
    fetch = body["fetch"]
    commands = "\n".join(_escape(fetch[key]) for key in ("wait", "report", "summary"))
    blocks.append(_section(f"*Fetch the report*\n```{commands}```"))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": _escape(f"pod {body['pod']}, Job {body['job']}")[:300]}
            ],
        }
    )
    return {"text": _escape(line)[:SLACK_SECTION_CHARS], "blocks": blocks}


def failed_names(checks: Sequence[CheckEntry]) -> list[str]:
    """The names of the failed checks."""
    return [c["name"] for c in checks if c["state"] == CheckState.FAILED.value]
