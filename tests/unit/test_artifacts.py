"""The kept report's rules: what fits, who may send it, where and how it is kept."""

import base64
import copy
import gzip
from typing import Any

import pytest

from app.core import names
from app.core.admission_record import RECORD_ANNOTATION
from app.core.artifacts import (
    CONFIGMAP_BUDGET,
    EXCEPTIONS_JSON,
    FAILURES_CSV,
    POD_NAME_CLAIM,
    POD_UID_CLAIM,
    REPORT_HTML,
    STATS_JSON,
    Caller,
    LeftOut,
    RefusedError,
    artifacts_configmap,
    bearer_token,
    caller_of,
    check_pod,
    choose,
    configmap_name,
    decode_left_out,
    encode_left_out,
    inflate,
    kept_files,
    owner_reference,
    receiver_url,
    token_review,
)
from testkit.admission import TEST_KEY, admit, job_made_pod


def pod(**metadata: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "t-master-abc",
        "namespace": "loadtests",
        "uid": "pod-uid",
        "labels": {names.MANAGED_LABEL: "true"},
        "ownerReferences": [
            {"apiVersion": "batch/v1", "kind": "Job", "name": "t-master", "uid": "job-uid",
             "controller": True, "blockOwnerDeletion": True},
        ],
    }  # fmt: skip
    return {"metadata": {**base, **metadata}}


def review(**user: Any) -> dict[str, Any]:
    given = {
        "username": "system:serviceaccount:loadtests:default",
        "extra": {POD_NAME_CLAIM: ["t-master-abc"], POD_UID_CLAIM: ["pod-uid"]},
        **user,
    }
    return {"status": {"authenticated": True, "audiences": [names.REPORT_AUDIENCE], "user": given}}


# ----------------------------------------------------------------- what fits


def test_everything_is_kept_when_it_fits() -> None:
    assert choose({REPORT_HTML: 300_000, STATS_JSON: 20_000}) == []


def test_the_html_report_is_left_out_first_and_the_stats_last() -> None:
    sizes = {REPORT_HTML: 600_000, STATS_JSON: 500_000, FAILURES_CSV: 10, EXCEPTIONS_JSON: 10}
    assert [entry.file for entry in choose(sizes)] == [REPORT_HTML]
    sizes[STATS_JSON] = CONFIGMAP_BUDGET
    assert [entry.file for entry in choose(sizes)] == [
        REPORT_HTML,
        EXCEPTIONS_JSON,
        FAILURES_CSV,
    ]


def test_a_left_out_file_says_how_large_it_was_and_what_the_room_is() -> None:
    (entry,) = choose({REPORT_HTML: 2_000_000, STATS_JSON: 10}, budget=1000)
    assert "2000000 bytes" in entry.reason
    assert "1000" in entry.reason


def test_what_is_left_out_round_trips_and_junk_reads_as_nothing() -> None:
    left = [LeftOut(REPORT_HTML, "too large")]
    assert decode_left_out(encode_left_out(left)) == left
    assert decode_left_out("not json") == []
    assert decode_left_out('{"file": "x"}') == []


# ----------------------------------------------------------------- who is calling


def test_a_pod_bound_token_of_our_audience_names_its_pod() -> None:
    assert caller_of(review()) == Caller("loadtests", "default", "t-master-abc", "pod-uid")


@pytest.mark.parametrize(
    "status",
    [
        {"authenticated": False, "error": "token expired"},
        {"authenticated": True, "audiences": ["https://kubernetes.default.svc"]},
        {"authenticated": True, "audiences": [names.REPORT_AUDIENCE],
         "user": {"username": "alice", "extra": review()["status"]["user"]["extra"]}},
        {"authenticated": True, "audiences": [names.REPORT_AUDIENCE],
         "user": {"username": "system:serviceaccount:loadtests:default"}},
    ],
    ids=["not-authenticated", "other-audience", "not-a-service-account", "not-pod-bound"],
)  # fmt: skip
def test_any_other_token_is_401(status: dict[str, Any]) -> None:
    with pytest.raises(RefusedError) as refused:
        caller_of({"status": status})
    assert refused.value.status == 401


def test_the_review_asks_for_our_audience() -> None:
    assert token_review("abc")["spec"] == {"token": "abc", "audiences": [names.REPORT_AUDIENCE]}


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Bearer"])
def test_no_bearer_token_is_401(header: str | None) -> None:
    with pytest.raises(RefusedError) as refused:
        bearer_token(header)
    assert refused.value.status == 401


def test_a_bearer_token_is_read() -> None:
    assert bearer_token("Bearer abc.def") == "abc.def"


def test_only_the_callers_own_pod_that_a_job_made_and_we_admitted_may_send() -> None:
    caller = caller_of(review())
    made = job_made_pod("t-master-abc", "pod-uid", "loadtests", job="t-master")
    assert check_pod(made, caller, TEST_KEY).made_by_job_controller
    unmanaged = copy.deepcopy(made)
    del unmanaged["metadata"]["labels"][names.MANAGED_LABEL]
    by_a_user = admit(made, creator="system:serviceaccount:loadtests:default")
    unsigned = copy.deepcopy(made)
    del unsigned["metadata"]["annotations"][RECORD_ANNOTATION]
    for other, why in (
        (None, "does not exist"),
        ({**made, "metadata": {**made["metadata"], "uid": "new"}}, "not the one the token"),
        (unmanaged, "not managed"),
        (by_a_user, "not made by a Job"),
        (unsigned, "no admission record"),
    ):
        with pytest.raises(RefusedError) as refused:
            check_pod(other, caller, TEST_KEY)
        assert refused.value.status == 403
        assert why in refused.value.message


# ----------------------------------------------------------------- the ConfigMap


def test_the_configmap_is_owned_by_the_pods_job_and_labelled_to_be_found() -> None:
    data = gzip.compress(b"<html>report</html>")
    configmap = artifacts_configmap(pod(), {REPORT_HTML: data}, [], "2026-12-02T10:00:00Z")
    metadata = configmap["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("t-master-abc-report", "loadtests")
    assert metadata["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "t-master", "uid": "job-uid"}
    ]
    assert metadata["labels"] == {
        names.REPORT_OF_LABEL: "pod-uid",
        names.REPORT_JOB_LABEL: "t-master",
        names.REPORT_POD_LABEL: "t-master-abc",
    }
    assert base64.b64decode(configmap["binaryData"]["report.html.gz"]) == data


def test_a_pod_without_a_job_owns_its_report_itself() -> None:
    bare = pod(ownerReferences=[])
    assert owner_reference(bare) == {
        "apiVersion": "v1", "kind": "Pod", "name": "t-master-abc", "uid": "pod-uid"
    }  # fmt: skip
    labels = artifacts_configmap(bare, {}, [], "")["metadata"]["labels"]
    assert names.REPORT_JOB_LABEL not in labels


def test_a_long_pod_name_still_makes_a_valid_unique_name() -> None:
    name = configmap_name("p" * 250, "0123456789abcdef")
    assert len(name) <= 253
    assert name.endswith("-01234567-report")
    labels = artifacts_configmap(pod(name="p" * 250), {}, [], "")["metadata"]["labels"]
    assert names.REPORT_POD_LABEL not in labels, "a label value is 63 characters at most"


def test_the_kept_files_read_back_with_what_was_left_out() -> None:
    left = [LeftOut(REPORT_HTML, "too large")]
    configmap = artifacts_configmap(
        pod(), {STATS_JSON: gzip.compress(b'{"stats": []}')}, left, "2026-12-02T10:00:00Z"
    )
    kept = kept_files(configmap)
    assert kept.files == {STATS_JSON: b'{"stats": []}'}
    assert kept.left_out == left
    assert kept.kept_at == "2026-12-02T10:00:00Z"


def test_a_file_that_is_not_gzip_reads_as_left_out_not_as_an_error() -> None:
    configmap = artifacts_configmap(pod(), {FAILURES_CSV: b"plain"}, [], "")
    kept = kept_files(configmap)
    assert kept.files == {}
    assert kept.left_out[0].file == FAILURES_CSV


def test_inflating_stops_at_its_limit() -> None:
    bomb = gzip.compress(b"\0" * 1_000_000)
    with pytest.raises(ValueError, match="larger than"):
        inflate(bomb, limit=1000)
    assert inflate(bomb) == b"\0" * 1_000_000


def test_the_report_url_is_the_controllers_service_in_its_namespace() -> None:
    assert receiver_url("ops") == "http://locust-finisher-controller.ops.svc:8081/v1/reports"
