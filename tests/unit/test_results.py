"""A finished test as JSON, JUnit XML and Markdown: what CI tools show a user, passed or failed."""

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from app.core.results import (
    FinishedTest,
    document,
    encode_document,
    junit_xml,
    markdown,
    stats_of,
)
from tests.waiting.junit_schema import validate_junit
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


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.attrib["name"]: case for case in root.iter("testcase")}


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


def test_a_passing_test_is_a_green_suite_with_a_case_per_request_name_and_check() -> None:
    root = validate_junit(junit_xml(finished()))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib["name"] == "checkout"
    assert (suite.attrib["tests"], suite.attrib["failures"]) == ("5", "0")
    found = cases(root)
    assert set(found) == {"GET /", "POST /checkout", "check p95", "check fail-ratio",
                          "locust exit code"}  # fmt: skip
    assert {case.attrib["classname"] for case in found.values()} == {"checkout"}
    # A request name's time is its average response time, in seconds.
    assert found["POST /checkout"].attrib["time"] == "1.250"
    assert found["GET /"].attrib["time"] == "0.008"
    assert not list(root.iter("failure"))
    properties = {p.attrib["name"]: p.attrib["value"] for p in root.iter("property")}
    assert properties["verdict"] == "passed"
    assert properties["namespace"] == "loadtests"


def test_a_failing_test_fails_the_request_name_and_the_check_that_failed() -> None:
    root = validate_junit(junit_xml(finished(failing=True)))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib["failures"] == "2"
    assert root.attrib["failures"] == "2"
    found = cases(root)
    request_failure = found["POST /checkout"].find("failure")
    assert request_failure is not None
    assert request_failure.attrib["message"] == "20 of 400 requests failed (5.00%)"
    assert "HTTPError('503') (20 times)" in (request_failure.text or "")
    check_failure = found["check fail-ratio"].find("failure")
    assert check_failure is not None
    assert check_failure.attrib["message"] == "fail-ratio: 0.02, limit 0.01"
    assert check_failure.text == "failures / requests over all request names"
    assert found["GET /"].find("failure") is None
    assert found["locust exit code"].find("failure") is None


def test_a_non_zero_exit_code_is_a_failing_case() -> None:
    root = validate_junit(junit_xml(finished(failing=True, exit_code=1)))
    failure = cases(root)["locust exit code"].find("failure")
    assert failure is not None
    assert failure.attrib["message"] == "Locust exited 1"


def test_an_unrecorded_exit_code_is_skipped_and_counted() -> None:
    root = validate_junit(junit_xml(finished(exit_code=None)))
    assert cases(root)["locust exit code"].find("skipped") is not None
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib["skipped"] == "1"


def test_a_failed_verdict_never_shows_as_a_green_report() -> None:
    # The controller said failed, but nothing here says why (the summary lost its checks).
    test = finished(failing=True, exit_code=0, summary=summary(checks=[]))
    root = validate_junit(junit_xml(test))
    failure = cases(root)["verdict"].find("failure")
    assert failure is not None
    assert "controller annotations" in failure.attrib["message"]


def test_without_a_summary_the_suite_still_has_the_exit_code_and_says_why() -> None:
    root = validate_junit(junit_xml(finished(summary=None, exit_code=1, passed=False)))
    assert list(cases(root)) == ["locust exit code"]
    assert "no summary" in (root.findtext("testsuite/system-out") or "")


def test_request_names_are_escaped_and_characters_xml_cannot_carry_are_replaced() -> None:
    odd = '/search?q=<a href="x">&amp;\x00\x1b]'
    test = finished(failing=True)
    assert test.summary is not None
    test.summary["endpoints"][1]["name"] = odd
    test.summary["errors"][0]["name"] = odd
    root = validate_junit(junit_xml(test))
    name = '/search?q=<a href="x">&amp;\ufffd\ufffd]'
    assert f"POST {name}" in cases(root)
    assert "HTTPError" in (cases(root)[f"POST {name}"].findtext("failure") or "")


def test_the_validator_refuses_counts_that_do_not_add_up() -> None:
    text = junit_xml(finished(failing=True)).replace('failures="2"', 'failures="1"', 1)
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


def test_a_check_that_could_not_be_made_is_skipped_not_passed() -> None:
    # No p99 from this Locust: the check has no value, and does not fail the test.
    not_made = {"name": "p99", "limit": "800ms", "value": None, "passed": True, "reads": "p99"}
    test = finished(summary=summary(checks=[not_made]))
    root = validate_junit(junit_xml(test))
    skipped = cases(root)["check p99"].find("skipped")
    assert skipped is not None
    assert skipped.attrib["message"].startswith("not made")
    assert "| p99 | not made | - | 800ms |" in markdown(test)


def test_the_99th_percentile_is_a_total_when_locust_reported_it() -> None:
    assert "| p99 |" not in markdown(finished())
    page = markdown(finished(summary=summary(p99Ms=180.0)))
    assert "| requests | failures | median | p95 | p99 | average | max | throughput |" in page
    assert "| 10 ms | 41 ms | 180 ms | 12.5 ms |" in page
