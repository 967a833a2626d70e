import base64
import json
from typing import Any

import pytest

from app.core.cluster_config import InjectionConfig
from app.core.review import BadReviewError, decide, parse_review, response_for
from testkit.pod_fixtures import load_pod


def review(**request: Any) -> dict[str, Any]:
    base = {
        "uid": "u-1",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "object": load_pod("operator-go-2.2-master"),
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {**base, **request},
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        ({"kind": "AdmissionReview"}, "apiVersion must be admission.k8s.io/v1, got None"),
        ({**review(), "apiVersion": "admission.k8s.io/v1beta1"}, "got 'admission.k8s.io/v1beta1'"),
        ({**review(), "kind": "Pod"}, "kind must be AdmissionReview"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "request is missing"),
        (review(uid=""), "request.uid is missing"),
        (review(uid=5), "request.uid is missing"),
        (review(object=[1]), "request.object"),
        (review(kind="Pod"), "request.kind"),
    ],
)
def test_malformed_reviews_get_a_one_line_reason(document: Any, message: str) -> None:
    with pytest.raises(BadReviewError, match=None) as caught:
        parse_review(document)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("request_fields", "reason"),
    [
        ({"kind": {"kind": "Deployment"}, "resource": {"resource": "deployments"}}, "not a Pod"),
        ({"operation": "UPDATE"}, "only CREATE"),
        ({"subResource": "status"}, "subresource status"),
        ({"object": None}, "no object"),
    ],
)
def test_reviews_we_do_not_handle_are_allowed_unchanged(
    request_fields: dict[str, Any], reason: str
) -> None:
    mutation = decide(parse_review(review(**request_fields)).request, InjectionConfig())
    assert (mutation.decision, mutation.ops) == ("skip", [])
    assert reason in mutation.reason


def test_the_answer_echoes_the_uid_and_carries_a_base64_json_patch() -> None:
    parsed = parse_review(review())
    answer = response_for("u-1", decide(parsed.request, InjectionConfig()))
    response = answer["response"]
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert (response["uid"], response["allowed"], response["patchType"]) == (
        "u-1",
        True,
        "JSONPatch",
    )
    ops = json.loads(base64.b64decode(response["patch"]))
    assert ops[1]["path"] == "/spec/containers/0"


def test_no_patch_fields_at_all_when_there_is_nothing_to_patch() -> None:
    answer = response_for(
        "u-2", decide(parse_review(review(operation="DELETE")).request, InjectionConfig())
    )
    assert "patch" not in answer["response"]
    assert "patchType" not in answer["response"]
    assert answer["response"]["auditAnnotations"]["decision"] == "skip"


def test_dry_run_reviews_get_the_same_patch() -> None:
    wet = response_for("u", decide(parse_review(review()).request, InjectionConfig()))
    dry = response_for("u", decide(parse_review(review(dryRun=True)).request, InjectionConfig()))
    assert wet == dry
