"""A small REST client for the local API server, on plain dicts (tests and the demo).

The product's controller uses the official client; the test harness talks REST directly so
that what it does to the cluster is visible at a glance and nothing is lost in models.
"""

import json
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

JsonDict = dict[str, Any]

_PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        try:
            self.reason = json.loads(body).get("reason", "")
            message = json.loads(body).get("message", body)
        except ValueError:
            self.reason, message = "", body
        super().__init__(f"{status} {self.reason}: {message}")


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to prove who we are."""

    server: str
    ca_file: Path
    cert_file: Path
    key_file: Path

    def client_kwargs(self) -> dict[str, Any]:
        """TLS settings for an httpx client."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return {"base_url": self.server, "verify": context}


def _check(response: httpx.Response) -> JsonDict:
    if response.status_code >= 300:
        raise ApiError(response.status_code, response.text)
    document: JsonDict = response.json() if response.content else {}
    return document


def _patch_headers(kind: str) -> dict[str, str]:
    return {"Content-Type": _PATCH_TYPES[kind]}


class ApiClient:
    """Synchronous client: tests and the demo."""

    def __init__(self, credentials: Credentials, timeout: float = 30.0) -> None:
        self._http = httpx.Client(timeout=timeout, **credentials.client_kwargs())

    def close(self) -> None:
        """Release connections."""
        self._http.close()

    def get(self, path: str, **params: Any) -> JsonDict:
        """GET an object or a list."""
        return _check(self._http.get(path, params=params))

    def create(self, path: str, body: Mapping[str, Any], **params: Any) -> JsonDict:
        """POST a new object."""
        return _check(self._http.post(path, json=body, params=params))

    def replace(self, path: str, body: Mapping[str, Any]) -> JsonDict:
        """PUT an object."""
        return _check(self._http.put(path, json=body))

    def patch(self, path: str, body: Any, kind: str = "merge", **params: Any) -> JsonDict:
        """PATCH an object (merge, strategic or json)."""
        content = json.dumps(body)
        return _check(
            self._http.patch(path, content=content, headers=_patch_headers(kind), params=params)
        )

    def delete(self, path: str, grace_period_seconds: int | None = None) -> JsonDict:
        """DELETE an object; missing objects are not an error."""
        params = (
            {} if grace_period_seconds is None else {"gracePeriodSeconds": grace_period_seconds}
        )
        response = self._http.delete(path, params=params)
        if response.status_code == 404:
            return {}
        return _check(response)

    def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 60
    ) -> Iterator[JsonDict]:
        """Watch events from ``resource_version`` until the server ends the stream."""
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
            "allowWatchBookmarks": "true",
        }
        with self._http.stream("GET", path, params=params, timeout=timeout_seconds + 10) as stream:
            if stream.status_code >= 300:
                stream.read()
                raise ApiError(stream.status_code, stream.text)
            for line in stream.iter_lines():
                if line:
                    yield json.loads(line)
