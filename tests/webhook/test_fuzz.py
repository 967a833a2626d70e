"""Property: no input makes /mutate answer 500, and no valid review hits our fail-open path.

The last tests run a short version of ``python -m bench.webhook_fuzz`` against the real
webhook process, so the campaign's generator and judge stay in working order between runs of
the full 20,000-review benchmark.
"""

import base64
import json
from typing import Any

import jsonpatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import names
from app.core.cluster_config import InjectionConfig
from app.webhook.handler import handle_review
from testkit.pod_fixtures import load_pod, pod_rule_violations
from testkit.webhook_fuzz import SCHEDULE, fuzz_input, report, run_campaign

# The API server sends 64-bit integers at most (orjson refuses bigger ones: a 400, not a 500).
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)
annotation_keys = st.sampled_from([*names.USER_ANNOTATIONS, "other"])
containers = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["m", "e", "w", "locust-metrics-exporter", "t-master"])
            | json_values,
            "args": st.lists(
                st.sampled_from(["--master", "--worker", "-P", "9000", "x"]), max_size=4
            )
            | json_values,
            "image": st.sampled_from(
                ["containersol/locust_exporter:v0.4.3", "locustio/locust", "x"]
            ),
            "ports": st.lists(
                st.fixed_dictionaries({"containerPort": st.sampled_from([9646, 8089])}), max_size=2
            ),
            "restartPolicy": st.sampled_from(["Always", "Never"]),
        },
    ),
    max_size=4,
)
pods = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "labels": st.dictionaries(
                    st.sampled_from(["managed-by", "performance-test-pod-name", "x"]),
                    st.sampled_from(["locust-k8s-operator", "t-master", "t-worker", "t"])
                    | json_values,
                )
                | json_values,
                "annotations": st.dictionaries(
                    annotation_keys,
                    st.sampled_from(["true", "false", "30s", "controller", "m", "e"]) | json_values,
                )
                | json_values,
            },
        ),
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "containers": containers | json_values,
                "initContainers": containers,
                "hostPID": st.booleans(),
                "shareProcessNamespace": st.booleans() | json_values,
            },
        ),
    }
)


def review_of(obj: Any, uid: str = "fuzz") -> bytes:
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"kind": "Pod"},
                "resource": {"resource": "pods"},
                "operation": "CREATE",
                "object": obj,
            },
        }
    ).encode()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_get_200_or_400(body: bytes) -> None:
    assert handle_review(body, InjectionConfig()).status in (200, 400)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(json_values)
def test_any_json_gets_200_or_400(document: Any) -> None:
    assert handle_review(json.dumps(document).encode(), InjectionConfig()).status in (200, 400)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(pods | st.dictionaries(st.text(max_size=10), json_values, max_size=4))
def test_any_pod_shape_is_answered_without_an_internal_error(pod: Any) -> None:
    answer = handle_review(review_of(pod, "u-9"), InjectionConfig())
    assert answer.status == 200
    assert answer.outcome in ("mutated", "skipped"), "an input reached the fail-open path"
    response = json.loads(answer.body)["response"]
    assert response["uid"] == "u-9"
    assert response["allowed"] is True
    if "patch" in response:
        patched = jsonpatch.apply_patch(pod, json.loads(base64.b64decode(response["patch"])))
        assert pod_rule_violations(patched) == []
        again = handle_review(review_of(patched), InjectionConfig())
        assert "patch" not in json.loads(again.body)["response"], "not idempotent"


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(annotation_keys, json_values | st.text()))
def test_any_annotations_on_a_real_master_pod_never_fail_it(extra: dict[str, Any]) -> None:
    pod = load_pod("operator-go-2.2-master")
    pod["metadata"]["annotations"].update(extra)
    answer = handle_review(review_of(pod), InjectionConfig())
    assert (answer.status, answer.outcome in ("mutated", "skipped")) == (200, True)


def test_the_fuzz_campaign_is_reproducible_and_every_family_takes_its_turn() -> None:
    turn = range(len(SCHEDULE))
    inputs = [fuzz_input(7, index) for index in turn]
    assert [i.body for i in inputs] == [fuzz_input(7, index).body for index in turn]
    assert {i.family for i in inputs} == {
        "annotation-values",
        "annotation-types",
        "metadata-shapes",
        "odd-containers",
        "spec-shapes",
        "type-confusion",
        "deletion",
        "envelope",
        "invalid-json",
        "content-type",
        "unsendable-json",
        "huge-body",
        "http",
        "fixture",
    }


def test_a_short_fuzz_campaign_finds_no_defect_in_the_real_webhook() -> None:
    # The benchmark's figures are timed on a quiet machine; here only what is not timing.
    tally = run_campaign(reviews=300, seed=11, budget=240)
    timing = {"stall (> 2 s)", "/healthz slow or failing", "time budget exhausted"}
    assert tally.sent == 300
    assert tally.patches_checked > 30, "the inputs no longer reach the patch"
    assert set(tally.defects) <= timing, report(tally, seed=11)
