"""A thin adapter over the official client's asyncio API that speaks plain dicts.

The controller and ``wait`` need a handful of REST calls: list, watch, get, merge-patch,
create, update. Going through the generated models would drop fields they do not know and
tie us to the generator's churn (the client's v36 broke many users), so this module uses
the client only for what it is good at (configuration, authentication, TLS, connection
pooling) and moves raw JSON.
"""

import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from kubernetes.aio.client import ApiClient, Configuration
from kubernetes.aio.config import load_incluster_config, load_kube_config
from kubernetes.aio.config.config_exception import ConfigException

JsonDict = dict[str, Any]

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class KubeError(Exception):
    """A failed API call, with the HTTP status (0 when the server was not reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


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
    """No kubeconfig and not running in a pod."""


def _error_message(status: int, body: bytes) -> str:
    try:
        document = json.loads(body)
        return str(document.get("message") or document.get("reason") or body[:200])
    except ValueError:
        return body[:200].decode(errors="replace")


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


class KubeClient:
    """Dict-in, dict-out REST calls with the official client's configuration and auth."""

    def __init__(self, api: ApiClient) -> None:
        self._api = api

    @classmethod
    async def connect(
        cls, kubeconfig: str | None = None, context: str | None = None
    ) -> "KubeClient":
        """From ``kubeconfig`` (or $KUBECONFIG, ~/.kube/config), or the pod's service account.

        Raises:
            ConfigurationMissingError: when neither is available.
        """
        configuration = Configuration()
        kubeconfig = _kubeconfig_to_use(kubeconfig)
        try:
            if kubeconfig is None:
                load_incluster_config(client_configuration=configuration)
            else:
                await load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=configuration
                )
        except (ConfigException, OSError) as error:
            raise ConfigurationMissingError(
                f"no usable Kubernetes configuration: {str(error).splitlines()[0]}"
            ) from None
        return cls(ApiClient(configuration))

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
        except OSError as error:
            raise KubeError(0, f"cannot reach the API server: {error}") from None
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
        """Call and decode; non-2xx answers raise :class:`KubeError`."""
        response = await self._call(method, path, query, body, content_type, request_timeout)
        data = await response.read()
        if response.status >= 300:
            raise api_error(response.status, _error_message(response.status, data))
        document: JsonDict = json.loads(data) if data else {}
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
    ) -> AsyncIterator[JsonDict]:
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
        finally:
            response.response.release()
