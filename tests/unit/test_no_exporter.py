"""Masters without an exporter (the official operator, OpenTelemetry mode), end to end on paper.

The webhook says "no exporter" in the finisher's env and in the status annotation; the
finisher's config and the controller read it back; the controller records the verdict and
the summary and never tries to end an exporter that is not there.
"""

import argparse
import json
from typing import Any

from app.core import env_names, names
from app.core import finisher_spec as spec
from app.core.cluster_config import InjectionConfig
from app.core.inject import mutate_pod
from app.core.injection_status import InjectionStatus, read_status
from app.core.pod_facts import facts_from_pod
from app.core.reconcile import (
    FINISHER_GRACE_SECONDS,
    FINISHER_SILENCE_SECONDS,
    AnnounceVerdict,
    QuitHistory,
    ReadJob,
    RecordVerdict,
    plan,
)
from app.core.retention import JobSeen
from app.core.settings import FinishSettings
from app.finisher.config import add_arguments, resolve
from testkit.admission import TEST_KEY, admit
from testkit.pod_fixtures import apply_patch, load_pod

MASTER_EXIT = "2026-11-26T10:00:00Z"
EXIT = 1795687200.0  # MASTER_EXIT in seconds since the epoch


def _terminated(name: str, exit_code: int, message: str = "") -> dict[str, Any]:
    state = {"exitCode": exit_code, "finishedAt": MASTER_EXIT, "message": message}
    return {"name": name, "state": {"terminated": state}}


def official_master(*statuses: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """The official operator's master as the webhook mutated it, in the state ``statuses`` say."""
    pod = load_pod("operator-official-0.1.6-master")
    mutated = apply_patch(pod, mutate_pod(pod, InjectionConfig()).ops)
    mutated["metadata"].update({"name": "t-official-016-master-x", "uid": "u1", **metadata})
    mutated["status"] = {"phase": "Running", "podIP": "198.18.0.9"}
    mutated["status"]["containerStatuses"] = list(statuses)
    return mutated


def test_the_status_annotation_round_trips_no_exporter() -> None:
    status = InjectionStatus(
        settings=FinishSettings(),
        master_container="locust-master",
        exporter_container=None,
        exporter_sidecar=False,
        version="9.9.9",
    )
    encoded = status.encode()
    document = json.loads(encoded)
    assert document["exporterContainer"] is None
    assert "exporterPort" not in document
    assert "exporterSidecar" not in document
    assert read_status({names.STATUS_ANNOTATION: encoded}) == status


def test_the_finisher_reads_none_as_no_exporter_and_nothing_as_the_default() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert resolve(args, {env_names.ENV_EXPORTER_URL: spec.EXPORTER_NONE}).exporter is None
    assert resolve(args, {env_names.ENV_EXPORTER_URL: " None "}).exporter is None
    default = resolve(args, {}).exporter
    assert default is not None
    assert default.port == names.EXPORTER_DEFAULT_PORT
    flagged = resolve(parser.parse_args(["--exporter-url", "none"]), {}, strict_flags=True)
    assert flagged.exporter is None


def test_the_webhooks_env_reads_back_as_no_exporter() -> None:
    pod = official_master()
    finisher = pod["spec"]["containers"][0]
    env = {variable["name"]: variable["value"] for variable in finisher["env"]}
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = resolve(parser.parse_args([]), env)
    assert config.exporter is None
    assert config.master_container == "locust-master"
    assert (config.exporter_container, config.exporter_sidecar, config.warnings) == ("", False, ())


def test_the_controller_records_the_verdict_at_once_and_never_quits_anything() -> None:
    pod = official_master(
        _terminated("locust-master", 0), {"name": "locust-finisher", "state": {"running": {}}}
    )
    facts = facts_from_pod(admit(pod), TEST_KEY)
    assert facts is not None
    assert (facts.has_exporter, facts.exporter_container) == (False, None)
    decided = plan(facts, EXIT + 1, QuitHistory())
    assert [type(action) for action in decided.actions] == [RecordVerdict]
    # A finisher with no exporter to keep up gets the grace and the silence, not the TTL.
    silent_at = EXIT + FINISHER_GRACE_SECONDS + FINISHER_SILENCE_SECONDS
    assert decided.wake_at == silent_at
    late = plan(facts, silent_at, QuitHistory(), JobSeen(None))
    assert [type(action) for action in late.actions] == [AnnounceVerdict]


def test_the_report_has_the_verdict_and_no_exporter_or_scrape_events() -> None:
    summary = {
        "version": 1,
        "requests": 100,
        "failures": 0,
        "finalScrape": {
            "primed": False,
            "scrapedDuringTest": False,
            "waited": False,
            "confirmed": False,
        },
    }
    pod = official_master(
        _terminated("locust-master", 0), _terminated("locust-finisher", 0, json.dumps(summary))
    )
    facts = facts_from_pod(admit(pod), TEST_KEY)
    assert facts is not None
    decided = plan(facts, EXIT + 1, job=JobSeen(None))
    assert [type(action) for action in decided.actions] == [AnnounceVerdict]
    report = decided.actions[0]
    assert isinstance(report, AnnounceVerdict)
    assert [event.reason for event in report.events] == ["LoadTestPassed"]
    assert report.labels == {names.RESULT_LABEL: "passed"}


def test_a_deleted_pod_without_an_exporter_is_reported_from_its_last_state() -> None:
    # ttlSecondsAfterFinished: 0 deletes the official operator's pod as soon as it ends.
    pod = official_master(_terminated("locust-master", 1))
    facts = facts_from_pod(admit(pod), TEST_KEY, deleted=True)
    assert facts is not None
    # Its Job first, whose owner names the test in the summary; then the report.
    assert [type(action) for action in plan(facts, EXIT + 1).actions] == [ReadJob]
    decided = plan(facts, EXIT + 1, job=JobSeen(None))
    assert [type(action) for action in decided.actions] == [AnnounceVerdict]
    report = decided.actions[0]
    assert isinstance(report, AnnounceVerdict)
    assert report.labels == {names.RESULT_LABEL: "failed"}
