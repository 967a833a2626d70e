"""``POST /v1/reports``: the controller keeps a finisher's Locust artifacts next to its Job.

The finisher has no API rights in the user's namespace, so it hands Locust's artifacts (HTML
report, stats, failures, exceptions) here with a projected token of our own audience; a
TokenReview says which pod the token was issued to, and only a pod we manage, with that
uid, has them kept (docs/design.md). The finisher sends all it read; what fits the
ConfigMap is decided here alone. Every replica serves it, not only the leader: the
artifacts arrive once, whichever replica the Service picks.
"""

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import BodyPartReader, web

from app.core import names, podview
from app.core.artifacts import (
    CONFIGMAP_BUDGET,
    FILES,
    GZIP_MAGIC,
    LEFT_OUT_PART,
    RECEIVER_PATH,
    REQUEST_LIMIT,
    Caller,
    LeftOut,
    RefusedError,
    artifacts_configmap,
    bearer_token,
    caller_of,
    check_pod,
    choose,
    decode_left_out,
    token_review,
)
from app.core.timestamps import format_time
from app.kube.client import KubeClient, KubeError, path_of

log = logging.getLogger(__name__)

TOKEN_REVIEWS = path_of("tokenreviews", group="authentication.k8s.io/v1")
# Part headers and boundaries on top of the files themselves.
_OVERHEAD = 64 * 1024
_CHUNK = 64 * 1024


class ArtifactReceiver:
    """Checks who sends artifacts, keeps what fits in a ConfigMap, answers in one line."""

    def __init__(
        self,
        client: KubeClient,
        clock: Callable[[], float] = time.time,
        request_limit: int = REQUEST_LIMIT,
        budget: int = CONFIGMAP_BUDGET,
    ) -> None:
        self.client = client
        self.clock = clock
        self.request_limit = request_limit
        self.budget = budget

    def application(self) -> web.Application:
        """The aiohttp application with the one route."""
        app = web.Application(client_max_size=self.request_limit + _OVERHEAD)
        app.router.add_post(RECEIVER_PATH, self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """One report: 201/200 kept, 400 bad body, 401 bad token, 403 not ours, 413 too large."""
        who = "unknown caller"
        try:
            caller = await self._caller(request)
            who = f"{caller.namespace}/{caller.pod_name}"
            pod = await self._pod(caller)
            files, left_out = await self._files(request)
            status, answer = await self._keep(pod, files, left_out)
        except RefusedError as refused:
            log.info("report from %s refused (%d): %s", who, refused.status, refused.message)
            return web.json_response(
                {"message": refused.message}, status=refused.status, dumps=_one_line
            )
        log.info("report from %s: %s", who, answer["message"])
        return web.json_response(answer, status=status, dumps=_one_line)

    async def _caller(self, request: web.Request) -> Caller:
        token = bearer_token(request.headers.get("Authorization"))
        try:
            review = await self.client.create(TOKEN_REVIEWS, token_review(token))
        except KubeError as error:
            raise RefusedError(503, f"cannot review the token now: {error}") from None
        return caller_of(review)

    async def _pod(self, caller: Caller) -> dict[str, Any]:
        try:
            pod: dict[str, Any] | None = await self.client.get(
                path_of("pods", caller.namespace, caller.pod_name)
            )
        except KubeError as error:
            if error.status != 404:
                raise RefusedError(503, f"cannot read the pod now: {error}") from None
            pod = None
        check_pod(pod, caller)
        assert pod is not None  # check_pod refused a missing pod
        return pod

    async def _files(self, request: web.Request) -> tuple[dict[str, bytes], list[LeftOut]]:
        """The files sent (gzip, as sent) and the finisher's own notes on what is missing.

        Raises:
            RefusedError: 413 past the request limit, 400 for anything but our multipart.
        """
        if request.content_length is not None and request.content_length > (
            self.request_limit + _OVERHEAD
        ):
            raise RefusedError(413, f"the report is larger than {self.request_limit} bytes")
        if request.content_type != "multipart/form-data":
            raise RefusedError(400, "the body must be multipart/form-data")
        files: dict[str, bytes] = {}
        left_out: list[LeftOut] = []
        total = 0
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise RefusedError(400, "nested multipart is not a report")
                name = part.name or ""
                if name not in (*FILES, LEFT_OUT_PART) or name in files:
                    raise RefusedError(400, f"unexpected part {name[:40]!r}")
                chunks: list[bytes] = []
                while chunk := await part.read_chunk(_CHUNK):
                    total += len(chunk)
                    if total > self.request_limit:
                        raise RefusedError(
                            413, f"the report is larger than {self.request_limit} bytes"
                        )
                    chunks.append(chunk)
                content = b"".join(chunks)
                if name == LEFT_OUT_PART:
                    left_out += decode_left_out(content.decode(errors="replace"))
                elif not content.startswith(GZIP_MAGIC):
                    raise RefusedError(400, f"{name} is not gzip")
                else:
                    files[name] = content
        except (ValueError, AssertionError) as error:  # aiohttp's word for a broken multipart
            raise RefusedError(400, f"not a multipart body: {str(error)[:80]}") from None
        if not files and not left_out:
            raise RefusedError(400, "no files in the report")
        return files, left_out

    async def _keep(
        self, pod: dict[str, Any], files: dict[str, bytes], left_out: list[LeftOut]
    ) -> tuple[int, dict[str, Any]]:
        # The one decision on the ConfigMap's budget (the finisher sends what it read).
        dropped = choose({name: len(data) for name, data in files.items()}, self.budget)
        kept = {name: data for name, data in files.items() if name not in {d.file for d in dropped}}
        left_out = [*left_out, *dropped]
        configmap = artifacts_configmap(pod, kept, left_out, format_time(self.clock()))
        metadata = configmap["metadata"]
        where = f"{metadata['namespace']}/{metadata['name']}"
        collection = path_of("configmaps", metadata["namespace"])
        try:
            try:
                await self.client.create(collection, configmap)
                status = 201
            except KubeError as error:
                if error.status != 409:
                    raise
                await self._replace(collection, configmap, where)
                status = 200
        except KubeError as error:
            raise RefusedError(503, f"cannot keep the report in {where} now: {error}") from None
        size = sum(len(data) for data in kept.values())
        left = "; ".join(f"{entry.file} left out: {entry.reason}" for entry in left_out)
        message = f"kept {', '.join(kept) or 'no files'} ({size} bytes) in ConfigMap {where}"
        return status, {
            "message": message + (f"; {left}" if left else ""),
            "configMap": metadata["name"],
            "kept": list(kept),
            "bytes": size,
            "leftOut": [entry.document() for entry in left_out],
        }

    async def _replace(self, collection: str, configmap: dict[str, Any], where: str) -> None:
        """A re-sent report overwrites the kept one, but never a ConfigMap that is not ours."""
        name = configmap["metadata"]["name"]
        current = await self.client.get(f"{collection}/{name}")
        metadata = podview.mapping(current, "metadata")
        labels = podview.mapping(metadata, "labels")
        ours = configmap["metadata"]["labels"][names.REPORT_OF_LABEL]
        if labels.get(names.REPORT_OF_LABEL) != ours:
            raise RefusedError(409, f"ConfigMap {where} exists and is not this pod's report")
        configmap["metadata"]["resourceVersion"] = metadata.get("resourceVersion")
        await self.client.replace(f"{collection}/{name}", configmap)


def _one_line(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))
