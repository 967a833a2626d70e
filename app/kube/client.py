"""A thin adapter over the official client's asyncio API that speaks plain dicts.

The controller and ``wait`` need a handful of REST calls: list, watch, get, merge-patch,
create, update. Going through the generated models would drop fields they do not know and
tie us to the generator's churn (the client's v36 broke many users), so this module uses
the client only for what it is good at (configuration, authentication, TLS, connection
pooling) and moves raw JSON.

Every answer is read as an untrusted input, whatever sits at the kubeconfig's address: read in
chunks and cut past a size cap, and decoded only when its nesting and its count of JSON values
are bounded (:class:`AnswerLimits`), so a hostile answer costs a bounded amount of memory and
ends as one :class:`NotAnApiServerError`, never a ``RecursionError``.
"""

import json
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from kubernetes.aio.client import ApiClient, Configuration
from kubernetes.aio.config import load_incluster_config, load_kube_config
from kubernetes.aio.config.config_exception import ConfigException

JsonDict = dict[str, Any]

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
SERVICE_ACCOUNT_TOKEN = SERVICE_ACCOUNT / "token"


class KubeError(Exception):
    """A failed API call, with the HTTP status (0 when the server was not reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether asking again later may succeed: an outage, overload or throttling."""
        return self.status >= 500 or self.status in (0, 408, 429)


class UnreachableError(KubeError):
    """No answer: the connection was refused, dropped or timed out (worth retrying)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class UntrustedServerError(KubeError):
    """The TLS handshake failed: a wrong CA or server name; retrying cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)

    @property
    def retryable(self) -> bool:
        """Never: the same certificate will be presented again."""
        return False


class NotAnApiServerError(KubeError):
    """An answer that is not Kubernetes JSON, such as a proxy's or a login page's HTML."""

    @property
    def retryable(self) -> bool:
        """Never: whatever answered is not the API server."""
        return False


class GoneError(KubeError):
    """HTTP 410: the resourceVersion is too old to resume a watch from; list again."""

    def __init__(self, message: str) -> None:
        super().__init__(410, message)


def api_error(status: int, message: str) -> KubeError:
    """The error for a failed call or a watch's ERROR event: :class:`GoneError` for 410."""
    return GoneError(message) if status == 410 else KubeError(status, message)


MIB = 1024 * 1024


@dataclass(frozen=True)
class AnswerLimits:
    """What one answer (an object, a list page, a watch event) may cost before it is refused.

    The defaults suit the controller's pages of 100 pods. ``wait`` and ``report`` use
    :data:`READER_LIMITS`: their pages are small, and their memory is a CI runner's.
    """

    # Bytes of one answer or watch line. etcd keeps an object within 1.5 MiB (as JSON, with
    # base64 for binaryData, about 2 MiB); a page holds ``limit`` of them.
    size: int = 32 * MIB
    # JSON values (commas and brackets, counted before decoding): each costs up to ~200 bytes
    # of Python objects, so 16 MiB of ``[{},{},...]`` alone would take 450 MiB.
    values: int = 2_000_000
    # Kubernetes objects nest about 20 deep (managedFields mirror the object); 100 leaves room
    # for any real one and keeps recursive code (json.dumps, deepcopy) far from its limit.
    depth: int = 100


# 16 MiB holds a page of 8 of the largest objects; 300,000 values is about 60 MiB of Python
# objects at worst, and over 100 pods of ~2,000 values each (status and managedFields in).
READER_LIMITS = AnswerLimits(size=16 * MIB, values=300_000)


class RefusedAnswerError(ValueError):
    """JSON that is not decoded: too many values, too deep, or not JSON at all (one line)."""


def _depth(document: Any, limit: int) -> int:
    """How deep ``document`` nests, counted without recursion, stopping past ``limit``."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return deepest


def decode_json(data: bytes | bytearray | str, limits: AnswerLimits = READER_LIMITS) -> Any:
    """JSON from an untrusted source, within ``limits`` (its size is the caller's to cap).

    Raises:
        RefusedAnswerError: when it is not JSON, has too many values or nests too deeply.
    """
    raw = data.encode() if isinstance(data, str) else data
    values = raw.count(b",") + raw.count(b"{") + raw.count(b"[")
    if values > limits.values:
        raise RefusedAnswerError(f"has over {limits.values} JSON values")
    try:
        document = json.loads(data)
    except RecursionError:
        raise RefusedAnswerError(f"is nested more than {limits.depth} deep") from None
    except ValueError as error:
        raise RefusedAnswerError(f"is not JSON: {_first_line(error)}") from None
    if _depth(document, limits.depth) > limits.depth:
        raise RefusedAnswerError(f"is nested more than {limits.depth} deep")
    return document


def decode_watch_event(line: bytes | bytearray, limits: AnswerLimits = READER_LIMITS) -> JsonDict:
    """One line of a watch stream; an ERROR event is raised as the error it carries.

    Raises:
        NotAnApiServerError: when the line is not a watch event within ``limits``.
    """
    try:
        event = decode_json(line, limits)
    except RefusedAnswerError as error:
        raise NotAnApiServerError(200, f"a watch event from the API server {error}") from None
    if not isinstance(event, dict):
        raise NotAnApiServerError(200, "a watch event from the API server is not an object")
    if event.get("type") == "ERROR":
        status = event.get("object")
        status = status if isinstance(status, dict) else {}
        code = status.get("code")
        raise api_error(code if isinstance(code, int) else 500, str(status.get("message"))[:300])
    return event


class ConfigurationMissingError(Exception):
    """No usable kubeconfig and not running in a pod."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _error_message(status: int, body: bytes) -> str:
    try:
        document = decode_json(body)
    except RefusedAnswerError:
        document = None
    if isinstance(document, dict):
        return str(document.get("message") or document.get("reason") or body[:200])[:300]
    # Not a Status object: a proxy or load balancer answered; its first line says enough.
    text = body[:200].decode(errors="replace").strip()
    return text.splitlines()[0] if text else "no body"


def _transport_error(error: BaseException, seconds: float | None) -> KubeError:
    """The :class:`KubeError` for an exception raised by the transport."""
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return UntrustedServerError(
            f"the API server's certificate is not trusted: {_first_line(error.certificate_error)}"
        )
    if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError):
        return UntrustedServerError(f"TLS with the API server failed: {_first_line(error)}")
    if isinstance(error, TimeoutError):
        return UnreachableError(f"no answer from the API server within {seconds or 0:g}s")
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return UnreachableError(f"the API server dropped the connection: {_first_line(error)}")
    return UnreachableError(f"cannot reach the API server: {_first_line(error)}")


# What a failing request can raise below us: aiohttp's errors, socket errors, and its timeouts.
TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)

# Of an error's body, what is read: a Status object is a few hundred bytes.
ERROR_BODY_LIMIT = 64 * 1024


def _mib(size: int) -> str:
    return f"{size / MIB:g} MiB"


async def _read_capped(
    response: aiohttp.ClientResponse, limit: int, *, cut: bool = False
) -> bytearray:
    """The body, read in chunks: at most ``limit`` bytes of it are ever held.

    Past ``limit``, the rest is not read: with ``cut`` the first ``limit`` bytes are the
    answer, else the answer is refused. The caller closes the response, and with it the
    connection a refused answer was still coming on.

    Raises:
        NotAnApiServerError: for an answer larger than ``limit`` (not ``cut``).
    """
    too_large = NotAnApiServerError(
        response.status, f"the API server's answer is larger than {_mib(limit)}; refused"
    )
    if (response.content_length or 0) > limit and not cut:
        raise too_large
    body = bytearray()
    async for chunk in response.content.iter_chunked(256 * 1024):
        body += chunk
        if len(body) > limit:
            if cut:
                return body[:limit]
            raise too_large
    return body


def path_of(
    plural: str, namespace: str | None = None, name: str | None = None, group: str = ""
) -> str:
    """The REST path of a collection or object (``group`` like ``batch/v1``; core if empty)."""
    base = f"/apis/{group}" if group else "/api/v1"
    collection = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    return f"{collection}/{name}" if name else collection


def _in_pod() -> bool:
    return "KUBERNETES_SERVICE_HOST" in os.environ and SERVICE_ACCOUNT_TOKEN.exists()


def _kubeconfig_to_use(given: str | None) -> str | None:
    """The kubeconfig file to load, or None for the pod's service account.

    Raises:
        ConfigurationMissingError: with one line saying what is missing.
    """
    if given is not None:
        if not Path(given).is_file():
            raise ConfigurationMissingError(f"{given}: no such kubeconfig file")
        return given
    if _in_pod():
        return None
    default = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(
        Path.home() / ".kube" / "config"
    )
    if not Path(default).is_file():
        raise ConfigurationMissingError(
            "no kubeconfig (give --kubeconfig or set KUBECONFIG) and not running in a pod"
        )
    return default


def _pod_namespace() -> str:
    try:
        return (SERVICE_ACCOUNT / "namespace").read_text().strip() or "default"
    except OSError:
        return "default"


# A kubeconfig's shape is whatever a user or a cloud tool wrote; the loader reports a missing
# or mistyped field as any of these.
_KUBECONFIG_ERRORS = (
    ConfigException,
    OSError,
    ValueError,
    yaml.YAMLError,
    KeyError,
    TypeError,
    AttributeError,
)


class KubeClient:
    """Dict-in, dict-out REST calls with the official client's configuration and auth."""

    def __init__(
        self, api: ApiClient, namespace: str = "default", limits: AnswerLimits | None = None
    ) -> None:
        self._api = api
        # The namespace kubectl would use: the context's, or the pod's own.
        self.namespace = namespace
        self.limits = limits or AnswerLimits()

    @classmethod
    async def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        limits: AnswerLimits | None = None,
    ) -> "KubeClient":
        """From ``kubeconfig`` (or $KUBECONFIG, ~/.kube/config), or the pod's service account.

        Raises:
            ConfigurationMissingError: when neither is available or usable, in one line.
        """
        configuration = Configuration()
        kubeconfig = _kubeconfig_to_use(kubeconfig)
        where = kubeconfig or "the pod's service account"
        try:
            if kubeconfig is None:
                load_incluster_config(client_configuration=configuration)
                namespace = _pod_namespace()
            else:
                loader = await load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=configuration
                )
                namespace = loader.current_context["context"].get("namespace") or "default"
            # The TLS context is built here, so a CA that is not a certificate fails here.
            api = ApiClient(configuration)
        except _KUBECONFIG_ERRORS as error:
            raise ConfigurationMissingError(
                f"{where} is not a usable Kubernetes configuration: {_first_line(error)}"
            ) from None
        return cls(api, str(namespace), limits)

    async def close(self) -> None:
        """Release connections."""
        await self._api.close()

    async def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float | None = None,
    ) -> Any:
        """One request; returns the aiohttp response (status unchecked)."""
        query_params = [(key, value) for key, value in (query or {}).items() if value is not None]
        serialized = await self._api.param_serialize(
            method,
            path,
            query_params=query_params or None,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        method_, url, headers, data, post = serialized
        try:
            response = await self._api.call_api(
                method_, url, headers, data, post, _request_timeout=request_timeout
            )
        except TRANSPORT_ERRORS as error:
            raise _transport_error(error, request_timeout) from None
        return response

    async def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float = 30,
    ) -> JsonDict:
        """Call and decode; non-2xx and non-JSON answers raise :class:`KubeError`."""
        response = await self._call(method, path, query, body, content_type, request_timeout)
        try:
            if response.status >= 300:
                # A Status is a few hundred bytes; the rest of a larger body is not read.
                data = await _read_capped(response.response, ERROR_BODY_LIMIT, cut=True)
                raise api_error(response.status, _error_message(response.status, bytes(data)))
            data = await _read_capped(response.response, self.limits.size)
        except TRANSPORT_ERRORS as error:
            raise _transport_error(error, request_timeout) from None
        finally:
            response.response.close()
        try:
            document = decode_json(data, self.limits) if data else {}
        except RefusedAnswerError as error:
            if not str(error).startswith("is not JSON"):
                answer = f"the API server's answer {error}"
                raise NotAnApiServerError(response.status, answer) from None
            document = None
        if not isinstance(document, dict):
            kind = response.headers.get("Content-Type") or "no content type"
            raise NotAnApiServerError(
                response.status,
                f"the answer is {kind}, not Kubernetes JSON: is {self._api.configuration.host} "
                "the API server?",
            )
        return document

    async def get(self, path: str, **query: Any) -> JsonDict:
        """GET an object or a collection."""
        return await self.request("GET", path, query)

    async def list_pages(
        self, path: str, page_size: int = 100, **query: Any
    ) -> AsyncIterator[JsonDict]:
        """A collection one page at a time; the last page's metadata has the list's version."""
        token: str | None = None
        while True:
            page = await self.get(path, limit=page_size, **{"continue": token}, **query)
            yield page
            token = page.get("metadata", {}).get("continue")
            if not token:
                return

    async def merge_patch(self, path: str, patch: Mapping[str, Any]) -> JsonDict:
        """An RFC 7386 merge patch (labels and annotations are merged key by key)."""
        return await self.request(
            "PATCH", path, body=dict(patch), content_type="application/merge-patch+json"
        )

    async def create(self, path: str, body: Mapping[str, Any]) -> JsonDict:
        """POST a new object."""
        return await self.request("POST", path, body=dict(body))

    async def replace(self, path: str, body: Mapping[str, Any]) -> JsonDict:
        """PUT an object (optimistic concurrency through its resourceVersion)."""
        return await self.request("PUT", path, body=dict(body))

    async def delete(self, path: str, preconditions: Mapping[str, str] | None = None) -> JsonDict:
        """DELETE an object; with ``preconditions`` (uid, resourceVersion), only if unchanged."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        options: dict[str, Any] = {**body, "preconditions": dict(preconditions or {})}
        return await self.request("DELETE", path, body=options)

    async def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 300, **query: Any
    ) -> AsyncGenerator[JsonDict, None]:
        """Watch events after ``resource_version``, bookmarks included, until the stream ends.

        Raises:
            GoneError: when the server no longer has ``resource_version``.
            KubeError: for any other failure, including a watch's ERROR event.
        """
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
            **query,
        }
        response = await self._call("GET", path, params, request_timeout=timeout_seconds + 30)
        if response.status >= 300:
            try:
                data = await _read_capped(response.response, ERROR_BODY_LIMIT, cut=True)
            except TRANSPORT_ERRORS as error:
                raise _transport_error(error, timeout_seconds + 30) from None
            finally:
                response.response.close()
            raise api_error(response.status, _error_message(response.status, bytes(data)))
        # Events are newline-delimited JSON; a pod can be longer than aiohttp's line limit, so
        # lines are cut from raw chunks here, each within the size of one answer.
        pending = bytearray()
        try:
            async for chunk in response.response.content.iter_any():
                pending += chunk
                if b"\n" in chunk:
                    *lines, rest = pending.split(b"\n")
                    pending = bytearray(rest)
                    for line in lines:
                        if line.strip():
                            yield decode_watch_event(line, self.limits)
                if len(pending) > self.limits.size:
                    too_large = f"larger than {_mib(self.limits.size)}; refused"
                    raise NotAnApiServerError(
                        200, f"a watch event from the API server is {too_large}"
                    )
        except TRANSPORT_ERRORS as error:
            # A cut stream is an ordinary watch ending for the caller: it watches again.
            raise _transport_error(error, timeout_seconds + 30) from None
        finally:
            # Closed, not released: a stream left mid-way must not go back to the pool.
            response.response.close()
