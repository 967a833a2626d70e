"""Comparing a run with a baseline: deltas, relative checks with their least change, flags."""

from typing import Any, cast

import pytest

from app.core import names
from app.core.against import (
    BaselineRefusedError,
    judged_against,
    strict_refusal,
    summary_of_document,
)
from app.core.compare import comparable, compare, relative_checks
from app.core.results import FinishedTest
from app.core.setting_codecs import (
    SettingError,
    fail_ratio_increase_value,
    latency_regression_value,
    rps_regression_value,
)
from app.core.settings import (
    CHECK_AVG_REGRESSION,
    CHECK_FAIL_RATIO_INCREASE,
    CHECK_P95_REGRESSION,
    CHECK_P99_REGRESSION,
    CHECK_RPS_REGRESSION,
    FinishSettings,
    Setting,
    read_settings,
    resolve_settings,
)
from app.core.summary import CheckState, Summary

RUN = {"test": "shop", "users": 50, "spawnRate": 5, "runTimeSeconds": 120, "locustVersion": "2.32"}


def run(**numbers: Any) -> Summary:
    document: dict[str, Any] = {"version": 1, "requests": 1000, "failures": 0, "run": RUN}
    return cast(Summary, document | numbers)


def settings(**limits: str) -> FinishSettings:
    values = {f"check-{name.replace('_', '-')}": text for name, text in limits.items()}
    found, rejected = read_settings(values, lambda s: s.option)
    assert not rejected
    return found


def only(checks: list[Any]) -> Any:
    [check] = checks
    return check


def test_a_latency_that_rose_more_than_its_share_fails_with_baseline_and_change() -> None:
    check = only(relative_checks(settings(p95_regression="10%"), run(p95Ms=100), run(p95Ms=130)))
    assert (check["name"], check["state"], check["passed"]) == (
        "p95-regression",
        CheckState.FAILED,
        False,
    )
    assert (check["value"], check["baseline"], check["delta"]) == ("130ms", "100ms", "+30.0%")
    assert check["limit"] == "10% min 5ms"


def test_a_rise_within_its_share_passes() -> None:
    check = only(relative_checks(settings(p95_regression="10%"), run(p95Ms=100), run(p95Ms=109)))
    assert check["state"] is CheckState.PASSED


def test_noise_below_the_least_change_never_fails_however_large_in_percent() -> None:
    # 2 ms to 2.8 ms is +40%, but under the default least change of 5 ms.
    check = only(relative_checks(settings(avg_regression="10%"), run(avgMs=2), run(avgMs=2.8)))
    assert check["state"] is CheckState.PASSED
    assert check["delta"] == "+40.0%"
    assert only(relative_checks(settings(avg_regression="10%"), run(avgMs=2), run(avgMs=6)))[
        "passed"
    ]
    # A rise counts once the least change is set at or below it.
    tight = settings(avg_regression="10% min 1ms")
    assert only(relative_checks(tight, run(avgMs=2), run(avgMs=3)))["passed"] is False


def test_throughput_fails_when_it_dropped_not_when_it_rose() -> None:
    limit = settings(rps_regression="20%")
    assert only(relative_checks(limit, run(rps=100), run(rps=70)))["passed"] is False
    assert only(relative_checks(limit, run(rps=100), run(rps=85)))["passed"] is True
    assert only(relative_checks(limit, run(rps=100), run(rps=300)))["passed"] is True
    # A drop from 3 to 2 req/s is a third, but below the least change of 1 req/s... at it:
    assert only(relative_checks(limit, run(rps=3), run(rps=2.5)))["passed"] is True


def test_the_failure_ratio_may_rise_by_points() -> None:
    limit = settings(fail_ratio_increase="0.5pp")
    failed = only(relative_checks(limit, run(failures=10), run(failures=20)))
    assert (failed["passed"], failed["delta"], failed["value"]) == (False, "+1.00pp", "2%")
    assert only(relative_checks(limit, run(failures=10), run(failures=14)))["passed"] is True
    # Below the least change of 0.1pp, even with no increase allowed at all.
    none_allowed = settings(fail_ratio_increase="0pp")
    assert only(relative_checks(none_allowed, run(failures=0), run(failures=0)))["passed"]
    many = {"requests": 10_000}
    below = relative_checks(none_allowed, run(**many, failures=100), run(**many, failures=105))
    assert only(below)["passed"] is True  # +0.05pp
    at = relative_checks(none_allowed, run(**many, failures=100), run(**many, failures=110))
    assert only(at)["passed"] is False  # +0.1pp: the least change counts


def test_without_a_baseline_a_relative_check_is_not_made_even_strictly() -> None:
    strict = FinishSettings(**{**settings(p95_regression="10%").__dict__, "strict_checks": True})
    check = only(relative_checks(strict, None, run(p95Ms=900)))
    assert (check["state"], check["passed"], check["value"]) == (CheckState.NOT_MADE, True, "900ms")
    assert "delta" not in check


@pytest.mark.parametrize("side", ["baseline", "current"])
def test_a_number_missing_on_either_side_is_not_made(side: str) -> None:
    limit = settings(p99_regression="10%")
    with_p99, without = run(p99Ms=100), run()
    baseline, current = (without, with_p99) if side == "baseline" else (with_p99, without)
    check = only(relative_checks(limit, baseline, current))
    assert (check["state"], check["passed"]) == (CheckState.NOT_MADE, True)
    strict = FinishSettings(**{**limit.__dict__, "strict_checks": True})
    assert only(relative_checks(strict, baseline, current))["passed"] is False


def test_no_relative_check_set_judges_nothing() -> None:
    assert relative_checks(FinishSettings(), run(p95Ms=1), run(p95Ms=1000)) == []


def test_other_metadata_is_flagged_and_unknown_metadata_flagged_but_not_a_difference() -> None:
    other = run(run={**RUN, "users": 100, "runTimeSeconds": 300})
    unknown = run(run={"test": "shop"})
    assert comparable(RUN, other["run"]) == ["users", "runTimeSeconds"]  # type: ignore[arg-type]
    assert comparable(RUN, unknown["run"]) == []  # type: ignore[arg-type]
    flagged = compare(run(), other)["differences"]
    assert [(d["field"], d["baseline"], d["current"]) for d in flagged] == [
        ("users", "50", "100"),
        ("runTimeSeconds", "120", "300"),
    ]
    missing = compare(run(), unknown)["differences"]
    assert {d["field"] for d in missing} == {
        "users",
        "spawnRate",
        "runTimeSeconds",
        "locustVersion",
    }
    assert all(d["current"] is None for d in missing)
    assert strict_refusal(compare(run(), unknown)) is None
    refusal = strict_refusal(compare(run(), other))
    assert refusal is not None
    assert "users 50 -> 100" in refusal
    assert "run time 120 -> 300" in refusal


def test_every_number_has_its_change() -> None:
    numbers = {n["key"]: n for n in compare(run(p95Ms=100), run(p95Ms=150))["numbers"]}
    assert (numbers["p95Ms"]["delta"], numbers["p95Ms"]["relative"]) == (50.0, 0.5)
    assert numbers["p99Ms"]["baseline"] is None
    assert numbers["p99Ms"]["delta"] is None
    assert numbers["requests"]["relative"] == 0.0


@pytest.mark.parametrize(
    ("setting", "text", "shown"),
    [
        (CHECK_P95_REGRESSION, "10%", "10% min 5ms"),
        (CHECK_P95_REGRESSION, " 12.5% min 20ms ", "12.5% min 20ms"),
        (CHECK_P99_REGRESSION, "10% min 1.5s", "10% min 1500ms"),
        (CHECK_RPS_REGRESSION, "20%", "20% min 1"),
        (CHECK_RPS_REGRESSION, "20% min 5", "20% min 5"),
        (CHECK_FAIL_RATIO_INCREASE, "0.5pp", "0.5pp min 0.1pp"),
        (CHECK_FAIL_RATIO_INCREASE, "0pp min 0.25pp", "0pp min 0.25pp"),
        (CHECK_AVG_REGRESSION, "none", "none"),
    ],
)
def test_each_codec_writes_what_it_reads(setting: Setting, text: str, shown: str) -> None:
    value = setting.parse(text)
    assert setting.format(value) == shown
    assert setting.parse(shown) == value


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (latency_regression_value, "10"),
        (latency_regression_value, "ten%"),
        (latency_regression_value, "-5%"),
        (latency_regression_value, "1e3%"),
        (latency_regression_value, "10% min soon"),
        (latency_regression_value, "10% max 5ms"),
        (rps_regression_value, "101%"),
        (rps_regression_value, 20),
        (fail_ratio_increase_value, "0.5%"),
        (fail_ratio_increase_value, "0.5pp min 1ms"),
        (fail_ratio_increase_value, "x" * 10_000),
    ],
)
def test_a_bad_limit_is_refused_saying_what_would_do(parse: Any, text: object) -> None:
    with pytest.raises(SettingError) as refused:
        parse(text)
    assert "like" in str(refused.value)
    assert len(str(refused.value)) < 120


def test_a_bad_annotation_is_a_warning_and_no_check() -> None:
    found, [warning] = resolve_settings(
        {names.CHECK_P95_REGRESSION_ANNOTATION: "lots"}, FinishSettings()
    )
    assert found.check_p95_regression is None
    assert warning.setting == names.CHECK_P95_REGRESSION_ANNOTATION
    assert warning.instead == "no check"


def test_the_settings_describe_a_relative_check_only_when_set() -> None:
    assert "checks.p95Regression" not in FinishSettings().describe()
    described = settings(p95_regression="10%", fail_ratio_increase="0.5pp").describe()
    assert described["checks.p95Regression"] == "10% min 5ms"
    assert described["checks.failRatioIncrease"] == "0.5pp min 0.1pp"


def finished(passed: bool, exit_code: int, summary: Summary) -> FinishedTest:
    return FinishedTest(passed, exit_code, "ns", "pod", "t-master", "t", summary=summary)


def test_a_regression_fails_a_test_locust_passed_and_says_against_what() -> None:
    current = run(p95Ms=200)
    judged = judged_against(
        finished(True, 0, current), settings(p95_regression="10%"), run(p95Ms=100), "base.json"
    )
    assert judged.passed is False
    assert judged.baseline == "base.json"
    assert judged.comparison is not None
    assert judged.summary is not None
    assert judged.summary["baseline"]["numbers"]["p95Ms"] == 100
    assert [c["name"] for c in judged.checks] == ["p95-regression"]


def test_the_baseline_never_passes_a_test_locust_failed() -> None:
    judged = judged_against(
        finished(False, 1, run(p95Ms=100)), settings(p95_regression="10%"), run(p95Ms=100), "b"
    )
    assert judged.passed is False


def test_a_recorded_relative_check_is_judged_again_against_the_baseline_asked_for() -> None:
    # The controller failed it against the previous run; CI's baseline says it did not regress.
    recorded = relative_checks(settings(p95_regression="10%"), run(p95Ms=50), run(p95Ms=100))
    assert recorded[0]["passed"] is False
    current = run(p95Ms=100, checks=recorded)
    judged = judged_against(
        finished(False, 0, current), settings(p95_regression="10%"), run(p95Ms=98), "b"
    )
    assert judged.passed is True
    assert [c.get("baseline") for c in judged.checks] == ["98ms"]


def test_strict_baseline_refuses_a_run_of_another_load() -> None:
    other = run(p95Ms=100, run={**RUN, "users": 5})
    with pytest.raises(BaselineRefusedError, match="users 5 -> 50"):
        judged_against(
            finished(True, 0, run(p95Ms=100)), FinishSettings(), other, "b", strict_baseline=True
        )


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ([1, 2], "is not a JSON object"),
        ({"verdict": "error", "summary": None, "error": "timed out"}, "timed out"),
        ({"hello": "world"}, "is not a summary.json"),
    ],
)
def test_a_file_that_holds_no_run_is_refused(document: Any, error: str) -> None:
    with pytest.raises(BaselineRefusedError, match=error):
        summary_of_document(document)


def test_a_wait_document_and_a_bare_summary_both_hold_a_run() -> None:
    assert summary_of_document({"verdict": "passed", "summary": run(p95Ms=3)})["p95Ms"] == 3
    assert summary_of_document(run(p95Ms=4))["p95Ms"] == 4
