"""``locust-finisher controller``: a replica that leads, acts, serves its metrics, and exits.

Every replica serves the trend metrics (:mod:`app.controller.trends`); only the leader acts.

Crash-only, as the reference controllers recommend: the election, the watch, the workers
and the metrics server run in one task group; if leadership is lost or any part fails, the
process exits and its Deployment starts a fresh one. SIGTERM releases the lease first, so
the other replica takes over at once.
"""

import asyncio
import logging
import signal
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.controller.actions import Actor
from app.controller.admission_key import ensure_key, key_secret_name, lease_name
from app.controller.artifact_receiver import ArtifactReceiver
from app.controller.controller import MANAGED_SELECTOR, Controller
from app.controller.election import ElectionTiming, LeadershipLostError, LeaseElector
from app.controller.history import HistoryStore
from app.controller.metrics import ControllerMetrics
from app.controller.trends import trends_watch
from app.core.artifacts import RECEIVER_PORT
from app.core.names import INSTALLATION
from app.kube.client import KubeClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControllerOptions:
    """What a controller replica needs to know."""

    identity: str
    lease_namespace: str
    # The installation's name (Helm's fullnameOverride): its Lease and key Secret follow it.
    name: str = INSTALLATION
    kubeconfig: str | None = None
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped by Prometheus from the pod network
    metrics_port: int = 8080
    # Finishers' reports (every replica: the Service picks any); 0 serves none.
    report_port: int = RECEIVER_PORT
    selector: str = MANAGED_SELECTOR
    timing: ElectionTiming = ElectionTiming()  # noqa: RUF009 - frozen


async def _serve_metrics(metrics: ControllerMetrics, options: ControllerOptions) -> web.AppRunner:
    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, options.metrics_host, options.metrics_port).start()
    return runner


async def _serve_reports(
    client: KubeClient, options: ControllerOptions, key: bytes
) -> web.AppRunner | None:
    if not options.report_port:
        return None
    runner = web.AppRunner(ArtifactReceiver(client, key=key).application(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, options.metrics_host, options.report_port).start()
    return runner


async def run_controller(options: ControllerOptions) -> int:
    """Run one replica; 0 after SIGTERM, 1 when leadership was lost."""
    client = await KubeClient.connect(options.kubeconfig)
    # In the namespace the controller runs in, as the Lease.
    key = await ensure_key(client, options.lease_namespace, key_secret_name(options.name))
    metrics = ControllerMetrics()
    runner = await _serve_metrics(metrics, options)
    reports = await _serve_reports(client, options, key)
    elector = LeaseElector(
        client,
        options.lease_namespace,
        lease_name(options.name),
        options.identity,
        options.timing,
    )
    # The history settings are the installation's ConfigMap's, next to the Lease.
    history = HistoryStore(client, options.lease_namespace, f"{options.name}-config")
    controller = Controller(
        client,
        Actor(client, options.identity),
        metrics,
        selector=options.selector,
        key=key,
        install_namespace=options.lease_namespace,
        config_map=f"{options.name}-config",
        history=history,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    async def lead() -> None:
        await elector.acquire()
        metrics.leader.set(1)
        async with asyncio.TaskGroup() as group:
            group.create_task(elector.hold())
            group.create_task(controller.run())

    code = 0
    # Every replica serves the trend metrics, read from the histories the leader writes.
    trends = asyncio.ensure_future(trends_watch(client, metrics.registry).run())
    leading = asyncio.ensure_future(lead())
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([leading, stop], return_when=asyncio.FIRST_COMPLETED)
        if leading.done():
            error = leading.exception()
            if isinstance(error, BaseExceptionGroup) and error.subgroup(LeadershipLostError):
                log.error("leadership lost: exiting so a fresh replica can stand for election")
            else:
                log.error("controller stopped: %r", error)
            code = 1
        else:
            log.info("stopping")
    finally:
        leading.cancel()
        stop.cancel()
        trends.cancel()
        await asyncio.gather(leading, trends, return_exceptions=True)
        metrics.leader.set(0)
        await elector.release()
        await runner.cleanup()
        if reports is not None:
            await reports.cleanup()
        await client.close()
    return code
