"""The webhook's HTTP surface: /mutate, /healthz, /readyz and /metrics.

Routing and counting only: every rule about what /mutate accepts lives in
:mod:`app.webhook.handler`. The ASGI app is built by a factory (nothing at import time), so
tests and benchmarks can run several side by side.
"""

import time
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Route

from app.core.cluster_config import InjectionConfig
from app.webhook.handler import answer_request
from app.webhook.metrics import WebhookMetrics
from app.webhook.namespace_limits import LimitsReader

JSON = "application/json"


def create_app(
    config_source: Callable[[], InjectionConfig],
    metrics: WebhookMetrics | None = None,
    ready: Callable[[], bool] = lambda: True,
    key: bytes | None = None,
    limits_of: LimitsReader | None = None,
) -> FastAPI:
    """Build the webhook app.

    Args:
        config_source: returns the current cluster-wide configuration; called per review, so a
            reloaded ConfigMap takes effect without a restart.
        metrics: where to count; a fresh registry by default.
        ready: whether the server serves with a loaded certificate and configuration, for
            /readyz.
        key: signs each admitted pod's record (app/core/admission_record.py); without it
            pods are admitted without one, and the controller does not act on them.
        limits_of: reads a namespace's LimitRanges and ResourceQuotas, which a master pod's
            finisher is fitted into; without it the finisher is added as configured.
    """
    counters = metrics or WebhookMetrics()

    async def mutate(request: Request) -> Response:
        started = time.perf_counter()
        headers = request.headers
        answer = await answer_request(
            headers.get("content-type"),
            headers.get("content-length"),
            request.stream(),
            config_source(),
            key,
            limits_of,
        )
        counters.by_outcome[answer.outcome].inc()
        counters.duration.observe(time.perf_counter() - started)
        return Response(answer.body, status_code=answer.status, media_type=JSON)

    # The hot path is a plain Starlette route: FastAPI's per-request dependency solving costs
    # more than deciding about a pod does (see docs/benchmarks.md), and /mutate takes no
    # parameters for it to solve.
    app = FastAPI(
        title="locust-finisher webhook",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        routes=[Route("/mutate", mutate, methods=["POST"])],
    )

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get("/readyz")
    async def readyz() -> Response:
        if ready():
            return Response(b'{"status":"ready"}', media_type=JSON)
        return Response(b'{"status":"not ready"}', status_code=503, media_type=JSON)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(counters.registry), media_type=CONTENT_TYPE_LATEST)

    return app
