"""One stable reason for each failed verdict, the first that applies, the same everywhere."""

from typing import Any

import pytest

from app.core.reasons import Reason, ReasonKind, never_started, parse_reason, reason_of
from app.core.summary import CheckResult, CheckState


def check(name: str, state: CheckState) -> CheckResult:
    return CheckResult(
        name=name,
        limit="1",
        value=None if state is CheckState.NOT_MADE else "2",
        passed=state is CheckState.PASSED,
        reads="",
        state=state,
    )


FAILED, PASSED, NOT_MADE = CheckState.FAILED, CheckState.PASSED, CheckState.NOT_MADE


@pytest.mark.parametrize(
    ("exit_code", "checks", "has_numbers", "started", "code"),
    [
        (0, [], True, True, None),
        (0, [check("p95", PASSED), check("p95-regression", PASSED)], True, True, None),
        (128, [check("p95", FAILED)], False, False, "master-never-started"),
        (1, [check("p95", FAILED)], True, True, "locust-exit"),
        # Strict checks with nothing to judge them on.
        (0, [check("p95", PASSED), check("rps", NOT_MADE)], False, True, "no-numbers"),
        # With numbers, a strict check Locust gave no number for fails as that check.
        (0, [check("p99", NOT_MADE)], True, True, "check:p99"),
        (
            0,
            [check("p95", PASSED), check("rps", FAILED), check("avg", FAILED)],
            True,
            True,
            "check:rps",
        ),
        # An absolute check before a relative one, whatever their order.
        (
            0,
            [check("p95-regression", FAILED), check("fail-ratio", FAILED)],
            True,
            True,
            "check:fail-ratio",
        ),
        (0, [check("p95", PASSED), check("p95-regression", FAILED)], True, True, "regression:p95"),
        (0, [check("fail-ratio-increase", FAILED)], True, True, "regression:fail-ratio"),
    ],
)
def test_the_first_reason_that_applies(
    exit_code: int, checks: list[CheckResult], has_numbers: bool, started: bool, code: str | None
) -> None:
    reason = reason_of(exit_code, checks, has_numbers=has_numbers, master_started=started)
    assert (reason.code if reason else None) == code
    if reason is not None:
        assert parse_reason(reason.code) == reason, "what is written reads back"


def test_a_check_name_no_one_of_ours_wrote_is_not_carried_into_the_code() -> None:
    forged = check("p95 </failure>", FAILED)
    reason = reason_of(0, [forged], has_numbers=True)
    assert reason == Reason(ReasonKind.CHECK, "unnamed")


@pytest.mark.parametrize(
    "text",
    [None, 3, "", "oops", "check", "check:", "locust-exit:p95", "check:P95", "check:" + "a" * 60],
)
def test_what_is_not_a_reason_code_is_none(text: Any) -> None:
    assert parse_reason(text) is None


def test_a_container_the_runtime_never_started() -> None:
    assert never_started({"exitCode": 128, "reason": "StartError"})
    assert not never_started({"exitCode": 1, "reason": "Error"})
    assert not never_started({})


def test_each_reason_says_what_it_means() -> None:
    assert Reason(ReasonKind.REGRESSION, "p95").meaning == "p95 regressed against the baseline"
    assert str(Reason(ReasonKind.LOCUST_EXIT)) == "locust-exit"
