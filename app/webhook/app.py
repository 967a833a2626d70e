"""The webhook's HTTP surface: /mutate, /healthz, /readyz and /metrics.

A thin shell around :mod:`app.webhook.handler`; the ASGI app is built by a factory (nothing
at import time), so tests and benchmarks can run several side by side.
"""

import time
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Route

from app.core.inject import InjectionConfig
from app.webhook.handler import (
    MAX_BODY_BYTES,
    Answer,
    bad_request,
    content_type_problem,
    handle_review,
)
from app.webhook.metrics import WebhookMetrics

JSON = "application/json"


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None once it exceeds the cap (without buffering the rest)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
    return b"".join(chunks)


def create_app(
    config_source: Callable[[], InjectionConfig],
    metrics: WebhookMetrics | None = None,
    ready: Callable[[], bool] = lambda: True,
) -> FastAPI:
    """Build the webhook app.

    Args:
        config_source: returns the current cluster-wide configuration; called per review, so a
            reloaded ConfigMap takes effect without a restart.
        metrics: where to count; a fresh registry by default.
        ready: whether the server can serve (e.g. a certificate is loaded), for /readyz.
    """
    metrics = metrics or WebhookMetrics()
    app = FastAPI(title="locust-finisher webhook", docs_url=None, redoc_url=None, openapi_url=None)

    async def mutate(request: Request) -> Response:
        started = time.perf_counter()
        problem = content_type_problem(request.headers.get("content-type"))
        answer: Answer
        if problem is not None:
            answer = bad_request(problem)
        else:
            body = await _read_capped(request)
            if body is None:
                answer = bad_request(f"body exceeds {MAX_BODY_BYTES // (1024 * 1024)} MiB")
            else:
                answer = handle_review(body, config_source())
        metrics.requests.labels(answer.outcome).inc()
        metrics.duration.observe(time.perf_counter() - started)
        return Response(answer.body, status_code=answer.status, media_type=JSON)

    # The hot path is a plain Starlette route: FastAPI's per-request dependency solving costs
    # more than deciding about a pod does (see docs/benchmarks.md), and /mutate takes no
    # parameters for it to solve.
    app.router.routes.insert(0, Route("/mutate", mutate, methods=["POST"]))

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
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
