"""The verdict policy: limits a test's final numbers must meet, judged on its summary.

Locust's exit code says whether Locust thinks a test passed; CI also wants limits Locust does
not know, such as a 95th percentile or a least throughput. They are settings (one codec each,
in app/core/settings.py: an annotation per pod, a cluster default in the ConfigMap, carried
to the controller and ``wait`` in the status annotation), and they are judged here, on the
finisher's summary, by the controller, which records the verdict, and by ``wait``, which may
see the test end before the controller has.

Each check reads one number of Locust's ``Aggregated`` row of ``/stats/requests``, as the
summary keeps it (:data:`CHECKS` says which). A number the summary does not hold (no summary,
a master without a web UI, a summary cut to its totals, a Locust that does not report that
percentile) means the check could not be made: its state is
:attr:`~app.core.summary.CheckState.NOT_MADE`, shown as such in every output. By default it
does not fail the test, because a verdict must come from numbers, never from their absence;
with strict checks (the ``strict-checks`` setting, or ``wait --strict-checks``) it does, for a
platform that would rather fail a test than pass one it could not judge.

The verdict is ``failed`` when Locust exited non-zero or any check failed (or, strictly, was
not made). It lives in our
annotations, label, Events and ``wait``'s exit code only: the pod's and the Job's phase stay
Locust's, so our code never turns a test Locust passed into a Failed pod.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.settings import (
    CHECK_AVG,
    CHECK_FAIL_RATIO,
    CHECK_P95,
    CHECK_P99,
    CHECK_RPS,
    FinishSettings,
    Setting,
)
from app.core.summary import SUMMARY_VERSION, CheckResult, CheckState, Summary


def fail_ratio(summary: Summary) -> float | None:
    """Failures over requests, as Locust's own ``fail_ratio`` (which the summary rounds)."""
    if "requests" not in summary or "failures" not in summary:
        return None
    requests, failures = summary["requests"], summary["failures"]
    if requests == 0:
        return 1.0 if failures > 0 else 0.0
    return failures / requests


def field_of(key: str) -> Callable[[Summary], float | None]:
    """A reader of the summary's number ``key``: None when it holds none."""

    def value_of(summary: Summary) -> float | None:
        value = summary.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    return value_of


def plain_number(number: float) -> str:
    """Fixed point, never an exponent: what users write (``0.00001``, ``120000``)."""
    return f"{number:.6f}".rstrip("0").rstrip(".")


def show_ms(milliseconds: float) -> str:
    """Milliseconds as a limit is written: ``523.5ms``."""
    return f"{plain_number(milliseconds)}ms"


@dataclass(frozen=True)
class Check:
    """One kind of check: its limit's setting, the number it reads, and which way it passes."""

    name: str  # the annotation's name after ``check-``
    setting: Setting
    reads: str  # which number, for the summary, the docs and anyone who doubts a verdict
    value_of: Callable[[Summary], float | None]
    at_most: bool  # passes at or below the limit (else at or above)
    in_ms: bool  # the limit is a duration and the number milliseconds

    def limit(self, settings: FinishSettings) -> float | None:
        """The limit ``settings`` set, in the number's unit; None: no such check."""
        limit: float | None = getattr(settings, self.setting.field)
        if limit is None or not self.in_ms:
            return limit
        return round(limit * 1000, 3)

    def judge(self, limit: float, summary: Summary | None, *, strict: bool) -> CheckResult:
        """This check with ``limit`` on ``summary``; ``strict``: one not made fails."""
        show = show_ms if self.in_ms else plain_number
        value = None if summary is None else self.value_of(summary)
        if value is None:
            state, passed, shown = CheckState.NOT_MADE, not strict, None
        else:
            passed = value <= limit if self.at_most else value >= limit
            state, shown = (CheckState.PASSED if passed else CheckState.FAILED), show(value)
        return CheckResult(
            name=self.name,
            limit=show(limit),
            value=shown,
            passed=passed,
            reads=self.reads,
            state=state,
        )


CHECKS: tuple[Check, ...] = (
    Check(
        "fail-ratio",
        CHECK_FAIL_RATIO,
        "Aggregated num_failures / num_requests (Locust's fail_ratio); at most the limit",
        fail_ratio,
        at_most=True,
        in_ms=False,
    ),
    Check(
        "p95",
        CHECK_P95,
        "Aggregated response_time_percentile_0.95, over the whole test; at most the limit",
        field_of("p95Ms"),
        at_most=True,
        in_ms=True,
    ),
    Check(
        "p99",
        CHECK_P99,
        "Aggregated response_time_percentile_0.99 (older Locust: ninety_ninth_response_time); "
        "at most the limit",
        field_of("p99Ms"),
        at_most=True,
        in_ms=True,
    ),
    Check(
        "avg",
        CHECK_AVG,
        "Aggregated avg_response_time; at most the limit",
        field_of("avgMs"),
        at_most=True,
        in_ms=True,
    ),
    Check(
        "rps",
        CHECK_RPS,
        "Aggregated total_rps (requests over first to last request); at least the limit",
        field_of("rps"),
        at_most=False,
        in_ms=False,
    ),
)


def has_checks(settings: FinishSettings) -> bool:
    """Whether ``settings`` set any check, so a passing exit code is not yet the verdict."""
    return any(check.limit(settings) is not None for check in CHECKS)


def evaluate_checks(settings: FinishSettings, summary: Summary | None) -> list[CheckResult]:
    """Each check ``settings`` set, judged on ``summary`` (None: no summary at all)."""
    results = []
    for check in CHECKS:
        limit = check.limit(settings)
        if limit is not None:
            results.append(check.judge(limit, summary, strict=settings.strict_checks))
    return results


def verdict(exit_code: int, checks: Sequence[CheckResult] = ()) -> str:
    """``passed`` when Locust exited 0 and no check failed, else ``failed``."""
    return "passed" if exit_code == 0 and all(c["passed"] for c in checks) else "failed"


def judge(
    exit_code: int, settings: FinishSettings, summary: Summary | None, no_summary: str = ""
) -> tuple[str, Summary | None]:
    """The verdict, and the summary carrying its checks.

    Without a summary no check can be made: the verdict is then Locust's exit code, unless
    the checks are strict. The checks are still recorded, in a summary holding only them and
    ``no_summary``, the note that says why there are no numbers (as the controller does).
    """
    checks = evaluate_checks(settings, summary)
    if not checks:
        return verdict(exit_code), summary
    judged: Summary = summary.copy() if summary is not None else _numberless(no_summary)
    judged["checks"] = checks
    return verdict(exit_code, checks), judged


def _numberless(why: str) -> Summary:
    return {"version": SUMMARY_VERSION, "notes": [why or "the finisher left no summary"]}


# Why a check could not be made, in every output's words.
NOT_MADE_WHY = "the summary has no number for it"


def check_state(check: Mapping[str, Any]) -> CheckState:
    """What became of a check, as recorded; records from before ``state`` too."""
    try:
        return CheckState(str(check.get("state")))
    except ValueError:
        if check.get("value") is None:
            return CheckState.NOT_MADE
        return CheckState.PASSED if check.get("passed") is True else CheckState.FAILED


def held_to_strict(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """``checks`` as strict checks would judge them: one that was not made fails."""
    return [
        {**check, "passed": False} if check_state(check) is CheckState.NOT_MADE else check
        for check in checks
    ]


def describe_check(check: CheckResult) -> str:
    """One check for humans: ``p95 523ms (limit 500ms) failed``."""
    if check_state(check) is CheckState.NOT_MADE:
        effect = "fails the test (strict checks)" if not check["passed"] else "does not count"
        return f"{check['name']} not made, {NOT_MADE_WHY}: {effect}"
    outcome = "passed" if check["passed"] else "failed"
    return f"{check['name']} {check['value']}{against(check)} (limit {check['limit']}) {outcome}"


def against(check: Mapping[str, Any]) -> str:
    """A relative check's baseline and change: `` against 100ms (+20.0%)``; else nothing."""
    if "baseline" not in check:
        return ""
    delta = f" ({check['delta']})" if check.get("delta") else ""
    return f" against {check['baseline']}{delta}"


def failed_checks(checks: Sequence[CheckResult]) -> list[str]:
    """The names of the checks that failed the verdict (strictly, those not made too)."""
    return [check["name"] for check in checks if not check["passed"]]


def unmade_checks(checks: Sequence[CheckResult]) -> list[str]:
    """The names of the checks that could not be made."""
    return [check["name"] for check in checks if check_state(check) is CheckState.NOT_MADE]
