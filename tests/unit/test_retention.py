"""Retention: which setting applies to a finished test's Job, and how the Job's TTL is changed."""

from typing import Any

import pytest

from app.core import names
from app.core.cluster_config import ConfigError, InjectionConfig, parse_cluster_config
from app.core.injection_status import InjectionStatus, read_status
from app.core.retention import (
    TTL_0_KEPT_SECONDS,
    Resolved,
    Retention,
    hold,
    recorded_verdict,
    resolve_retention,
    settle,
)
from app.core.setting_codecs import KEEP_FOREVER
from app.core.settings import (
    DEFAULT_SETTINGS,
    KEEP_FAILED,
    KEEP_PASSED,
    FinishSettings,
    resolve_settings,
)

PASSED = names.KEEP_PASSED_ANNOTATION
FAILED = names.KEEP_FAILED_ANNOTATION
CLUSTER = FinishSettings(keep_passed_seconds=60.0, keep_failed_seconds=KEEP_FOREVER)
BASE = InjectionConfig()


# ------------------------------------------------------------------ the settings themselves


def test_a_pods_annotations_reach_the_status_and_read_back() -> None:
    settings, warnings = resolve_settings({PASSED: "0s", FAILED: "forever"}, DEFAULT_SETTINGS)
    assert warnings == []
    assert (settings.keep_passed_seconds, settings.keep_failed_seconds) == (0.0, KEEP_FOREVER)
    described = settings.describe()
    assert (described["retention.passed"], described["retention.failed"]) == ("0s", "forever")
    status = InjectionStatus(settings, "m", "e", False).encode()
    read = read_status({names.STATUS_ANNOTATION: status})
    assert read is not None
    assert read.settings == settings


def test_unset_retention_is_not_in_the_status() -> None:
    assert not any(key.startswith("retention") for key in DEFAULT_SETTINGS.describe())


def test_a_bad_pod_annotation_warns_and_leaves_the_cluster_default() -> None:
    settings, warnings = resolve_settings({FAILED: "a while"}, CLUSTER)
    assert settings.keep_failed_seconds == KEEP_FOREVER
    assert len(warnings) == 1
    assert FAILED in warnings[0].text
    assert "forever" in warnings[0].text
    assert "namespace" in warnings[0].text, "says the namespace's default may apply"


def test_the_configmap_sets_cluster_defaults_in_a_retention_section() -> None:
    config = parse_cluster_config({"retention": {"passed": "1h", "failed": "forever"}}, BASE)
    assert config.defaults.keep_passed_seconds == 3600.0
    assert config.defaults.keep_failed_seconds == KEEP_FOREVER


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"retention": {"passed": "soon"}}, "retention.passed"),
        ({"retention": {"kept": "1h"}}, "kept"),
        ({"retention": "1h"}, "retention must be a mapping of passed, failed"),
    ],
)
def test_a_bad_configmap_retention_is_refused_naming_it(document: Any, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_cluster_config(document, BASE)


# ------------------------------------------------------------------ pod > namespace > cluster


def test_the_pods_annotation_wins() -> None:
    resolved = resolve_retention("passed", {PASSED: "5m"}, {PASSED: "1h"}, CLUSTER)
    assert resolved == Resolved(Retention(300.0, KEEP_PASSED, "pod"))


def test_then_the_namespaces() -> None:
    resolved = resolve_retention("failed", {PASSED: "5m"}, {FAILED: "2h"}, CLUSTER)
    assert resolved == Resolved(Retention(7200.0, KEEP_FAILED, "namespace"))


def test_then_the_cluster_default_the_webhook_recorded() -> None:
    resolved = resolve_retention("failed", {}, {PASSED: "2h"}, CLUSTER)
    assert resolved == Resolved(Retention(KEEP_FOREVER, KEEP_FAILED, "cluster"))


def test_set_nowhere_means_none() -> None:
    assert resolve_retention("passed", {}, {}, DEFAULT_SETTINGS) == Resolved(None)


def test_bad_values_fall_through_to_the_next_source_with_a_warning() -> None:
    resolved = resolve_retention("passed", {PASSED: "-1s"}, {PASSED: "later"}, CLUSTER)
    assert resolved.retention == Retention(60.0, KEEP_PASSED, "cluster")
    pod, namespace = resolved.warnings
    assert pod.startswith(f"the pod's {PASSED}: '-1s'")
    assert namespace.startswith(f"the namespace's {PASSED}: 'later'")
    assert pod.endswith("using keep-passed 1m from the cluster default")


def test_a_bad_value_with_nothing_behind_it_leaves_the_jobs_ttl() -> None:
    resolved = resolve_retention("failed", {}, {FAILED: "1 week"}, DEFAULT_SETTINGS)
    assert resolved.retention is None
    assert resolved.warnings[0].endswith("the Job's own TTL stands")


@pytest.mark.parametrize(
    ("seconds", "ttl"), [(0.0, 0), (0.5, 1), (3600.0, 3600), (KEEP_FOREVER, None)]
)
def test_the_ttl_is_whole_seconds_rounded_up_and_forever_is_none(
    seconds: float, ttl: int | None
) -> None:
    assert Retention(seconds, KEEP_PASSED, "pod").ttl == ttl


# ------------------------------------------------------------------ the Job


def job(
    ttl: int | None = None, annotations: dict[str, str] | None = None, version: str = "7"
) -> dict[str, Any]:
    spec: dict[str, Any] = {"backoffLimit": 0}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {
        "metadata": {
            "name": "t-master",
            "uid": "job-uid",
            "resourceVersion": version,
            "annotations": {"owner": "ops", **(annotations or {})},
        },
        "spec": spec,
    }


def with_verdict(result: str = "passed", **extra: str) -> dict[str, str]:
    return {names.RESULT_ANNOTATION: result, names.SUMMARY_ANNOTATION: "{}", **extra}


HELD_ZERO = {names.HELD_TTL_ANNOTATION: "0"}


def test_a_running_tests_job_ttl_is_held_with_the_original_noted() -> None:
    decided = hold(job(ttl=0))
    assert decided is not None
    assert decided.patch == {
        "metadata": {
            "uid": "job-uid",
            "resourceVersion": "7",
            "annotations": {names.HELD_TTL_ANNOTATION: "0"},
        },
        "spec": {"ttlSecondsAfterFinished": None},
    }


@pytest.mark.parametrize(
    "found",
    [
        job(),  # no TTL: nothing to hold
        job(ttl=30, annotations=HELD_ZERO),  # held already (someone set a TTL since: theirs)
        job(ttl=0, annotations=with_verdict()),  # too late: settle instead
        job(ttl=0, annotations={names.RETENTION_ANNOTATION: "x"}),  # settled
        job(ttl=0, version=""),  # nothing to make the patch conditional on
    ],
    ids=["no-ttl", "held", "verdict-recorded", "settled", "no-version"],
)
def test_nothing_is_held_twice_or_without_need(found: dict[str, Any]) -> None:
    assert hold(found) is None


def test_nothing_is_settled_before_the_verdict_and_its_summary_are_on_the_job() -> None:
    keep = Retention(0.0, KEEP_PASSED, "pod")
    assert settle(job(ttl=None, annotations=HELD_ZERO), keep) is None
    early = {names.RESULT_ANNOTATION: "passed"}  # the early verdict, before the summary
    assert settle(job(annotations={**HELD_ZERO, **early}), keep) is None
    assert recorded_verdict(job(annotations=early)) is None
    assert recorded_verdict(job(annotations=with_verdict("failed"))) == "failed"


def test_after_the_verdict_the_retention_replaces_the_hold() -> None:
    keep = Retention(3600.0, KEEP_FAILED, "namespace")
    decided = settle(job(annotations=with_verdict("failed", **HELD_ZERO)), keep)
    assert decided is not None
    assert decided.patch["spec"] == {"ttlSecondsAfterFinished": 3600}
    assert decided.patch["metadata"]["annotations"] == {
        names.HELD_TTL_ANNOTATION: None,
        names.RETENTION_ANNOTATION: "keep-failed 1h from the namespace",
    }
    assert decided.patch["metadata"]["resourceVersion"] == "7"


def test_zero_seconds_lets_the_job_go_at_once() -> None:
    decided = settle(job(annotations=with_verdict()), Retention(0.0, KEEP_PASSED, "pod"))
    assert decided is not None
    assert decided.patch["spec"] == {"ttlSecondsAfterFinished": 0}


def test_forever_takes_any_ttl_off() -> None:
    forever = Retention(KEEP_FOREVER, KEEP_FAILED, "cluster")
    decided = settle(job(ttl=600, annotations=with_verdict("failed")), forever)
    assert decided is not None
    assert decided.patch["spec"] == {"ttlSecondsAfterFinished": None}
    note = decided.patch["metadata"]["annotations"][names.RETENTION_ANNOTATION]
    assert note == "keep-failed forever from the cluster default"
    # A held Job has no TTL already: only the annotations change.
    decided = settle(job(annotations=with_verdict("failed", **HELD_ZERO)), forever)
    assert decided is not None
    assert "spec" not in decided.patch


def test_with_no_retention_set_the_held_ttl_is_restored() -> None:
    decided = settle(job(annotations=with_verdict(**{names.HELD_TTL_ANNOTATION: "45"})), None)
    assert decided is not None
    assert decided.patch["spec"] == {"ttlSecondsAfterFinished": 45}
    assert decided.patch["metadata"]["annotations"][names.HELD_TTL_ANNOTATION] is None


def test_with_no_retention_set_a_held_ttl_of_0_keeps_the_job_10_minutes() -> None:
    # The official operator's master Job: gone 2 s after its verdict, CI's later `wait` and
    # `report` would find nothing.
    decided = settle(job(annotations=with_verdict(**HELD_ZERO)), None)
    assert decided is not None
    assert decided.patch["spec"] == {"ttlSecondsAfterFinished": TTL_0_KEPT_SECONDS}
    assert TTL_0_KEPT_SECONDS == 600
    assert "for a later wait or report" in decided.note
    # A retention set anywhere is used as set, 0s too.
    now = settle(job(annotations=with_verdict(**HELD_ZERO)), Retention(0.0, KEEP_PASSED, "pod"))
    assert now is not None
    assert now.patch["spec"] == {"ttlSecondsAfterFinished": 0}


def test_with_no_retention_and_no_hold_the_job_is_left_alone() -> None:
    assert settle(job(ttl=100, annotations=with_verdict()), None) is None


def test_a_ttl_someone_set_while_the_job_was_held_stands() -> None:
    keep = Retention(0.0, KEEP_PASSED, "cluster")
    decided = settle(job(ttl=86400, annotations=with_verdict(**HELD_ZERO)), keep)
    assert decided is not None
    assert "spec" not in decided.patch
    assert decided.patch["metadata"]["annotations"][names.HELD_TTL_ANNOTATION] is None


def test_a_settled_job_is_never_settled_again() -> None:
    done = job(ttl=5, annotations=with_verdict(**{names.RETENTION_ANNOTATION: "keep-passed 5s"}))
    assert settle(done, Retention(KEEP_FOREVER, KEEP_PASSED, "pod")) is None


def test_an_unreadable_held_note_restores_nothing() -> None:
    decided = settle(job(annotations=with_verdict(**{names.HELD_TTL_ANNOTATION: "soon"})), None)
    assert decided is not None
    assert "spec" not in decided.patch
    assert "unreadable" in decided.note
