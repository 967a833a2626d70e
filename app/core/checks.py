"""The verdict policy: limits a test's final numbers must meet, judged on its summary.

Locust's exit code says whether Locust thinks a test passed; CI also wants limits Locust does
not know, such as a 95th percentile or a least throughput. They are settings (one codec each,
in app/core/settings.py: an annotation per pod, a cluster default in the ConfigMap, carried
to the controller and ``wait`` in the status annotation), and they are judged here, on the
finisher's summary, by the controller, which records the verdict, and by ``wait``, which may
see the test end before the controller has.

Each check reads one number of Locust's ``Aggregated`` row of ``/stats/requests``, as the
summary keeps it (:data:`CHECKS` says which). A number the summary does not hold (no summary,
a summary cut to its totals, a Locust that does not report that percentile) means the check
could not be made: its ``value`` is None and it does not fail the test, because a verdict
must come from numbers, never from their absence.

The verdict is ``failed`` when Locust exited non-zero or any check failed. It lives in our
annotations, label, Events and ``wait``'s exit code only: the pod's and the Job's phase stay
Locust's, so our code never turns a test Locust passed into a Failed pod.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.core.settings import (
    CHECK_AVG,
    CHECK_FAIL_RATIO,
    CHECK_P95,
    CHECK_P99,
    CHECK_RPS,
    FinishSettings,
    Setting,
)
from app.core.summary import CheckResult, Summary


def _fail_ratio(summary: Summary) -> float | None:
    """Failures over requests, as Locust's own ``fail_ratio`` (which the summary rounds)."""
    if "requests" not in summary or "failures" not in summary:
        return None
    requests, failures = summary["requests"], summary["failures"]
    if requests == 0:
        return 1.0 if failures > 0 else 0.0
    return failures / requests


def _field(key: str) -> Callable[[Summary], float | None]:
    def value_of(summary: Summary) -> float | None:
        value = summary.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    return value_of


def _plain(number: float) -> str:
    """Fixed point, never an exponent: what users write (``0.00001``, ``120000``)."""
    return f"{number:.6f}".rstrip("0").rstrip(".")


def _ms(milliseconds: float) -> str:
    return f"{_plain(milliseconds)}ms"


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

    def judge(self, limit: float, summary: Summary | None) -> CheckResult:
        """This check with ``limit`` on ``summary``."""
        show = _ms if self.in_ms else _plain
        value = None if summary is None else self.value_of(summary)
        if value is None:
            return CheckResult(
                name=self.name, limit=show(limit), value=None, passed=True, reads=self.reads
            )
        passed = value <= limit if self.at_most else value >= limit
        return CheckResult(
            name=self.name, limit=show(limit), value=show(value), passed=passed, reads=self.reads
        )


CHECKS: tuple[Check, ...] = (
    Check(
        "fail-ratio",
        CHECK_FAIL_RATIO,
        "Aggregated num_failures / num_requests (Locust's fail_ratio); at most the limit",
        _fail_ratio,
        at_most=True,
        in_ms=False,
    ),
    Check(
        "p95",
        CHECK_P95,
        "Aggregated response_time_percentile_0.95, over the whole test; at most the limit",
        _field("p95Ms"),
        at_most=True,
        in_ms=True,
    ),
    Check(
        "p99",
        CHECK_P99,
        "Aggregated response_time_percentile_0.99 (older Locust: ninety_ninth_response_time); "
        "at most the limit",
        _field("p99Ms"),
        at_most=True,
        in_ms=True,
    ),
    Check(
        "avg",
        CHECK_AVG,
        "Aggregated avg_response_time; at most the limit",
        _field("avgMs"),
        at_most=True,
        in_ms=True,
    ),
    Check(
        "rps",
        CHECK_RPS,
        "Aggregated total_rps (requests over first to last request); at least the limit",
        _field("rps"),
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
            results.append(check.judge(limit, summary))
    return results


def verdict(exit_code: int, checks: Sequence[CheckResult] = ()) -> str:
    """``passed`` when Locust exited 0 and no check failed, else ``failed``."""
    return "passed" if exit_code == 0 and all(c["passed"] for c in checks) else "failed"


def judge(
    exit_code: int, settings: FinishSettings, summary: Summary | None
) -> tuple[str, Summary | None]:
    """The verdict, and the summary carrying its checks (as it was when none could be made).

    Without a summary no check can be made, so the verdict is Locust's exit code.
    """
    checks = evaluate_checks(settings, summary)
    if summary is None or not checks:
        return verdict(exit_code), summary
    judged = summary.copy()
    judged["checks"] = checks
    return verdict(exit_code, checks), judged


def describe_check(check: CheckResult) -> str:
    """One check for humans: ``p95 523ms (limit 500ms) failed``."""
    if check["value"] is None:
        return f"{check['name']} not evaluated, its number is not in the summary"
    outcome = "passed" if check["passed"] else "failed"
    return f"{check['name']} {check['value']} (limit {check['limit']}) {outcome}"


def failed_checks(checks: Sequence[CheckResult]) -> list[str]:
    """The names of the checks that failed."""
    return [check["name"] for check in checks if not check["passed"]]
