"""A finished test as JSON, JUnit XML and Markdown: what CI tools show a user, passed or failed."""

import json
import re
from dataclasses import replace
from typing import Any

import pytest

from app.core.checks import judge
from app.core.load_test_status import summary_table
from app.core.results import (
    FinishedTest,
    document,
    encode_document,
    junit_xml,
    markdown,
    no_verdict,
    stats_of,
)
from app.core.settings import DEFAULT_SETTINGS
from app.core.summary import Summary
from tests.waiting.junit_schema import read_junit, validate_junit
from tests.waiting.summaries import summary


def finished(*, failing: bool = False, **changes: Any) -> FinishedTest:
    given: dict[str, Any] = {
        "passed": not failing,
        "exit_code": 0,
        "namespace": "loadtests",
        "pod": "checkout-master-x7k2p",
        "job": "checkout-master",
        "test": "checkout",
        "source": "controller annotations",
        "summary": summary(failing=failing),
    }
    return FinishedTest(**{**given, **changes})


# --- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize("failing", [False, True], ids=["passed", "failed"])
def test_the_json_document_carries_the_verdict_names_summary_and_checks(failing: bool) -> None:
    test = finished(failing=failing, exit_code=0)
    parsed = json.loads(encode_document(test))
    assert parsed["verdict"] == ("failed" if failing else "passed")
    assert parsed["exitCode"] == 0
    assert (parsed["test"], parsed["job"], parsed["pod"], parsed["namespace"]) == (
        "checkout",
        "checkout-master",
        "checkout-master-x7k2p",
        "loadtests",
    )
    assert parsed["summary"]["requests"] == 1000
    assert [c["passed"] for c in parsed["checks"]] == [True, not failing]
    assert parsed == document(test)


def test_without_a_summary_the_json_says_so_and_has_no_checks() -> None:
    parsed = json.loads(encode_document(finished(summary=None, job=None, test=None)))
    assert parsed["summary"] is None
    assert parsed["checks"] == []
    assert parsed["job"] is None


def test_the_stats_are_the_numbers_not_how_the_test_ended() -> None:
    stats = stats_of(summary(failing=True))
    assert stats is not None
    assert stats["requests"] == 1000
    assert stats["endpoints"][1]["failures"] == 20
    assert stats["errors"][0]["occurrences"] == 20
    for key in ("notes", "finalScrape", "exporter", "checks", "version"):
        assert key not in stats
    assert stats_of(None) is None


# --- JUnit -----------------------------------------------------------------------------------


def test_a_passing_verdict_has_no_failure_even_when_requests_failed() -> None:
    # Locust passed and the fail-ratio check allows 3%: 2% of requests failed, the test did not.
    allowing = [
        {"name": "fail-ratio", "limit": "0.03", "value": "0.02", "passed": True, "reads": "r"}
    ]
    test = finished(passed=True, summary=summary(failing=True, checks=allowing))
    report = read_junit(junit_xml(test))
    assert report.failing() == []
    assert (report.suite.tests, report.suite.failures, report.suite.errors) == (2, 0, 0)
    assert set(report.cases) == {"check fail-ratio", "locust exit code"}
    assert {report.outcome(name) for name in report.cases} == {"passed"}
    # The failed requests are still reported, as the suite's output.
    assert "POST /checkout: 400 requests, 20 failed (5.00%)" in report.output
    assert "error: POST /checkout: HTTPError('503') (20 times)" in report.output
    assert report.properties["verdict"] == "passed"
    assert report.properties["namespace"] == "loadtests"


def test_a_passing_test_is_a_green_suite_with_a_case_per_check_and_the_exit_code() -> None:
    report = read_junit(junit_xml(finished()))
    assert report.suite.name == "checkout"
    assert list(report.cases) == ["check p95", "check fail-ratio", "locust exit code"]
    assert {case.classname for case in report.cases.values()} == {"checkout"}
    assert report.failing() == []
    assert "GET /: 600 requests, 0 failed (0.00%), average 8 ms, p95 20 ms" in report.output


def test_a_failing_verdict_fails_exactly_the_check_that_failed_it() -> None:
    report = read_junit(junit_xml(finished(failing=True)))
    assert report.failing() == ["check fail-ratio"]
    assert report.message("check fail-ratio") == "fail-ratio: 0.02, limit 0.01"
    [failure] = report.cases["check fail-ratio"].result
    assert failure.text == "failures / requests over all request names"
    # The request name with failures is no testcase of its own: it did not decide the verdict.
    assert "POST /checkout" not in report.cases
    assert "POST /checkout: 400 requests, 20 failed (5.00%)" in report.output


def test_a_non_zero_exit_code_is_a_failing_case() -> None:
    report = read_junit(junit_xml(finished(failing=True, exit_code=1)))
    assert report.failing() == ["check fail-ratio", "locust exit code"]
    assert report.message("locust exit code") == "Locust exited 1"


def test_an_unrecorded_exit_code_is_skipped_and_counted() -> None:
    report = read_junit(junit_xml(finished(exit_code=None)))
    assert report.outcome("locust exit code") == "skipped"
    assert report.suite.skipped == 1


def test_a_failed_verdict_never_shows_as_a_green_report() -> None:
    # The controller said failed, but nothing here says why (the summary lost its checks).
    test = finished(failing=True, exit_code=0, summary=summary(checks=[]))
    report = read_junit(junit_xml(test))
    assert report.failing() == ["verdict"]
    assert "controller annotations" in report.message("verdict")


def test_without_a_summary_the_suite_still_has_the_exit_code_and_says_why() -> None:
    report = read_junit(junit_xml(finished(summary=None, exit_code=1, passed=False)))
    assert list(report.cases) == ["locust exit code"]
    assert report.failing() == ["locust exit code"]
    assert "no summary" in report.output


def test_request_names_are_escaped_and_characters_xml_cannot_carry_are_replaced() -> None:
    odd = '/search?q=<a href="x">&amp;\x00\x1b]'
    test = finished(failing=True)
    assert test.summary is not None
    test.summary["endpoints"][1]["name"] = odd
    test.summary["errors"][0]["name"] = odd
    report = read_junit(junit_xml(test))
    name = '/search?q=<a href="x">&amp;\ufffd\ufffd]'
    assert f"POST {name}: 400 requests" in report.output
    assert f"error: POST {name}: HTTPError" in report.output


def test_the_validator_refuses_counts_that_do_not_add_up() -> None:
    text = junit_xml(finished(failing=True)).replace('failures="1"', 'failures="2"', 1)
    with pytest.raises(AssertionError, match="failures"):
        validate_junit(text)
    with pytest.raises(AssertionError, match="not allowed"):
        validate_junit("<testsuites><testcase name='x'/></testsuites>")
    with pytest.raises(AssertionError, match="missing attributes"):
        validate_junit("<testsuite name='x'/>")


# --- Markdown --------------------------------------------------------------------------------


def test_a_passing_test_reads_as_passed_with_its_totals_and_busiest_names() -> None:
    page = markdown(finished())
    heading = page.splitlines()[0]
    assert heading == "## [PASS] Load test checkout: passed"
    assert "| 1000 | 0 (0.00%) | 10 ms | 41 ms | 12.5 ms | 250 ms | 33.3 req/s |" in page
    assert "| fail\\-ratio" not in page  # '-' needs no escape
    assert "| fail-ratio | pass | 0 | 0.01 |" in page
    assert "| POST /checkout | 400 | 0 | 1250 ms | 2000 ms |" in page
    assert "FAIL" not in page


def test_a_failing_test_reads_as_failed_and_names_the_failed_check() -> None:
    page = markdown(finished(failing=True, exit_code=1))
    assert page.splitlines()[0] == "## [FAIL] Load test checkout: failed"
    assert "Locust exit code 1" in page
    assert "| fail-ratio | FAIL | 0.02 | 0.01 |" in page
    assert "| 1000 | 20 (2.00%) |" in page


def test_a_request_name_cannot_break_the_table_or_inject_markup() -> None:
    test = finished()
    assert test.summary is not None
    test.summary["endpoints"][0]["name"] = "/a|b <script>*x*\nnext"
    row = next(line for line in markdown(test).splitlines() if "/a" in line)
    assert row.startswith("| GET /a\\|b \\<script\\>\\*x\\* next |")
    assert len(re.findall(r"(?<!\\)\|", row)) == 6  # five cells


def test_names_left_out_of_the_summary_are_counted() -> None:
    test = finished(summary=summary(leftOut={"endpoints": 495}))
    assert "495 more request names are not in the summary." in markdown(test)
    assert "495 more request names" in junit_xml(test)


def test_without_a_summary_the_page_still_has_the_verdict() -> None:
    page = markdown(finished(summary=None, passed=False, exit_code=None, source=""))
    assert page.startswith("## [FAIL] Load test checkout: failed\n")
    assert "Locust exit code not recorded" in page
    assert "No summary: the finisher left none." in page


def test_a_check_recorded_before_check_states_is_still_read_as_not_made() -> None:
    # A controller of 0.2.0 wrote no state: value null meant the check was not made.
    not_made = {"name": "p99", "limit": "800ms", "value": None, "passed": True, "reads": "p99"}
    test = finished(summary=summary(checks=[not_made]))
    report = read_junit(junit_xml(test))
    assert report.outcome("check p99") == "skipped"
    assert report.message("check p99").startswith("not made")
    assert "| p99 | not made | - | 800ms |" in markdown(test)
    assert json.loads(encode_document(test))["checks"][0]["state"] == "not-made"


# A hand-written `--headless` master serves no web UI: the finisher has no numbers at all.
NO_NUMBERS: Summary = {
    "version": 1,
    "notes": ["Locust's web UI did not answer, so there are no numbers"],
    "exporter": "none",
}


def judged(*, strict: bool) -> FinishedTest:
    """A test whose only check, fail-ratio 0.01, could not be made, judged as ``wait`` does."""
    settings = replace(DEFAULT_SETTINGS, check_fail_ratio=0.01, strict_checks=strict)
    result, judged_summary = judge(0, settings, NO_NUMBERS)
    return finished(passed=result == "passed", summary=judged_summary)


def test_a_check_that_could_not_be_made_shows_as_such_in_every_output() -> None:
    test = judged(strict=False)
    assert test.verdict == "passed"  # not strict: it does not count

    parsed = json.loads(encode_document(test))
    assert parsed["verdict"] == "passed"
    [check] = parsed["checks"]
    assert (check["name"], check["state"], check["value"], check["passed"]) == (
        "fail-ratio", "not-made", None, True,
    )  # fmt: skip

    report = read_junit(junit_xml(test))
    assert report.failing() == []
    assert report.outcome("check fail-ratio") == "skipped"
    assert "so it does not count" in report.message("check fail-ratio")
    assert "not made, so not counted: fail-ratio" in report.output

    page = markdown(test)
    assert page.startswith("## [PASS] Load test checkout: passed\n")
    assert "| fail-ratio | not made | - | 0.01 |" in page
    assert "**Not made, so not counted:** fail-ratio" in page
    assert "No numbers from Locust: Locust's web UI did not answer" in page
    assert "| requests |" not in page  # no table of zeros standing for numbers

    text = "\n".join(summary_table(test.summary))
    assert "check fail-ratio not made, the summary has no number for it: does not count" in text
    assert "warning: not made, so not counted: fail-ratio; --strict-checks would fail" in text


def test_strict_checks_fail_a_check_that_could_not_be_made_in_every_output() -> None:
    test = judged(strict=True)
    assert test.verdict == "failed"

    [check] = json.loads(encode_document(test))["checks"]
    assert (check["state"], check["passed"]) == ("not-made", False)

    report = read_junit(junit_xml(test))
    assert report.failing() == ["check fail-ratio"]
    assert report.message("check fail-ratio").startswith("fail-ratio: not made")
    assert "(strict checks)" in report.message("check fail-ratio")

    page = markdown(test)
    assert page.startswith("## [FAIL] Load test checkout: failed\n")
    assert "| fail-ratio | FAIL: not made (strict) | - | 0.01 |" in page
    assert "Not made, so not counted" not in page

    text = "\n".join(summary_table(test.summary))
    assert "check fail-ratio not made, the summary has no number for it: fails the test" in text
    assert "warning" not in text


NO_VERDICT = no_verdict(
    "timed out after 30m waiting for job/checkout-master to appear in namespace loadtests",
    "loadtests",
    None,
    "checkout-master",
    "checkout",
)


def test_without_a_verdict_every_format_says_error_and_why() -> None:
    parsed = json.loads(encode_document(NO_VERDICT))
    assert parsed["verdict"] == "error"
    assert parsed["error"].startswith("timed out after 30m waiting for job/checkout-master")
    assert (parsed["exitCode"], parsed["pod"], parsed["summary"]) == (None, None, None)
    assert parsed["checks"] == []

    report = read_junit(junit_xml(NO_VERDICT))
    assert (report.suite.tests, report.suite.errors, report.suite.failures) == (1, 1, 0)
    assert report.outcome("verdict") == "error"
    assert report.message("verdict").startswith("no verdict: timed out after 30m")
    assert "ended without a verdict (exit 2): timed out" in report.output
    assert report.properties["verdict"] == "error"

    page = markdown(NO_VERDICT)
    assert page.startswith("## [ERROR] Load test checkout: error\n")
    assert "No verdict (exit 2): timed out after 30m" in page
    assert "namespace loadtests, job checkout-master." in page


def test_a_verdict_is_never_an_error_without_a_reason() -> None:
    assert finished().verdict == "passed"
    assert finished(failing=True).verdict == "failed"
    assert json.loads(encode_document(finished()))["error"] is None


def test_the_99th_percentile_is_a_total_when_locust_reported_it() -> None:
    assert "| p99 |" not in markdown(finished())
    page = markdown(finished(summary=summary(p99Ms=180.0)))
    assert "| requests | failures | median | p95 | p99 | average | max | throughput |" in page
    assert "| 10 ms | 41 ms | 180 ms | 12.5 ms |" in page


# --- reasons ---------------------------------------------------------------------------------


def test_a_failed_verdicts_reason_is_in_the_json_junit_and_markdown() -> None:
    test = finished(failing=True, exit_code=1, reason="locust-exit")
    assert document(test)["reason"] == "locust-exit"
    report = read_junit(junit_xml(test))
    # Each failure's type is the reason it gives; the suite's property is the verdict's.
    assert [report.cases[name].result[0].type for name in report.failing()] == [
        "check:fail-ratio",
        "locust-exit",
    ]
    assert report.properties["reason"] == "locust-exit"
    page = markdown(test)
    assert "**Reason `locust-exit`**: Locust exited non-zero. Locust exit code 1" in page


def test_a_passed_verdict_has_no_reason_anywhere() -> None:
    test = finished()
    assert document(test)["reason"] is None
    assert "reason" not in read_junit(junit_xml(test)).properties
    assert "Reason" not in markdown(test)
