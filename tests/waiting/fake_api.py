"""A Kubernetes API server on loopback for `wait`: pods and Jobs, and the ways one goes wrong.

It runs in its own thread, so a test can drive `wait` in-process (its own event loop) or as
a subprocess, and change what the server says while `wait` follows.
"""

import asyncio
import copy
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

JsonDict = dict[str, Any]

# What the server does with every request: answer from its objects, or fail in one way.
MODES = ("normal", "forbidden", "unauthorized", "html", "drop", "hang", "error")


def status_body(code: int, message: str) -> JsonDict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "code": code}  # fmt: skip


class FakeApi:
    """Objects by namespace and name, a mode, and the paths it was asked for."""

    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], JsonDict] = {}
        self.jobs: dict[tuple[str, str], JsonDict] = {}
        # The controller's ConfigMaps that keep Locust's reports.
        self.configmaps: dict[tuple[str, str], JsonDict] = {}
        self.mode = "normal"
        self.requests: list[str] = []
        self.url = ""
        # Every change to a pod, in order, as a watch replays it: (resourceVersion, type, pod).
        self.pod_events: list[tuple[int, str, JsonDict]] = []
        self.version = 100
        self.loop: asyncio.AbstractEventLoop | None = None

    def _record(self, kind: str, pod: JsonDict) -> None:
        self.version += 1
        pod = copy.deepcopy(pod)
        pod["metadata"]["resourceVersion"] = str(self.version)
        self.pod_events.append((self.version, kind, pod))

    def put_pod(self, pod: JsonDict) -> None:
        metadata = pod["metadata"]
        key = (metadata.get("namespace", "default"), metadata["name"])
        self._record("MODIFIED" if key in self.pods else "ADDED", pod)
        self.pods[key] = pod

    def delete_pod(self, name: str, namespace: str = "default") -> None:
        self._record("DELETED", self.pods.pop((namespace, name)))

    def put_job(self, job: JsonDict) -> None:
        metadata = job["metadata"]
        self.jobs[(metadata.get("namespace", "default"), metadata["name"])] = job

    def put_configmap(self, configmap: JsonDict) -> None:
        metadata = configmap["metadata"]
        self.configmaps[(metadata.get("namespace", "default"), metadata["name"])] = configmap

    def at_once(self, change: Callable[[], None]) -> None:
        """Make ``change`` between two requests: no answer can see it half done."""
        assert self.loop is not None

        async def apply() -> None:
            change()

        asyncio.run_coroutine_threadsafe(apply(), self.loop).result(10)

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._faults])
        app.router.add_get("/api/v1/namespaces/{ns}/pods", self._list_pods)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", self._get_pod)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/proxy/{tail:.*}", self._proxy)
        app.router.add_get("/apis/batch/v1/namespaces/{ns}/jobs/{name}", self._get_job)
        app.router.add_get("/api/v1/namespaces/{ns}/configmaps", self._list_configmaps)
        return app

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        if self.mode == "forbidden":
            message = 'pods is forbidden: User "ci" cannot list resource "pods" in the namespace'
            return web.json_response(status_body(403, message), status=403)
        if self.mode == "unauthorized":
            return web.json_response(status_body(401, "Unauthorized"), status=401)
        if self.mode == "error":
            return web.json_response(status_body(500, "etcdserver: leader changed"), status=500)
        if self.mode == "html":
            return web.Response(text="<html><body>Sign in</body></html>", content_type="text/html")
        if self.mode == "drop":
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if self.mode == "hang":
            await asyncio.sleep(3600)
        response: web.StreamResponse = await handler(request)
        return response

    @staticmethod
    def _selected(pod: JsonDict, namespace: str, query: Any) -> bool:
        """``labelSelector`` (``key=value`` and ``key`` terms) and ``fieldSelector``
        (metadata.name) as served."""
        metadata = pod["metadata"]
        labels = metadata.get("labels", {})
        wanted = [t.split("=", 1) for t in query.get("labelSelector", "").split(",") if t]
        fields = [t.split("=", 1) for t in query.get("fieldSelector", "").split(",") if t]
        return (
            metadata.get("namespace", "default") == namespace
            and all(
                labels.get(term[0]) == term[1] if len(term) == 2 else term[0] in labels
                for term in wanted
            )
            and all(k == "metadata.name" and metadata["name"] == v for k, v in fields)
        )

    async def _list_pods(self, request: web.Request) -> web.StreamResponse:
        namespace = request.match_info["ns"]
        if request.query.get("watch") == "true":
            return await self._watch_pods(request, namespace)
        items = [pod for pod in self.pods.values() if self._selected(pod, namespace, request.query)]
        metadata = {"resourceVersion": str(self.version)}
        return web.json_response({"kind": "PodList", "items": items, "metadata": metadata})

    async def _list_configmaps(self, request: web.Request) -> web.Response:
        namespace = request.match_info["ns"]
        items = [c for c in self.configmaps.values() if self._selected(c, namespace, request.query)]
        return web.json_response({"kind": "ConfigMapList", "items": items, "metadata": {}})

    async def _watch_pods(self, request: web.Request, namespace: str) -> web.StreamResponse:
        """Every change after the given resourceVersion, then the new ones as they come."""
        after = int(request.query.get("resourceVersion") or self.version)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        deadline = asyncio.get_running_loop().time() + int(request.query["timeoutSeconds"])
        while asyncio.get_running_loop().time() < deadline:
            for version, kind, pod in list(self.pod_events):
                if version > after and self._selected(pod, namespace, request.query):
                    line = json.dumps({"type": kind, "object": pod}) + "\n"
                    await response.write(line.encode())
                after = max(after, version)
            await asyncio.sleep(0.01)
        return response

    async def _get_pod(self, request: web.Request) -> web.Response:
        return self._get(self.pods, request, "pods")

    async def _get_job(self, request: web.Request) -> web.Response:
        return self._get(self.jobs, request, "jobs.batch")

    def _get(
        self, objects: dict[tuple[str, str], JsonDict], request: web.Request, kind: str
    ) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        if key not in objects:
            return web.json_response(status_body(404, f'{kind} "{key[1]}" not found'), status=404)
        return web.json_response(objects[key])

    async def _proxy(self, request: web.Request) -> web.Response:
        return web.json_response(status_body(503, "no endpoints"), status=503)


@contextmanager
def running(tls: ssl.SSLContext | None = None) -> Iterator[FakeApi]:
    """A :class:`FakeApi` serving on 127.0.0.1 (over TLS with ``tls``) until the block ends."""
    fake = FakeApi()
    loop = fake.loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(fake.application(), access_log=None, shutdown_timeout=0.1)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        return int(runner.addresses[0][1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    fake.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    async def stop() -> None:
        await runner.cleanup()
        # Requests still hanging ("hang" mode) end here, not when the loop is collected.
        hanging = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in hanging:
            task.cancel()
        await asyncio.gather(*hanging, return_exceptions=True)

    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def write_kubeconfig(
    path: Path,
    server: str,
    *,
    namespace: str | None = None,
    ca_pem: bytes | None = None,
    extra_contexts: dict[str, str] | None = None,
) -> Path:
    """A kubeconfig whose current context points at ``server``; others by name -> namespace."""
    import base64

    cluster: JsonDict = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    context: JsonDict = {"cluster": "fake", "user": "ci"}
    if namespace:
        context["namespace"] = namespace
    contexts = [{"name": "fake", "context": context}]
    for name, other in (extra_contexts or {}).items():
        contexts.append({"name": name, "context": {"cluster": "fake", "user": "ci",
                                                    "namespace": other}})  # fmt: skip
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": cluster}],
        "users": [{"name": "ci", "user": {"token": "t"}}],
        "contexts": contexts,
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path
