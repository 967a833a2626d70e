"""The webhook's signed record: what it signs, and every way a copy or a forgery fails.

Through the webhook's own path (``handle_review``), so what is tested is what the API server
would store; then through ``admitted``, as the controller and the receiver read it.
"""

import base64
import copy
import hmac
import json
from typing import Any

import orjson
import pytest

from app.core import names
from app.core.admission_record import (
    CLOCK_SLACK_SECONDS,
    RECORD_ANNOTATION,
    Admission,
    RecordError,
    admitted,
    check_key,
    read_record,
    sign,
)
from app.core.cluster_config import InjectionConfig
from app.core.injection_status import read_status
from app.core.pod_facts import facts_from_pod
from app.core.summary import decode_summary
from app.core.timestamps import format_time
from app.webhook.handler import handle_review
from testkit.admission import JOB_CONTROLLER, TEST_KEY
from testkit.pod_fixtures import apply_patch, load_pod, pod_review

ATTACKER = "system:serviceaccount:loadtests:attacker"


def stored(pod: dict[str, Any], creator: str = JOB_CONTROLLER, key: bytes = TEST_KEY) -> Any:
    """The pod as the API server stores it after our webhook: patched, then named and dated."""
    review = pod_review(pod, namespace="loadtests", creator=creator)
    answer = orjson.loads(handle_review(orjson.dumps(review), InjectionConfig(), key).body)
    response = answer["response"]
    ops = orjson.loads(base64.b64decode(response["patch"])) if "patch" in response else []
    result = apply_patch(copy.deepcopy(pod), ops)
    metadata = result.setdefault("metadata", {})
    metadata.update(namespace="loadtests", uid="pod-uid", name="t-master-x")
    record = metadata.get("annotations", {}).get(RECORD_ANNOTATION)
    at = read_record(record, key).at if isinstance(record, str) else 1_764_669_600
    metadata["creationTimestamp"] = format_time(at)
    return result


def master() -> dict[str, Any]:
    return load_pod("operator-go-2.3-master")


def test_a_pod_the_job_controller_made_is_admitted_for_its_job() -> None:
    pod = stored(master())
    record = admitted(pod, TEST_KEY)
    owner = pod["metadata"]["ownerReferences"][0]
    assert (record.creator, record.owner_kind, record.owner_uid) == (
        JOB_CONTROLLER,
        "Job",
        owner["uid"],
    )
    assert record.made_by_job_controller


def test_a_pod_a_user_made_is_admitted_but_not_for_a_job() -> None:
    record = admitted(stored(master(), creator=ATTACKER), TEST_KEY)
    assert record.creator == ATTACKER
    assert not record.made_by_job_controller


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (lambda p: p["metadata"]["annotations"].pop(RECORD_ANNOTATION), "no admission record"),
        (lambda p: p["metadata"].update(namespace="other"), "namespace loadtests"),
        (lambda p: p["metadata"]["ownerReferences"][0].update(uid="victim"), "controller"),
        (lambda p: p["metadata"].pop("ownerReferences"), "controller"),
        (
            lambda p: p["metadata"]["annotations"].update(
                {names.STATUS_ANNOTATION: '{"exporterPort": 10250}'}
            ),
            "status annotation",
        ),
        (
            lambda p: p["metadata"].update(
                creationTimestamp=format_time(
                    read_record(p["metadata"]["annotations"][RECORD_ANNOTATION], TEST_KEY).at
                    + CLOCK_SLACK_SECONDS
                    + 1
                )
            ),
            "not created when",
        ),
        (
            lambda p: p["metadata"]["annotations"].update(
                {RECORD_ANNOTATION: p["metadata"]["annotations"][RECORD_ANNOTATION][:-4] + "AAAA"}
            ),
            "not signed by this installation",
        ),
    ],
    ids=["removed", "namespace", "owner", "no-owner", "status", "copied-later", "signature"],
)
def test_a_record_that_does_not_fit_the_pod_is_refused(tamper: Any, says: str) -> None:
    pod = stored(master())
    tamper(pod)
    with pytest.raises(RecordError, match=says):
        admitted(pod, TEST_KEY)


def test_another_installations_record_is_refused() -> None:
    pod = stored(master(), key=b"another installation's key of 32+ bytes")
    with pytest.raises(RecordError, match="not signed by this installation"):
        admitted(pod, TEST_KEY)


def test_a_record_a_creator_brings_along_is_removed_from_a_pod_we_skip() -> None:
    worker = load_pod("operator-go-2.3-worker")
    worker.setdefault("metadata", {}).setdefault("annotations", {})[RECORD_ANNOTATION] = stored(
        master()
    )["metadata"]["annotations"][RECORD_ANNOTATION]
    assert RECORD_ANNOTATION not in stored(worker)["metadata"]["annotations"]


def test_a_copied_record_and_status_name_whoever_copied_them() -> None:
    """The webhook re-signs an already-mutated pod (a reinvocation) for this request's creator."""
    real = stored(master())
    copied = copy.deepcopy(real)
    for key in ("uid", "name", "creationTimestamp"):
        del copied["metadata"][key]
    again = admitted(stored(copied, creator=ATTACKER), TEST_KEY)
    assert again.creator == ATTACKER
    assert not again.made_by_job_controller
    # A real reinvocation keeps what the first pass said.
    assert admitted(stored(copied), TEST_KEY).made_by_job_controller


def test_a_status_annotation_without_our_record_is_not_vouched_for() -> None:
    """A pod that brings a status annotation of its own is not re-signed: it gets no record."""
    forged = master()
    forged.setdefault("metadata", {}).setdefault("annotations", {})[names.STATUS_ANNOTATION] = "{}"
    assert RECORD_ANNOTATION not in stored(forged)["metadata"]["annotations"]


def test_a_record_too_long_or_malformed_is_refused_in_one_line() -> None:
    for value in ("x" * 4096, "v1.", "v2.a.b", "v1.!!.??"):
        with pytest.raises(RecordError) as refused:
            read_record(value, TEST_KEY)
        assert "\n" not in str(refused.value)


def test_a_signed_record_reads_back_as_it_was_signed() -> None:
    record = Admission("ns", JOB_CONTROLLER, "Job", "u", "d", 1)
    value = sign(record, TEST_KEY)
    assert read_record(value, TEST_KEY) == record


def test_a_record_of_a_creator_named_beyond_ascii_reads_back_and_is_as_before() -> None:
    """Usernames come from the cluster's authenticator (OIDC claims may be any text)."""
    record = Admission("ns", "oidc:zoë@例え.jp", "Job", "u", "d", 1)
    value = sign(record, TEST_KEY)
    assert read_record(value, TEST_KEY) == record
    # A record an earlier version wrote (\u escapes) still reads the same.
    body = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"ns": "ns", "creator": record.creator, "ownerKind": "Job", "ownerUid": "u"}
                | {"status": "d", "at": 1},
                separators=(",", ":"),
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    mac = (
        base64.urlsafe_b64encode(hmac.digest(TEST_KEY, f"v1.{body}".encode(), "sha256"))
        .rstrip(b"=")
        .decode()
    )
    assert read_record(f"v1.{body}.{mac}", TEST_KEY) == record


def test_a_short_key_is_refused() -> None:
    with pytest.raises(RecordError, match="needs 32"):
        check_key(b"short")
    assert check_key(b" " + TEST_KEY + b"\n") == TEST_KEY


def test_a_status_nested_past_any_parser_is_refused_before_it_is_read() -> None:
    nested = "[" * 200_000 + "]" * 200_000
    assert read_status({names.STATUS_ANNOTATION: nested}) is None
    assert decode_summary(nested) is None
    pod = stored(master())
    pod["metadata"]["annotations"][names.STATUS_ANNOTATION] = nested
    with pytest.raises(RecordError, match="status annotation"):
        facts_from_pod(pod, TEST_KEY)
