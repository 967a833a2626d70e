"""A thin adapter over the official client's asyncio API that speaks plain dicts.

The controller and ``wait`` need a handful of REST calls: list, watch, get, merge-patch,
create, update. Going through the generated models would drop fields they do not know and
tie us to the generator's churn (the client's v36 broke many users), so this module uses
the client only for what it is good at (configuration, authentication, TLS, connection
pooling) and moves raw JSON.
"""

import json
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
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


def decode_watch_event(line: bytes) -> JsonDict:
    """One line of a watch stream; an ERROR event is raised as the error it carries."""
    event: JsonDict = json.loads(line)
    if event.get("type") == "ERROR":
        status = event.get("object") or {}
        raise api_error(int(status.get("code") or 500), str(status.get("message")))
    return event


class ConfigurationMissingError(Exception):
    """No usable kubeconfig and not running in a pod."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _error_message(status: int, body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict):
        return str(document.get("message") or document.get("reason") or body[:200])
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

    def __init__(self, api: ApiClient, namespace: str = "default") -> None:
        self._api = api
        # The namespace kubectl would use: the context's, or the pod's own.
        self.namespace = namespace

    @classmethod
    async def connect(
        cls, kubeconfig: str | None = None, context: str | None = None
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
        return cls(api, str(namespace))

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
            data = await response.read()
        except TRANSPORT_ERRORS as error:
            raise _transport_error(error, request_timeout) from None
        if response.status >= 300:
            raise api_error(response.status, _error_message(response.status, data))
        try:
            document = json.loads(data) if data else {}
        except ValueError:
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
            data = await response.read()
            raise api_error(response.status, _error_message(response.status, data))
        # Events are newline-delimited JSON; a pod can be longer than aiohttp's line limit, so
        # lines are cut from raw chunks here.
        pending = b""
        try:
            async for chunk in response.response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield decode_watch_event(line)
        except TRANSPORT_ERRORS as error:
            # A cut stream is an ordinary watch ending for the caller: it watches again.
            raise _transport_error(error, timeout_seconds + 30) from None
        finally:
            response.response.release()
