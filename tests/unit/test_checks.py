"""The verdict policy: limits set in annotations or the ConfigMap, judged on the summary."""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from app.core import names
from app.core.checks import evaluate_checks, judge
from app.core.cluster_config import ConfigError, InjectionConfig, parse_cluster_config
from app.core.inject import mutate_pod
from app.core.injection_status import read_status
from app.core.load_test_status import status_of_test
from app.core.settings import DEFAULT_SETTINGS, FinishSettings, resolve_settings
from app.core.summary import Summary, decode_summary, encode_summary, summarize_stats
from testkit.pod_fixtures import load_pod

# As summarize_stats keeps a test of 2000 requests, 30 failed, from Locust 2.x.
SUMMARY: Summary = {
    "version": 1,
    "requests": 2000,
    "failures": 30,
    "failRatio": 0.015,
    "avgMs": 120.5,
    "medianMs": 100.0,
    "p95Ms": 480.0,
    "p99Ms": 900.0,
    "rps": 48.5,
}


def limits(**annotations: str) -> FinishSettings:
    """The settings a pod with these check annotations gets (``p95="500ms"``)."""
    settings, warnings = resolve_settings(
        {f"{names.DOMAIN}/check-{k.replace('_', '-')}": v for k, v in annotations.items()},
        DEFAULT_SETTINGS,
    )
    assert warnings == []
    return settings


def outcome(settings: FinishSettings, summary: Summary | None = SUMMARY) -> list[tuple[Any, ...]]:
    return [
        (c["name"], c["limit"], c["value"], c["passed"]) for c in evaluate_checks(settings, summary)
    ]


# ---------------------------------------------------------------- each kind, on both sides


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"fail_ratio": "0.015"}, ("fail-ratio", "0.015", "0.015", True)),  # the limit passes
        ({"fail_ratio": "0.01"}, ("fail-ratio", "0.01", "0.015", False)),
        ({"p95": "480ms"}, ("p95", "480ms", "480ms", True)),
        ({"p95": "0.4s"}, ("p95", "400ms", "480ms", False)),
        ({"p99": "1s"}, ("p99", "1000ms", "900ms", True)),
        ({"p99": "899ms"}, ("p99", "899ms", "900ms", False)),
        ({"avg": "2m"}, ("avg", "120000ms", "120.5ms", True)),
        ({"avg": "120ms"}, ("avg", "120ms", "120.5ms", False)),
        ({"rps": "48.5"}, ("rps", "48.5", "48.5", True)),  # a least throughput
        ({"rps": "50"}, ("rps", "50", "48.5", False)),
    ],
)
def test_each_check_passes_at_its_limit_and_fails_beyond_it(
    annotations: dict[str, str], expected: tuple[Any, ...]
) -> None:
    settings = limits(**annotations)
    assert outcome(settings) == [expected]
    verdict, judged = judge(0, settings, SUMMARY)
    assert verdict == ("passed" if expected[3] else "failed")
    assert judged is not None
    assert judged["checks"][0]["reads"].startswith("Aggregated")


def test_the_fail_ratio_is_exact_not_the_rounded_one_in_the_summary() -> None:
    # 1 failure in 99,999 requests rounds to failRatio 0.0 in the summary, yet is above 0.
    summary: Summary = {"version": 1, "requests": 99_999, "failures": 1, "failRatio": 0.0}
    assert outcome(limits(fail_ratio="0"), summary) == [("fail-ratio", "0", "0.00001", False)]


def test_every_check_at_once_in_a_fixed_order_and_one_failure_fails_the_verdict() -> None:
    settings = limits(rps="10", avg="1s", p99="1s", p95="1s", fail_ratio="0.02")
    assert [c[0] for c in outcome(settings)] == ["fail-ratio", "p95", "p99", "avg", "rps"]
    assert judge(0, settings, SUMMARY)[0] == "passed"
    assert judge(0, limits(rps="10", p95="100ms"), SUMMARY)[0] == "failed"


def test_a_non_zero_exit_fails_whatever_the_checks_say() -> None:
    assert judge(1, limits(p95="1s"), SUMMARY)[0] == "failed"
    assert judge(1, DEFAULT_SETTINGS, SUMMARY) == ("failed", SUMMARY)


def test_without_checks_the_verdict_and_summary_are_as_before() -> None:
    assert judge(0, DEFAULT_SETTINGS, SUMMARY) == ("passed", SUMMARY)
    assert DEFAULT_SETTINGS.describe() == {
        "ttl": "auto",
        "waitForScrape": "auto",
        "maxWait": "5m",
        "strategy": "finisher",
    }


# ---------------------------------------------------------------- missing numbers


def test_a_number_the_summary_lacks_is_not_evaluated_and_does_not_fail() -> None:
    cut: Summary = {"version": 1, "requests": 2000, "failures": 30}  # cut to its totals
    settings = limits(p95="1ms", p99="1ms", avg="1ms", rps="1000", fail_ratio="0.5")
    assert outcome(settings, cut) == [
        ("fail-ratio", "0.5", "0.015", True),
        ("p95", "1ms", None, True),
        ("p99", "1ms", None, True),
        ("avg", "1ms", None, True),
        ("rps", "1000", None, True),
    ]
    assert judge(0, settings, cut)[0] == "passed"


def test_without_a_summary_no_check_is_made_and_the_exit_code_decides() -> None:
    settings = limits(p95="1ms")
    assert outcome(settings, None) == [("p95", "1ms", None, True)]
    result, judged = judge(0, settings, None, "no finisher in the pod")
    assert result == "passed"
    # The check is still recorded, as not made, with why there are no numbers.
    assert judged is not None
    assert judged["notes"] == ["no finisher in the pod"]
    assert [(c["name"], c.get("state")) for c in judged["checks"]] == [("p95", "not-made")]
    assert judge(2, settings, None)[0] == "failed"


def test_strict_checks_fail_a_check_that_could_not_be_made() -> None:
    strict = strict_limits(p95="1ms", fail_ratio="0.5")
    cut: Summary = {"version": 1, "requests": 2000, "failures": 30}  # no p95 in it
    assert outcome(strict, cut) == [
        ("fail-ratio", "0.5", "0.015", True),
        ("p95", "1ms", None, False),
    ]
    assert judge(0, strict, cut)[0] == "failed"
    assert judge(0, strict, None)[0] == "failed"
    # Every check made and passed: strict changes nothing.
    assert judge(0, strict_limits(p95="1s"), SUMMARY)[0] == "passed"


def test_strict_checks_alone_are_no_check() -> None:
    assert judge(0, strict_limits(), None) == ("passed", None)


def strict_limits(**annotations: str) -> FinishSettings:
    settings, warnings = resolve_settings(
        {names.STRICT_CHECKS_ANNOTATION: "true"}, limits(**annotations)
    )
    assert warnings == []
    assert settings.strict_checks
    return settings


@pytest.mark.parametrize(
    ("value", "warning"),
    [
        ("True", None),
        ("false", None),
        ("yes", "locust-finisher.io/strict-checks: 'yes' is not true or false; using the default "
                "true"),
    ],
)  # fmt: skip
def test_the_strict_checks_annotation_over_a_strict_cluster(
    value: str, warning: str | None
) -> None:
    cluster = parse_cluster_config({"checks": {"strict": True, "p95": "1s"}}, InjectionConfig())
    assert cluster.defaults.strict_checks
    settings, warnings = resolve_settings({names.STRICT_CHECKS_ANNOTATION: value}, cluster.defaults)
    assert settings.strict_checks is (value != "false")
    assert [said.text for said in warnings] == ([warning] if warning else [])


def test_strict_checks_reach_the_controller_and_wait_through_the_status_annotation() -> None:
    pod = load_pod("operator-go-2.2-master")
    annotations = pod["metadata"].setdefault("annotations", {})
    annotations[names.CHECK_P95_ANNOTATION] = "500ms"
    annotations[names.STRICT_CHECKS_ANNOTATION] = "true"
    mutation = mutate_pod(pod, InjectionConfig())
    assert mutation.warnings == []
    status = read_status({names.STATUS_ANNOTATION: _status_written(mutation.ops)})
    assert status is not None
    assert status.settings.strict_checks
    assert status.settings.check_p95_seconds == 0.5


def test_a_percentile_locust_did_not_report_is_absent_not_zero() -> None:
    # A locustfile may change PERCENTILES_TO_STATISTICS; then 0.95 is not in the row.
    total = {"name": "Aggregated", "num_requests": 10, "response_time_percentile_0.5": 3}
    summary = summarize_stats({"stats": [total]})
    assert "p95Ms" not in summary
    assert "p99Ms" not in summary
    assert outcome(limits(p95="1ms"), summary) == [("p95", "1ms", None, True)]


def test_p99_comes_from_locusts_percentile_field_or_its_older_name() -> None:
    new = {
        "name": "Aggregated",
        "response_time_percentile_0.99": 870,
        "ninety_ninth_response_time": 1,
    }
    old = {"name": "Aggregated", "ninety_ninth_response_time": 910}
    assert summarize_stats({"stats": [new]})["p99Ms"] == 870.0
    assert summarize_stats({"stats": [old]})["p99Ms"] == 910.0


def test_checks_survive_a_summary_cut_to_its_totals() -> None:
    summary: Summary = {**SUMMARY, "exporter": "x" * 5000}  # nothing left to cut but totals
    judged = judge(0, limits(p95="1s", fail_ratio="0"), summary)[1]
    assert judged is not None
    decoded = decode_summary(encode_summary(judged))
    assert decoded is not None
    assert {"checks", "failures", "requests", "version"} <= set(decoded)
    assert "exporter" not in decoded, "what does not fit is left out"
    assert [c["name"] for c in decoded["checks"]] == ["fail-ratio", "p95"]


# ---------------------------------------------------------------- bad values never block a pod


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (names.CHECK_FAIL_RATIO_ANNOTATION, "1%"),
        (names.CHECK_FAIL_RATIO_ANNOTATION, "1.5"),
        (names.CHECK_FAIL_RATIO_ANNOTATION, "nan"),
        (names.CHECK_FAIL_RATIO_ANNOTATION, "-0.1"),
        (names.CHECK_P95_ANNOTATION, "fast"),
        (names.CHECK_P99_ANNOTATION, "-1s"),
        (names.CHECK_AVG_ANNOTATION, "9" * 400),
        (names.CHECK_RPS_ANNOTATION, "1e3"),
        (names.CHECK_RPS_ANNOTATION, "inf"),
    ],
)
def test_a_bad_check_annotation_is_a_warning_and_no_check(annotation: str, value: str) -> None:
    pod = load_pod("operator-go-2.2-master")
    pod["metadata"].setdefault("annotations", {})[annotation] = value
    mutation = mutate_pod(pod, InjectionConfig())
    assert mutation.decision == "mutate", "never a refused pod"
    [warning] = mutation.warnings
    assert warning.startswith(f"{annotation}: ")
    assert warning.endswith("; no check")
    assert len(warning) <= 120
    status = read_status({names.STATUS_ANNOTATION: _status_written(mutation.ops)})
    assert status is not None
    assert status.settings == DEFAULT_SETTINGS


def test_a_bad_annotation_keeps_the_clusters_default_check() -> None:
    defaults = parse_cluster_config({"checks": {"p95": "500ms"}}, InjectionConfig()).defaults
    settings, [warning] = resolve_settings({names.CHECK_P95_ANNOTATION: "soon"}, defaults)
    assert settings.check_p95_seconds == 0.5
    assert warning.text.endswith("using the default 0.5s")


def _status_written(ops: Sequence[Mapping[str, Any]]) -> str:
    """The status annotation the webhook's ops write (in the whole map, or as one key)."""
    for op in ops:
        if op["path"] == "/metadata/annotations":
            return str(op["value"][names.STATUS_ANNOTATION])
        if op["path"].endswith("locust-finisher.io~1status"):
            return str(op["value"])
    raise AssertionError("no status annotation written")


# ---------------------------------------------------------------- cluster defaults


def test_cluster_defaults_reach_the_pod_and_the_controller_through_the_status() -> None:
    config = parse_cluster_config(
        {"ttl": "45s", "checks": {"failRatio": 0.01, "p95": "500ms", "rps": 20}}, InjectionConfig()
    )
    pod = load_pod("operator-go-2.2-master")
    pod["metadata"].setdefault("annotations", {}).update(
        {names.CHECK_P95_ANNOTATION: "750ms", names.CHECK_RPS_ANNOTATION: "none"}
    )
    mutation = mutate_pod(pod, config)
    assert mutation.warnings == []
    written = json.loads(_status_written(mutation.ops))
    assert {k: v for k, v in written.items() if k.startswith("checks.")} == {
        "checks.failRatio": "0.01",
        "checks.p95": "0.75s",  # the pod's own; rps: none turned the cluster's off
    }
    status = read_status({names.STATUS_ANNOTATION: _status_written(mutation.ops)})
    assert status is not None
    assert (status.settings.check_fail_ratio, status.settings.check_p95_seconds) == (0.01, 0.75)
    assert status.settings.check_rps is None
    assert status.settings.ttl_seconds == 45


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ({"p95": "soon"}, "checks.p95: 'soon' is not a duration like 500ms, or none"),
        ({"failRatio": 2}, "checks.failRatio: 2 is not a ratio from 0 to 1 like 0.01, or none"),
        ({"rps": True}, "checks.rps: true is not requests per second like 50, or none"),
        ({"p90": "1s"}, "checks: unknown key 'p90' (known: failRatio, p95, p99, avg, rps, p95R"),
        (["p95"], "checks must be a mapping of failRatio, p95, p99, avg, rps"),
    ],
)
def test_a_bad_cluster_default_is_refused_naming_it(checks: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cluster_config({"checks": checks}, InjectionConfig())
    assert str(caught.value).startswith(message)


def test_an_empty_checks_key_sets_nothing() -> None:
    assert parse_cluster_config({"checks": None}, InjectionConfig()) == InjectionConfig()


# ---------------------------------------------------------------- wait sees the same verdict


def _finished_pod(exit_code: int, checks: dict[str, str], annotations: dict[str, str]) -> Any:
    status = {"masterContainer": "m", "exporterContainer": "e", **checks}
    done = {"terminated": {"exitCode": 0, "message": json.dumps(SUMMARY)}}
    return {
        "metadata": {
            "name": "p",
            "uid": "uid-p",
            "annotations": {names.STATUS_ANNOTATION: json.dumps(status), **annotations},
        },
        "spec": {"containers": [{"name": "m", "args": ["--master"]}]},
        "status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {"name": names.FINISHER_CONTAINER, "state": done},
                {"name": "m", "state": {"terminated": {"exitCode": exit_code}}},
            ],
        },
    }


def test_wait_judges_the_checks_itself_when_the_controller_has_not_reported() -> None:
    status = status_of_test(_finished_pod(0, {"checks.p95": "400ms"}, {}))
    assert (status.finished, status.passed, status.exit_code) == (True, False, 0)
    assert status.summary is not None
    assert status.summary["checks"][0] == {
        "name": "p95",
        "limit": "400ms",
        "value": "480ms",
        "passed": False,
        "reads": status.summary["checks"][0]["reads"],
        "state": "failed",
    }
    assert status_of_test(_finished_pod(0, {"checks.p95": "500ms"}, {})).passed is True


def test_wait_trusts_a_recorded_failed_verdict_over_locusts_exit_code_0() -> None:
    recorded = {
        names.RESULT_ANNOTATION: "failed",
        names.RESULT_OF_ANNOTATION: "uid-p",
        names.EXIT_CODE_ANNOTATION: "0",
        names.SUMMARY_ANNOTATION: json.dumps(SUMMARY),
    }
    status = status_of_test(_finished_pod(0, {}, recorded))
    assert (status.passed, status.exit_code, status.source) == (False, 0, "controller annotations")
