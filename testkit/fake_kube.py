"""One fake Kubernetes API for the tests: objects kept as the API server keeps them.

The same objects answer two ways:

- in-process, as the :class:`~app.kube.client.KubeClient` methods the controller and the
  artifact receiver call (``get``, ``list_pages``, ``watch``, ``create``, ``replace``,
  ``merge_patch``), raising :class:`~app.kube.client.KubeError` as the client does;
- over HTTP on loopback (:func:`running`), for what reaches the API through a kubeconfig
  (``wait``, ``artifacts``, ``mutate --from-cluster``): pods (listed, read, watched), Jobs,
  ConfigMaps, namespaces, Deployments, LimitRanges, ResourceQuotas and ``/version``.

What it does as the API server does: 404 for what is not there, 409 for a create of a name
that exists and for a write naming an older ``resourceVersion``, 422 for a merge patch naming
another uid, merge patches applied as RFC 7386 (null removes), ``labelSelector`` and
``fieldSelector`` (metadata.name) on lists and watches, ``limit`` and ``continue`` on HTTP
lists (items written one at a time, so a test's large namespace is never one string here),
TokenReviews answered from a table.
What a test arranges: a fault ``mode`` for every request, ``watch_scripts`` for in-process
watches, ``conflicts`` (someone else changes a Job between our read and our patch), and
``answers``: a hostile body for one path, streamed from chunks made as they are sent.
"""

import asyncio
import base64
import copy
import json
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from app.kube.client import KubeError, decode_watch_event

JsonDict = dict[str, Any]
Key = tuple[str, str]

# What the API does with every request: answer from its objects, or fail in one way. The
# status modes fail in-process calls too; "html", "drop" and "hang" are HTTP's alone.
MODES = ("normal", "forbidden", "unauthorized", "html", "drop", "hang", "error", "unavailable")
STATUS_MODES = {
    "forbidden": (403, 'pods is forbidden: User "ci" cannot list resource "pods" in the namespace'),
    "unauthorized": (401, "Unauthorized"),
    "error": (500, "etcdserver: leader changed"),
    "unavailable": (503, "etcdserver: leader changed"),
}

# A watch's "410 Gone", as the API server sends it (for ``watch_scripts``).
GONE_LINE = b'{"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}'


def gone() -> KubeError:
    """The 410 line as the client raises it when it decodes it (a ``GoneError``)."""
    try:
        decode_watch_event(GONE_LINE)
    except KubeError as error:
        return error
    raise AssertionError("a 410 line decodes to an error")


def status_body(code: int, message: str) -> JsonDict:
    """A ``Status`` object, as the API server answers an error."""
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "code": code}  # fmt: skip


class Objects(dict[Key, JsonDict]):
    """One kind's objects by ``(namespace, name)``, or by name alone when that is unambiguous.

    A bare name finds the object of that name in any namespace; a new one stored under a bare
    name goes to its own ``metadata.namespace`` or the API's default namespace.
    """

    def __init__(self, default_namespace: str) -> None:
        super().__init__()
        self.default_namespace = default_namespace

    def key(self, key: Key | str, obj: Mapping[str, Any] | None = None) -> Key:
        """``key`` as ``(namespace, name)``."""
        if isinstance(key, tuple):
            return key
        found = [k for k in self if k[1] == key]
        if len(found) == 1:
            return found[0]
        metadata = (obj or {}).get("metadata", {})
        return (metadata.get("namespace") or self.default_namespace, key)

    def __getitem__(self, key: Key | str) -> JsonDict:
        return super().__getitem__(self.key(key))

    def __setitem__(self, key: Key | str, value: JsonDict) -> None:
        super().__setitem__(self.key(key, value), value)

    def __delitem__(self, key: Key | str) -> None:
        super().__delitem__(self.key(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str | tuple) and super().__contains__(self.key(key))

    def get(self, key: Key | str, default: Any = None) -> Any:
        return super().get(self.key(key), default)

    def pop(self, key: Key | str, *default: Any) -> Any:
        return super().pop(self.key(key), *default)

    def put(self, obj: JsonDict, namespace: str | None = None) -> Key:
        """Store ``obj`` under its namespace (``namespace`` if given) and name."""
        metadata = obj["metadata"]
        if namespace is None:
            namespace = metadata.get("namespace") or self.default_namespace
        key = (namespace, metadata["name"])
        super().__setitem__(key, obj)
        return key


def merged(target: JsonDict, patch: Mapping[str, Any]) -> None:
    """RFC 7386, as the API server applies a merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping):
            child = target.get(key)
            if not isinstance(child, dict):
                child = target[key] = {}
            merged(child, value)
        else:
            target[key] = copy.deepcopy(value)


def parse_path(path: str) -> tuple[str, str | None, str | None]:
    """``(kind, namespace, name)`` of an API path; namespace None for every namespace."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if "namespaces" not in parts:
        return parts[-1], None, None
    at = parts.index("namespaces")
    rest = parts[at + 1 :]
    if len(rest) == 1:
        return "namespaces", "", rest[0]
    return rest[1], rest[0], rest[2] if len(rest) > 2 else None


def selected(obj: JsonDict, namespace: str | None, query: Mapping[str, Any]) -> bool:
    """Whether ``obj`` is listed, as the API server would select it.

    By ``namespace`` (None: every namespace), ``labelSelector`` (``key=value`` and ``key``
    terms) and ``fieldSelector`` (metadata.name).
    """
    metadata = obj["metadata"]
    labels = metadata.get("labels", {})
    wanted = [t.split("=", 1) for t in query.get("labelSelector", "").split(",") if t]
    fields = [t.split("=", 1) for t in query.get("fieldSelector", "").split(",") if t]
    return (
        (namespace is None or metadata.get("namespace", "default") == namespace)
        and all(
            labels.get(term[0]) == term[1] if len(term) == 2 else term[0] in labels
            for term in wanted
        )
        and all(k == "metadata.name" and metadata["name"] == v for k, v in fields)
    )


class FakeKube:
    """Objects by kind, namespace and name; a fault mode; every request it was asked."""

    def __init__(
        self,
        pods: Iterable[JsonDict] = (),
        *,
        jobs: Iterable[JsonDict] = (),
        services: Iterable[JsonDict] = (),
        configmaps: Iterable[JsonDict] = (),
        namespaces: Iterable[JsonDict] = (),
        token_reviews: Mapping[str, JsonDict] | None = None,
        watch_scripts: Iterable[list[Any]] = (),
        namespace: str = "default",
        version: int = 100,
    ) -> None:
        self.namespace = namespace
        self.objects: dict[str, Objects] = {}
        for kind, given in (("pods", pods), ("jobs", jobs), ("services", services),
                            ("configmaps", configmaps)):  # fmt: skip
            for obj in given:
                self.kind(kind).put(obj)
        for obj in namespaces:
            self.kind("namespaces").put(obj, namespace="")
        # TokenReview statuses by token; any other token is not authenticated.
        self.token_reviews: dict[str, JsonDict] = dict(token_reviews or {})
        self.mode = "normal"
        # "METHOD path?query" of every request, in order.
        self.requests: list[str] = []
        # Successful merge patches, in order: (path, patch).
        self.patches: list[tuple[str, JsonDict]] = []
        # Pods deleted: a write to one answers 404 (one never put is taken to exist elsewhere).
        self.deleted_pods: set[str] = set()
        # How many more Job patches someone else beats (the Job changes in between: 409).
        self.conflicts = 0
        # The resourceVersion the API is at; every pod change, as a watch replays it.
        self.version = version
        self.pod_events: list[tuple[int, str, JsonDict]] = []
        # In-process watches: each call plays the next script (events, then an exception or
        # a wait that never ends); counted with the versions they started from.
        self.watch_scripts: list[list[Any]] = list(watch_scripts)
        self.watch_calls = 0
        self.watch_versions: list[str] = []
        self.lists = 0
        # Over HTTP, "GET <path>" or "WATCH <path>" to what makes the body's chunks: the answer
        # a hostile server gives there instead of the objects (200, application/json).
        self.answers: dict[str, Callable[[], Iterable[bytes]]] = {}
        self.url = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        # What GET /version answers.
        self.server_version: JsonDict = {"major": "1", "minor": "35", "gitVersion": "v1.35.0"}

    # The objects.

    def kind(self, kind: str) -> Objects:
        """The objects of ``kind`` (plural, as in API paths)."""
        return self.objects.setdefault(kind, Objects(self.namespace))

    @property
    def pods(self) -> Objects:
        return self.kind("pods")

    @property
    def jobs(self) -> Objects:
        return self.kind("jobs")

    @property
    def configmaps(self) -> Objects:
        return self.kind("configmaps")

    @property
    def services(self) -> Objects:
        return self.kind("services")

    @property
    def events(self) -> Objects:
        return self.kind("events")

    def _record(self, kind: str, pod: JsonDict) -> None:
        self.version += 1
        pod = copy.deepcopy(pod)
        pod["metadata"]["resourceVersion"] = str(self.version)
        self.pod_events.append((self.version, kind, pod))

    def put_pod(self, pod: JsonDict) -> None:
        """Add or change a pod; a watch sees it."""
        metadata = pod["metadata"]
        key = (metadata.get("namespace", self.namespace), metadata["name"])
        self._record("MODIFIED" if key in self.pods else "ADDED", pod)
        self.pods[key] = pod

    def delete_pod(self, name: str, namespace: str = "default") -> None:
        """Delete a pod; a watch sees it, a write to it answers 404."""
        self._record("DELETED", self.pods.pop((namespace, name)))
        self.deleted_pods.add(name)

    def put_job(self, job: JsonDict) -> None:
        self.jobs.put(job)

    def put_configmap(self, configmap: JsonDict) -> None:
        self.configmaps.put(configmap)

    def put_service(self, service: JsonDict) -> None:
        self.services.put(service)

    def at_once(self, change: Callable[[], None]) -> None:
        """Make ``change`` between two HTTP requests: no answer can see it half done."""
        assert self.loop is not None

        async def apply() -> None:
            change()

        asyncio.run_coroutine_threadsafe(apply(), self.loop).result(10)

    def paths(self, method: str) -> list[str]:
        """The paths asked with ``method``, in order."""
        return [r.split(" ", 1)[1] for r in self.requests if r.startswith(f"{method} ")]

    def written(self, kind: str) -> dict[str, str]:
        """The annotations merged into objects of ``kind`` ("pods" or "jobs")."""
        return {
            key: value
            for path, patch in self.patches
            if f"/{kind}/" in path
            for key, value in patch["metadata"].get("annotations", {}).items()
        }

    def event_targets(self) -> list[tuple[str, str, str]]:
        """The Events created: (involved kind, involved name, reason), sorted."""
        return sorted(
            (e["involvedObject"]["kind"], e["involvedObject"]["name"], e["reason"])
            for e in self.events.values()
        )

    # In-process: what KubeClient's methods answer.

    def _ask(self, method: str, path: str, query: Mapping[str, Any] | None = None) -> None:
        tail = "&".join(f"{k}={v}" for k, v in (query or {}).items())
        self.requests.append(f"{method} {path}{'?' + tail if tail else ''}")
        if self.mode in STATUS_MODES:
            raise KubeError(*STATUS_MODES[self.mode])

    def _found(self, path: str) -> tuple[str, Key, JsonDict]:
        kind, namespace, name = parse_path(path)
        assert name is not None, path
        key = (namespace or "", name)
        found = self.kind(kind).get(key)
        if found is None:
            raise KubeError(404, f'{kind} "{name}" not found')
        return kind, key, found

    async def get(self, path: str, **query: Any) -> JsonDict:
        self._ask("GET", path, query)
        return copy.deepcopy(self._found(path)[2])

    async def list_pages(self, path: str, **query: Any) -> AsyncIterator[JsonDict]:
        self._ask("GET", path, query)
        kind, namespace, _ = parse_path(path)
        if kind == "pods":
            self.lists += 1
        items = [copy.deepcopy(o) for o in self.kind(kind).values()
                 if selected(o, namespace, query)]  # fmt: skip
        yield {"items": items, "metadata": {"resourceVersion": str(self.version)}}

    async def watch(self, path: str, version: str, **query: Any) -> AsyncIterator[JsonDict]:
        self._ask("GET", path, {**query, "watch": "true", "resourceVersion": version})
        self.watch_calls += 1
        self.watch_versions.append(version)
        script = self.watch_scripts.pop(0) if self.watch_scripts else []
        for step in script:
            if isinstance(step, BaseException):
                raise step
            yield step
        await asyncio.sleep(3600)

    async def create(self, path: str, body: Mapping[str, Any]) -> JsonDict:
        self._ask("POST", path)
        kind, namespace, _ = parse_path(path)
        if kind == "tokenreviews":
            return {
                "status": self.token_reviews.get(body["spec"]["token"], {"authenticated": False})
            }
        name = body["metadata"]["name"]
        objects = self.kind(kind)
        key = (namespace or "", name)
        if key in objects:
            raise KubeError(409, f'{kind} "{name}" already exists')
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["resourceVersion"] = "1"
        objects[key] = stored
        return dict(body)

    async def replace(self, path: str, body: Mapping[str, Any]) -> JsonDict:
        self._ask("PUT", path)
        kind, key, current = self._found(path)
        if body["metadata"].get("resourceVersion") != current["metadata"].get("resourceVersion"):
            raise KubeError(409, "the object has been modified")
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["resourceVersion"] = bump(current)
        self.kind(kind)[key] = stored
        return dict(body)

    async def delete(self, path: str, preconditions: Mapping[str, str] | None = None) -> JsonDict:
        self._ask("DELETE", path)
        kind, key, current = self._found(path)
        metadata = current["metadata"]
        for field, wanted in (preconditions or {}).items():
            if metadata.get(field) != wanted:
                raise KubeError(409, f"Precondition failed: {field} in precondition: {wanted}")
        del self.kind(kind)[key]
        return {"kind": "Status", "status": "Success"}

    async def merge_patch(self, path: str, patch: Mapping[str, Any]) -> JsonDict:
        self._ask("PATCH", path)
        kind, namespace, name = parse_path(path)
        assert name is not None, path
        key = (namespace or "", name)
        target = self.kind(kind).get(key)
        if kind == "pods" and name in self.deleted_pods:
            raise KubeError(404, f'{kind} "{name}" not found')
        if target is None:
            if kind != "pods":
                raise KubeError(404, f'{kind} "{name}" not found')
            self.patches.append((path, dict(patch)))
            return {}
        metadata = patch.get("metadata", {})
        uid = metadata.get("uid")
        if uid is not None and uid != target["metadata"].get("uid"):
            raise KubeError(422, "metadata.uid: Invalid value: field is immutable")
        if kind == "jobs" and self.conflicts:
            self.conflicts -= 1
            target["metadata"]["resourceVersion"] = bump(target)
        version = metadata.get("resourceVersion")
        if version is not None and version != target["metadata"].get("resourceVersion", version):
            raise KubeError(409, "the object has been modified")
        merged(target, patch)
        if "resourceVersion" in target["metadata"]:
            target["metadata"]["resourceVersion"] = bump(target)
        self.patches.append((path, dict(patch)))
        return copy.deepcopy(target)

    # Over HTTP.

    def application(self) -> web.Application:
        """The HTTP API: pods, Jobs and ConfigMaps, with the fault modes."""
        app = web.Application(middlewares=[self._faults])
        app.router.add_get("/api/v1/namespaces/{ns}/pods", self._list_pods)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", self._get)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/proxy/{tail:.*}", self._proxy)
        app.router.add_get("/apis/batch/v1/namespaces/{ns}/jobs/{name}", self._get)
        app.router.add_get("/api/v1/namespaces/{ns}/configmaps", self._list)
        app.router.add_get("/api/v1/namespaces/{ns}/configmaps/{name}", self._get)
        app.router.add_get("/api/v1/namespaces/{name}", self._get)
        app.router.add_get("/apis/apps/v1/namespaces/{ns}/deployments/{name}", self._get)
        app.router.add_get("/api/v1/namespaces/{ns}/limitranges", self._list)
        app.router.add_get("/api/v1/namespaces/{ns}/resourcequotas", self._list)
        app.router.add_get("/version", self._version)
        return app

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        if self.mode in STATUS_MODES:
            code, message = STATUS_MODES[self.mode]
            return web.json_response(status_body(code, message), status=code)
        if self.mode == "html":
            return web.Response(text="<html><body>Sign in</body></html>", content_type="text/html")
        if self.mode == "drop":
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if self.mode == "hang":
            await asyncio.sleep(3600)
        verb = "WATCH" if request.query.get("watch") == "true" else request.method
        chunks = self.answers.get(f"{verb} {request.path}")
        if chunks is not None:
            return await self._stream(request, chunks())
        response: web.StreamResponse = await handler(request)
        return response

    async def _stream(self, request: web.Request, chunks: Iterable[bytes]) -> web.StreamResponse:
        """A 200 JSON answer written chunk by chunk; a client that stops reading ends it."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            for chunk in chunks:
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as a capped reader should
        return response

    async def _list_pods(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "true":
            return await self._watch_pods(request, request.match_info["ns"])
        return await self._list(request)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        kind, namespace, _ = parse_path(request.path)
        items = [o for o in self.kind(kind).values() if selected(o, namespace, request.query)]
        start = int(request.query.get("continue") or 0)
        limit = int(request.query.get("limit") or 0)
        end = start + limit if limit else len(items)
        metadata: JsonDict = {"resourceVersion": str(self.version)}
        if end < len(items):
            metadata["continue"] = str(end)
        listed = {"pods": "PodList", "configmaps": "ConfigMapList", "limitranges": "LimitRangeList",
                  "resourcequotas": "ResourceQuotaList"}[kind]  # fmt: skip
        head = json.dumps({"kind": listed, "metadata": metadata})[:-1] + ', "items": ['

        def chunks() -> Iterator[bytes]:
            yield head.encode()
            for at, item in enumerate(items[start:end]):
                yield (", " if at else "").encode() + json.dumps(item).encode()
            yield b"]}"

        return await self._stream(request, chunks())

    async def _watch_pods(self, request: web.Request, namespace: str) -> web.StreamResponse:
        """Every change after the given resourceVersion, then the new ones as they come."""
        after = int(request.query.get("resourceVersion") or self.version)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        deadline = asyncio.get_running_loop().time() + int(request.query["timeoutSeconds"])
        while asyncio.get_running_loop().time() < deadline:
            for version, kind, pod in list(self.pod_events):
                if version > after and selected(pod, namespace, request.query):
                    line = json.dumps({"type": kind, "object": pod}) + "\n"
                    await response.write(line.encode())
                after = max(after, version)
            await asyncio.sleep(0.01)
        return response

    async def _get(self, request: web.Request) -> web.Response:
        kind, namespace, name = parse_path(request.path)
        found = self.kind(kind).get((namespace or "", name or ""))
        if found is None:
            label = "jobs.batch" if kind == "jobs" else kind
            return web.json_response(status_body(404, f'{label} "{name}" not found'), status=404)
        return web.json_response(found)

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(self.server_version)

    async def _proxy(self, request: web.Request) -> web.Response:
        return web.json_response(status_body(503, "no endpoints"), status=503)


def bump(obj: JsonDict) -> str:
    """The resourceVersion after ``obj``'s (``"1"`` if it had none)."""
    return str(int(obj["metadata"].get("resourceVersion", "0")) + 1)


@contextmanager
def running(tls: ssl.SSLContext | None = None, **given: Any) -> Iterator[FakeKube]:
    """A :class:`FakeKube` (made with ``given``) on 127.0.0.1 until the block ends.

    Over TLS with ``tls``.
    """
    fake = FakeKube(**given)
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
