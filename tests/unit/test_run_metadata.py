"""What a run was, in its summary: read from a real operator's pod, its Job and the finisher."""

from typing import Any

import pytest

from app.core import names
from app.core.cluster_config import InjectionConfig
from app.core.inject import mutate_pod
from app.core.injection_status import read_status
from app.core.load_test_status import status_of_test
from app.core.pod_facts import facts_from_pod
from app.core.reconcile import AnnounceVerdict, plan
from app.core.retention import JobSeen
from app.core.run_metadata import (
    MAX_REVISION,
    PodRun,
    locust_version,
    read_pod_run,
    revision,
    run_metadata,
    which_test,
)
from app.core.setting_warnings import WarningReason
from app.core.summary import SUMMARY_LIMIT, EndpointSummary, Summary, decode_summary, encode_summary
from testkit.admission import TEST_KEY, admit
from testkit.pod_fixtures import apply_patch, load_pod

MASTER = "t-go-23-master"
DIGEST = "sha256:" + "ab" * 32
STARTED, ENDED = "2026-11-26T10:00:00Z", "2026-11-26T10:00:15Z"


def ended_pod(**annotations: str) -> dict[str, Any]:
    """locust-k8s-operator 2.3's master pod (--users 4 --spawn-rate 4 --run-time 10s), ended."""
    pod = load_pod("operator-go-2.3-master")
    pod["metadata"]["annotations"] = {**pod["metadata"].get("annotations", {}), **annotations}
    pod["status"] = {
        "containerStatuses": [
            {
                "name": MASTER,
                "image": "docker.io/locustio/locust:2.47.0",
                "imageID": f"docker.io/locustio/locust@{DIGEST}",
                "state": {"terminated": {"exitCode": 0, "startedAt": STARTED, "finishedAt": ENDED}},
            }
        ]
    }
    return pod


def locust_test_job(owner_kind: str = "LocustTest") -> dict[str, Any]:
    group = "batch/v1" if owner_kind == "CronJob" else "locust.io/v2"
    owner = {"apiVersion": group, "kind": owner_kind, "name": "t-go-23"}
    return {
        "metadata": {"name": MASTER + "-job", "ownerReferences": [{**owner, "controller": True}]}
    }


def test_the_pod_says_its_load_image_digest_and_times() -> None:
    run = read_pod_run(ended_pod(**{names.REVISION_ANNOTATION: "4f2a9c1"}), MASTER)
    assert run == PodRun(
        revision="4f2a9c1",
        image="locustio/locust:2.47.0",  # as in the spec, not as the kubelet resolved it
        image_digest=DIGEST,
        users=4,
        spawn_rate=4.0,
        run_time_seconds=10.0,
        started_at=STARTED,
        ended_at=ENDED,
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["-u", "50", "-r", "2.5", "-t", "1h30m"], {}, (50, 2.5, 5400.0)),
        (["--users=7"], {"LOCUST_USERS": "9", "LOCUST_RUN_TIME": "90"}, (7, None, 90.0)),
        ([], {"LOCUST_USERS": "9", "LOCUST_SPAWN_RATE": "3"}, (9, 3.0, None)),
        # Not what Locust would run with: left out rather than guessed.
        (["-u", "many", "-r", "nan", "-t", "forever"], {}, (None, None, None)),
        (["-u", "1" * 40, "-r", "1e400"], {}, (None, None, None)),
    ],
)
def test_the_load_comes_from_the_command_line_then_the_environment(
    args: list[str], env: dict[str, str], expected: tuple[Any, ...]
) -> None:
    pod = ended_pod()
    master = pod["spec"]["containers"][0]
    master["args"] = args
    master["env"] = [{"name": key, "value": value} for key, value in env.items()]
    run = read_pod_run(pod, MASTER)
    assert (run.users, run.spawn_rate, run.run_time_seconds) == expected


def test_a_container_that_never_started_has_no_start_and_a_local_image_its_own_digest() -> None:
    pod = ended_pod()
    status = pod["status"]["containerStatuses"][0]
    status["imageID"] = DIGEST  # an image imported into containerd, not pulled
    status["state"]["terminated"] |= {"startedAt": "1970-01-01T00:00:00Z", "reason": "StartError"}
    run = read_pod_run(pod, MASTER)
    assert (run.image_digest, run.started_at) == (DIGEST, None)


@pytest.mark.parametrize(
    "image_id", ["", "docker.io/locustio/locust:2.47.0", "sha256:short", f"x@{DIGEST}\n"]
)
def test_an_image_id_that_is_no_digest_is_left_out(image_id: str) -> None:
    pod = ended_pod()
    pod["status"]["containerStatuses"][0]["imageID"] = image_id
    assert read_pod_run(pod, MASTER).image_digest is None


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("4f2a9c1", "4f2a9c1"),
        ("  v1.2.3 ", "v1.2.3"),
        ("x" * MAX_REVISION, "x" * MAX_REVISION),
        ("x" * (MAX_REVISION + 1), None),
        ("line\nbreak", None),
        ("", None),
    ],
)
def test_the_revision_is_printable_and_short_or_left_out_with_a_warning(
    given: str, kept: str | None
) -> None:
    value, warning = revision({names.REVISION_ANNOTATION: given})
    assert value == kept
    assert (warning is None) == (kept is not None)
    # The webhook says so at admission: in its warnings, the status and then an Event.
    pod = load_pod("annotated-master")
    pod["metadata"]["annotations"][names.REVISION_ANNOTATION] = given
    mutation = mutate_pod(pod, InjectionConfig())
    assert mutation.status is not None
    status = read_status({names.STATUS_ANNOTATION: mutation.status})
    assert status is not None
    said = [w for w in status.warnings if w.setting == names.REVISION_ANNOTATION]
    if kept is None:
        assert [w.reason for w in said] == [WarningReason.SETTING_IGNORED]
        assert "left out of the summary" in mutation.warnings[-1]
    else:
        assert said == []


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (locust_test_job("LocustTest"), "t-go-23"),
        (locust_test_job("CronJob"), "t-go-23"),
        (locust_test_job("SomethingElse"), "the-job"),
        (None, "the-job"),
    ],
)
def test_the_test_is_named_by_the_jobs_owner_else_the_job(
    job: dict[str, Any] | None, expected: str
) -> None:
    assert which_test(job, "the-job", "the-pod") == expected
    assert which_test(None, None, "the-pod") == "the-pod"


def test_the_finishers_version_and_the_most_workers_and_users_are_taken_checked() -> None:
    finisher: Summary = {
        "version": 1,
        "users": 12,
        "workers": 3,
        "run": {"locustVersion": "2.47.0"},
    }
    run = run_metadata(PodRun(), test="t", namespace="ns", summary=finisher)
    assert run == {
        "test": "t",
        "namespace": "ns",
        "locustVersion": "2.47.0",
        "users": 12,
        "workers": 3,
    }
    asked = run_metadata(PodRun(users=4), test="t", namespace="ns", summary=finisher)
    assert asked["users"] == 4, "the users asked for, over the most seen"
    for forged in ("<script>", "2" * 40, 2.47, None):
        assert locust_version(forged) is None
    bad: Summary = {"version": 1, "run": {"locustVersion": "</a>"}}
    assert "locustVersion" not in run_metadata(PodRun(), test="t", namespace="n", summary=bad)


def finished_pod(**annotations: str) -> dict[str, Any]:
    """The operator's pod as mutated, ended, its finisher's summary in its status."""
    pod = ended_pod(**annotations)
    patched = apply_patch(pod, mutate_pod(pod, InjectionConfig()).ops)
    summary: Summary = {"requests": 10, "failures": 0, "p95Ms": 8.0, "workers": 1}
    patched["status"]["containerStatuses"].append(
        {
            "name": names.FINISHER_CONTAINER,
            "state": {
                "terminated": {
                    "exitCode": 0,
                    "finishedAt": ENDED,
                    "message": encode_summary({**summary, "run": {"locustVersion": "2.47.0"}}),
                }
            },
        }
    )
    patched["status"]["phase"] = "Succeeded"
    return admit(patched)


def report_of(pod: dict[str, Any]) -> Summary:
    facts = facts_from_pod(pod, TEST_KEY)
    assert facts is not None
    assert facts.job is not None
    report = plan(facts, 2e9, job=JobSeen(locust_test_job())).actions[0]
    assert isinstance(report, AnnounceVerdict)
    summary = decode_summary(report.annotations[names.SUMMARY_ANNOTATION])
    assert summary is not None
    return summary


def test_the_report_carries_the_run_with_the_test_named_by_the_locusttest() -> None:
    pod = finished_pod(**{names.REVISION_ANNOTATION: "4f2a9c1"})
    assert report_of(pod)["run"] == {
        "test": "t-go-23",
        "namespace": pod["metadata"]["namespace"],
        "revision": "4f2a9c1",
        "locustVersion": "2.47.0",
        "image": "locustio/locust:2.47.0",
        "imageDigest": DIGEST,
        "users": 4,
        "spawnRate": 4.0,
        "runTimeSeconds": 10.0,
        "workers": 1,
        "startedAt": STARTED,
        "endedAt": ENDED,
    }


def test_wait_seeing_the_end_first_gives_the_controllers_reason_and_run() -> None:
    pod = finished_pod(**{names.CHECK_P95_ANNOTATION: "5ms"})
    controller = report_of(pod)
    assert controller["reason"] == "check:p95"
    status = status_of_test(pod, locust_test_job())
    assert (status.source, status.passed, status.reason) == ("pod status", False, "check:p95")
    assert status.summary is not None
    assert (status.summary["reason"], status.summary["run"]) == ("check:p95", controller["run"])


def test_the_run_outlasts_the_lists_when_the_summary_is_cut_to_4_kib() -> None:
    run = run_metadata(
        PodRun(revision="r" * 64, image="i" * 256, image_digest=DIGEST, users=1),
        test="t" * 253,
        namespace="n" * 63,
        summary=None,
    )
    endpoint: EndpointSummary = {
        "method": "GET",
        "name": "/x" * 40,
        "requests": 1,
        "failures": 0,
        "avgMs": 1.0,
        "p95Ms": 1.0,
    }
    big: Summary = {
        "requests": 1,
        "failures": 0,
        "endpoints": [endpoint] * 60,
        "run": run,
    }
    encoded = encode_summary(big)
    decoded = decode_summary(encoded)
    assert len(encoded.encode()) <= SUMMARY_LIMIT
    assert decoded is not None
    assert decoded["run"] == run
    assert 0 < len(decoded["endpoints"]) < 60
    # Even a summary too large without its lists keeps the run before the other totals.
    huge: Summary = {**big, "exporter": "x" * 4000}
    decoded = decode_summary(encode_summary(huge))
    assert decoded is not None
    assert decoded["run"] == run
    assert "exporter" not in decoded
