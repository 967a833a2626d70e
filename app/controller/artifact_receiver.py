"""``POST /v1/reports``: the controller keeps a finisher's Locust artifacts next to its Job.

The finisher has no API rights in the user's namespace, so it hands Locust's artifacts (HTML
report, stats, failures, exceptions) here with a projected token of our own audience; a
TokenReview says which pod the token was issued to, and only a pod we manage, with that
uid, has them kept (docs/design.md). The finisher sends all it read; what fits the
ConfigMap is decided here alone. Every replica serves it, not only the leader: the
artifacts arrive once, whichever replica the Service picks.
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import BodyPartReader, web

from app.controller.ownership import job_owns
from app.core import names, podview
from app.core.artifacts import (
    CONFIGMAP_BUDGET,
    FILES,
    GZIP_MAGIC,
    LEFT_OUT_LIMIT,
    LEFT_OUT_PART,
    PARTS_LIMIT,
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
    owner_reference,
    read_left_out,
    token_review,
)
from app.core.timestamps import format_time
from app.kube.client import KubeClient, KubeError, path_of

log = logging.getLogger(__name__)

TOKEN_REVIEWS = path_of("tokenreviews", group="authentication.k8s.io/v1")
# Part headers and boundaries on top of the files themselves.
_OVERHEAD = 64 * 1024
_CHUNK = 64 * 1024
# A finisher sends its request at once, from inside the cluster, within its own 10 s for all
# tries; a caller that takes longer is holding a connection open, not sending a report.
HEADER_SECONDS = 10.0  # from the connection (or the last answer on it) to the end of headers
BODY_SECONDS = 15.0  # reading one body, once its token and pod are checked
# After a refusal, what is still arriving is read and dropped this long, so the caller sees
# the answer rather than a reset; then the connection goes, however slowly it sends.
LINGER_SECONDS = 2.0
# Bodies read at once, each up to the request limit (16 x 1.8 MB): what bounds the memory
# of many slow callers with good tokens. Another waits this long for its turn, then hears 503
# (a finisher tries again). One pod sends one report at a time, so a pod's second body while
# its first is read is 429 at once: one token cannot take every turn.
READERS = 16
SLOT_SECONDS = 5.0
# aiohttp's own limits on a request's and a part's headers: ours carry a handful.
_MAX_HEADERS = 32
_MAX_FIELD = 8190
# The answer repeats at most one note for each file; this bounds it whatever a note says,
# well inside the 16 KiB a finisher reads of it.
_MESSAGE_LIMIT = 1024
# What multipart_pieces writes for a part, and all a part may say.
_PART_HEADERS = frozenset({"content-disposition", "content-type"})


class ArtifactReceiver:
    """Checks who sends artifacts, keeps what fits in a ConfigMap, answers in one line.

    Every input is bounded before it is held: the request's headers and body in time, the
    body, each part and the notes in size, the parts in number, the bodies read at once.
    Whatever is malformed is a 4xx, never a 5xx (a 5xx makes the finisher try again).
    """

    def __init__(
        self,
        client: KubeClient,
        clock: Callable[[], float] = time.time,
        request_limit: int = REQUEST_LIMIT,
        budget: int = CONFIGMAP_BUDGET,
        *,
        header_seconds: float = HEADER_SECONDS,
        body_seconds: float = BODY_SECONDS,
        readers: int = READERS,
        slot_seconds: float = SLOT_SECONDS,
        key: bytes,
    ) -> None:
        self.client = client
        self.key = key
        self.clock = clock
        self.request_limit = request_limit
        self.budget = budget
        self.header_seconds = header_seconds
        self.body_seconds = body_seconds
        self.slot_seconds = slot_seconds
        self._readers = asyncio.Semaphore(readers)
        self._reading: set[str] = set()  # the uids of the pods whose bodies are being read

    def application(self) -> web.Application:
        """The aiohttp application with the one route, and the server's limits it runs under.

        The limits travel in ``handler_args``, so any runner of this application serves with
        them. aiohttp starts its keep-alive timer when a connection opens and closes the
        connection if no complete request has arrived by then: that is the header deadline.
        """
        app = web.Application(
            client_max_size=self.request_limit + _OVERHEAD,
            handler_args={
                "keepalive_timeout": self.header_seconds,
                "lingering_time": LINGER_SECONDS,
                "max_headers": _MAX_HEADERS,
                "max_field_size": _MAX_FIELD,
                "max_line_size": _MAX_FIELD,
                # A compressed request body could inflate without bound before our caps.
                "auto_decompress": False,
            },
        )
        app.router.add_post(RECEIVER_PATH, self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """One report: 201/200 kept, else one line and 4xx (5xx: try again).

        400 bad body, 401 bad token, 403 not ours, 408 too slow, 411 no length, 413 too
        large, 429 this pod's report is being read, 503 busy or the API unavailable.
        """
        who = "unknown caller"
        try:
            self._check_head(request)
            caller = await self._caller(request)
            who = f"{caller.namespace}/{caller.pod_name}"
            pod = await self._pod(caller)
            files, left_out = await self._body(request, caller.pod_uid)
            status, answer = await self._keep(pod, files, left_out)
        except RefusedError as refused:
            log.info("report from %s refused (%d): %s", who, refused.status, refused.message)
            response = web.json_response(
                {"message": refused.message}, status=refused.status, dumps=_one_line
            )
            if not request.content.is_eof():
                response.force_close()  # the rest of the body is not worth the connection
            return response
        log.info("report from %s: %s", who, answer["message"])
        return web.json_response(answer, status=status, dumps=_one_line)

    def _check_head(self, request: web.Request) -> None:
        """What the headers alone refuse, before a TokenReview is spent on the caller."""
        if request.content_length is None:
            raise RefusedError(411, "the report needs a Content-Length")
        if request.content_length > self.request_limit + _OVERHEAD:
            raise RefusedError(413, f"the report is larger than {self.request_limit} bytes")
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise RefusedError(400, "the body must not be compressed as a whole")
        if request.content_type != "multipart/form-data":
            raise RefusedError(400, "the body must be multipart/form-data")

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
        check_pod(pod, caller, self.key)
        assert pod is not None  # check_pod refused a missing pod
        await self._check_job(pod, caller)
        return pod

    async def _check_job(self, pod: dict[str, Any], caller: Caller) -> None:
        """That the Job the record names exists and owns the pod, as the Job controller sees it.

        The ConfigMap is owned by that Job and found through it by ``report --job``.
        """
        owner = owner_reference(pod)
        where = f"{caller.namespace}/{caller.pod_name}"
        try:
            job = await self.client.get(
                path_of("jobs", caller.namespace, owner["name"], group="batch/v1")
            )
        except KubeError as error:
            if error.status == 404:
                raise RefusedError(403, f"pod {where}: its Job {owner['name']} is gone") from None
            raise RefusedError(503, f"cannot read the pod's Job now: {error}") from None
        labels = {str(k): str(v) for k, v in podview.labels(pod).items()}
        if not job_owns(job, owner["uid"], labels):
            raise RefusedError(403, f"pod {where}: Job {owner['name']} does not own it")

    async def _body(
        self, request: web.Request, pod_uid: str
    ) -> tuple[dict[str, bytes], list[LeftOut]]:
        """:meth:`_files`, within the body deadline, in turn (:data:`READERS`)."""
        if pod_uid in self._reading:
            raise RefusedError(429, "this pod's report is being read already")
        self._reading.add(pod_uid)
        try:
            try:
                async with asyncio.timeout(self.slot_seconds):
                    await self._readers.acquire()
            except TimeoutError:
                raise RefusedError(503, "busy reading other reports: try again") from None
            try:
                async with asyncio.timeout(self.body_seconds):
                    return await self._files(request)
            except TimeoutError:
                seconds = f"{self.body_seconds:g}"
                raise RefusedError(408, f"the body did not arrive within {seconds} s") from None
            finally:
                self._readers.release()
        finally:
            self._reading.discard(pod_uid)

    async def _files(self, request: web.Request) -> tuple[dict[str, bytes], list[LeftOut]]:
        """The files sent (gzip, as sent) and the finisher's own notes on what is missing.

        Never more than the caps is held: each part is read in chunks and refused once it
        passes its own cap or the request's.

        Raises:
            RefusedError: 413 past a size limit, 400 for anything but our multipart.
        """
        files: dict[str, bytes] = {}
        notes: bytes | None = None
        total = parts = 0
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                parts += 1
                if parts > PARTS_LIMIT:
                    raise RefusedError(400, f"more than {PARTS_LIMIT} parts")
                if not isinstance(part, BodyPartReader):
                    raise RefusedError(400, "nested multipart is not a report")
                name = part.name or ""
                if name not in (*FILES, LEFT_OUT_PART):
                    raise RefusedError(400, f"unexpected part {name[:40]!r}")
                if name in files or (name == LEFT_OUT_PART and notes is not None):
                    raise RefusedError(400, f"part {name} sent twice")
                # A part's own Content-Length or encoding changes how aiohttp frames or
                # reads it (a lying length swallows the closing boundary): ours have none.
                if {header.lower() for header in part.headers} - _PART_HEADERS:
                    raise RefusedError(400, f"part {name} has headers of its own")
                limit = LEFT_OUT_LIMIT if name == LEFT_OUT_PART else self.request_limit
                chunks: list[bytes] = []
                size = 0
                while chunk := await part.read_chunk(_CHUNK):
                    size += len(chunk)
                    total += len(chunk)
                    if size > limit:
                        raise RefusedError(413, f"{name} is larger than {limit} bytes")
                    if total > self.request_limit:
                        raise RefusedError(
                            413, f"the report is larger than {self.request_limit} bytes"
                        )
                    chunks.append(chunk)
                content = b"".join(chunks)
                if name == LEFT_OUT_PART:
                    notes = content
                elif not content.startswith(GZIP_MAGIC):
                    raise RefusedError(400, f"{name} is not gzip")
                else:
                    files[name] = content
        except RefusedError:
            raise
        except Exception as error:  # aiohttp's words for a broken body are many
            # ValueError, AssertionError, LineTooLong, InvalidHeader, RuntimeError, ...: the
            # caller's bytes, not our fault, so never a 500 (R3 of the 2026-12 campaign).
            what = str(error).splitlines()[0][:100] if str(error) else ""
            raise RefusedError(
                400, f"not our multipart body: {type(error).__name__} {what}".strip()
            ) from None
        try:
            left_out = [] if notes is None else read_left_out(notes, files)
        except ValueError as error:
            raise RefusedError(400, str(error)) from None
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
            # A policy's or RBAC's refusal (403) or an invalid object (422) stays one: a
            # finisher tries a 5xx again, and these would only be refused again.
            status = 403 if error.status in (403, 422) else 503
            raise RefusedError(status, f"cannot keep the report in {where}: {error}") from None
        size = sum(len(data) for data in kept.values())
        left = "; ".join(f"{entry.file} left out: {entry.reason}" for entry in left_out)
        message = f"kept {', '.join(kept) or 'no files'} ({size} bytes) in ConfigMap {where}"
        return status, {
            "message": (message + (f"; {left}" if left else ""))[:_MESSAGE_LIMIT],
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
