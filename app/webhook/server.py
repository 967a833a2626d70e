"""Serve the webhook over TLS with uvicorn, following certificate rotations on disk."""

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvicorn

from app.core.cluster_config import InjectionConfig
from app.webhook.app import create_app
from app.webhook.namespace_limits import LimitsReader
from app.webhook.tls import server_context

log = logging.getLogger(__name__)


def serve(
    host: str,
    port: int,
    cert_file: Path,
    key_file: Path,
    config_source: Callable[[], InjectionConfig],
    reload_interval: float = 10.0,
    background: list[Callable[[], Coroutine[Any, Any, None]]] | None = None,
    signing_key: bytes | None = None,
    limits_of: LimitsReader | None = None,
) -> None:
    """Run the webhook until SIGINT/SIGTERM.

    Args:
        background: extra coroutine factories to run beside the server (config reloads).
        signing_key: signs each admitted pod's admission record.
        limits_of: reads a master pod's namespace's LimitRanges and ResourceQuotas.
    """
    certificate = server_context(cert_file, key_file)
    if signing_key is None:
        log.warning("no --admission-key-file: pods are admitted without a signed record")
    server: uvicorn.Server | None = None

    def ready() -> bool:
        # The configuration was loaded before we got here, and a bad reload keeps the last
        # good one; what can go is the certificate's validity.
        return server is not None and server.started and certificate.valid_now()

    app = create_app(config_source, ready=ready, key=signing_key, limits_of=limits_of)
    # We hand uvicorn our own SSLContext after load(), so the reloader and uvicorn share it.
    config = uvicorn_config(app, host, port, cert_file, key_file)
    config.ssl = certificate.context
    server = uvicorn.Server(config)

    async def run() -> None:
        tasks = [asyncio.ensure_future(certificate.follow(reload_interval))]
        tasks += [asyncio.ensure_future(factory()) for factory in background or []]
        try:
            await server.serve()
        finally:
            for task in tasks:
                task.cancel()

    log.info("webhook serving on https://%s:%d", host, port)
    run_frozen(run)


def uvicorn_config(
    app: Any, host: str, port: int, cert_file: Path, key_file: Path
) -> uvicorn.Config:
    """How /mutate is served (loaded); the benchmark's floor is served the same way."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
        log_config=None,
        access_log=False,
        http="httptools",
        loop="none",
        # The API server calls with a 2 s timeout; a client that trickles a body for longer
        # than this is not the API server.
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
    )
    config.load()
    return config


def run_frozen(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main`` on uvloop, the objects made so far frozen out of the cyclic GC's walks.

    They live as long as the process; walking them on every full collection otherwise shows
    up as multi-ms p99 spikes.
    """
    import uvloop

    gc.collect()
    gc.freeze()
    uvloop.run(main())
