from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.cluster_config import InjectionConfig
from app.webhook.app import create_app
from app.webhook.metrics import WebhookMetrics
from testkit.pod_fixtures import load_pod, pod_review


@pytest.fixture
def metrics() -> WebhookMetrics:
    return WebhookMetrics()


@pytest.fixture
def client(metrics: WebhookMetrics) -> Iterator[TestClient]:
    with TestClient(create_app(InjectionConfig, metrics)) as test_client:
        yield test_client


def review(case: str = "operator-go-2.2-master", uid: str = "4f2a") -> dict[str, Any]:
    return pod_review(load_pod(case), uid=uid)
