"""The AdmissionReview contract over HTTP, and every bad input a 400 with a reason."""

import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.certificates import issue, new_ca, write_pair
from app.core.cluster_config import InjectionConfig
from app.webhook import handler
from app.webhook.app import create_app
from app.webhook.metrics import WebhookMetrics
from app.webhook.tls import server_context
from testkit.pod_fixtures import apply_patch
from tests.webhook.conftest import review


def counted(metrics: WebhookMetrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "locust_finisher_webhook_requests_total", {"outcome": outcome}
    )
    return value or 0.0


def test_a_master_pod_is_answered_with_its_patch(
    client: TestClient, metrics: WebhookMetrics
) -> None:
    sent = review()
    answer = client.post("/mutate", json=sent)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert (body["apiVersion"], body["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    response = body["response"]
    assert (response["uid"], response["allowed"], response["patchType"]) == (
        "4f2a",
        True,
        "JSONPatch",
    )
    patched = apply_patch(
        sent["request"]["object"], json.loads(base64.b64decode(response["patch"]))
    )
    assert patched["spec"]["containers"][0]["name"] == "locust-finisher"
    assert counted(metrics, "mutated") == 1


def test_a_worker_pod_is_allowed_without_patch_fields(
    client: TestClient, metrics: WebhookMetrics
) -> None:
    response = client.post("/mutate", json=review("operator-go-2.2-worker", uid="w1")).json()[
        "response"
    ]
    assert response["uid"] == "w1"
    assert response["allowed"] is True
    assert "patch" not in response
    assert "patchType" not in response
    assert counted(metrics, "skipped") == 1


def test_warnings_for_bad_annotations_reach_the_user(client: TestClient) -> None:
    response = client.post("/mutate", json=review("annotated-master-bad-values")).json()["response"]
    assert len(response["warnings"]) == 3
    assert all(len(w) < 120 for w in response["warnings"])


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b"[]", "application/json", "must be a JSON object"),
        (b'{"apiVersion":"v1","kind":"AdmissionReview"}', "application/json", "apiVersion must be"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}', "application/json", "kind must be"),
        (
            b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}',
            "application/json",
            "request is missing",
        ),
        (
            b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}',
            "application/json",
            "request.uid",
        ),
        (json.dumps(review()).encode(), "text/plain", "Content-Type must be application/json"),
        (b"{}", "", "Content-Type must be application/json"),
        (b'{"a": NaN}', "application/json", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "application/json", "not valid JSON"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(
    client: TestClient, metrics: WebhookMetrics, body: bytes, content_type: str, message: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = client.post("/mutate", content=body, headers=headers)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert message in error
    assert "\n" not in error
    assert counted(metrics, "rejected") == 1


def test_a_body_over_3_mib_is_refused(client: TestClient) -> None:
    padding = "x" * (3 * 1024 * 1024)
    answer = client.post(
        "/mutate",
        content=json.dumps({"pad": padding}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert "exceeds 3 MiB" in answer.json()["error"]


def test_a_chunked_body_over_3_mib_is_refused_too(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b"x" * (1024 * 1024)

    answer = client.post("/mutate", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert "exceeds 3 MiB" in answer.json()["error"]


def test_an_internal_error_admits_the_pod_with_a_warning(
    client: TestClient, metrics: WebhookMetrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(handler, "decide", broken)
    answer = client.post("/mutate", json=review(uid="e1"))
    assert answer.status_code == 200
    response = answer.json()["response"]
    assert (response["uid"], response["allowed"]) == ("e1", True)
    assert "patch" not in response
    assert "internal error" in response["warnings"][0]
    assert counted(metrics, "error") == 1


def test_probes_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    client.post("/mutate", json=review())
    text = client.get("/metrics").text
    assert 'locust_finisher_webhook_requests_total{outcome="mutated"} 1.0' in text
    assert "locust_finisher_webhook_request_duration_seconds_bucket" in text
    assert client.get("/mutate").status_code == 405


def test_each_decision_is_one_info_line_naming_the_pod_and_the_reason(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.webhook.handler")
    client.post("/mutate", json=review("operator-go-2.2-master"))
    client.post("/mutate", json=review("operator-go-2.2-worker"))
    lines = [r for r in caplog.records if r.name == "app.webhook.handler"]
    assert [(r.levelname, r.namespace, r.pod) for r in lines] == [  # type: ignore[attr-defined]
        ("INFO", "golden", "t-go-22-master-"),
        ("INFO", "golden", "t-go-22-worker-"),
    ]
    assert lines[0].getMessage().startswith("mutate: Locust master (locust-k8s-operator)")
    assert lines[1].getMessage().startswith("skip: locust-k8s-operator worker pod")


def test_readyz_follows_the_readiness_it_is_given() -> None:
    state = {"ready": False}
    with TestClient(create_app(InjectionConfig, ready=lambda: state["ready"])) as probe:
        assert probe.get("/readyz").status_code == 503
        state["ready"] = True
        assert probe.get("/readyz").status_code == 200


def test_a_certificate_is_ready_only_within_its_validity(tmp_path: Path) -> None:
    ca = new_ca("test CA")
    cert_file, key_file = write_pair(tmp_path, "tls", issue(ca, "webhook", ["localhost"], []))
    files = server_context(cert_file, key_file)
    assert files.valid_now()
    assert not files.valid_now(time.time() + 20 * 365 * 86400), "expired in 20 years"
    assert not files.valid_now(0), "not yet valid in 1970"
