"""A registry on loopback that takes pushes: a platform team's own registry, for `make push`.

:mod:`devcluster.registry` serves the images built here and takes no writes. A from-source
install pushes our two images to the team's registry and has its nodes pull them from there;
the tests do the same against this one. It speaks the part of the OCI distribution API that
a push and a pull use (blob uploads: POST, PATCH, PUT; manifest PUT; GET and HEAD of both),
keeps what it is given in a directory and serves nothing else, so a pod running an image
from it runs what was pushed. What it is sent is bounded: each blob, each manifest and the
whole store in bytes, the blobs, open uploads and manifests in number, each read in time.

    python -m devcluster.push_registry --port 5001 DIRECTORY
"""

import argparse
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devcluster.registry import CHUNK, digest_of

# The distribution spec's grammar, for repository names, tags and digests.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_PATH = re.compile(
    rf"^/v2/(?P<name>{_NAME})/(?P<kind>manifests|blobs)/(?P<rest>[^/]+|uploads/[^/]*)$"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_NAME_BYTES = 255
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass(frozen=True)
class Limits:
    """How much one registry takes: enough for our two images, a few times over."""

    blob_bytes: int = 1 << 30
    store_bytes: int = 4 << 30
    manifest_bytes: int = 4 << 20
    blobs: int = 512
    uploads: int = 32  # open at once
    manifests: int = 256
    read_seconds: float = 60.0  # each read from a client


class RegistryError(Exception):
    """A refused request: its HTTP status and the distribution spec's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class _Upload:
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


class Store:
    """What was pushed: blobs as files, manifests in memory. Every limit is checked here."""

    def __init__(self, directory: Path, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._blob_dir = directory / "blobs"
        self._upload_dir = directory / "uploads"
        self._blob_dir.mkdir(parents=True, exist_ok=True)
        self._upload_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._uploads: dict[str, _Upload] = {}
        self._blobs: dict[str, int] = {}  # digest -> size
        self._manifests: dict[
            tuple[str, str], tuple[str, bytes]
        ] = {}  # (name, ref) -> (type, body)
        self._stored = 0  # bytes of blobs and of open uploads

    def start_upload(self) -> str:
        """A new, empty upload; its id."""
        with self._lock:
            if len(self._uploads) >= self.limits.uploads:
                raise RegistryError(
                    429, "TOOMANYREQUESTS", f"over {self.limits.uploads} open uploads"
                )
            upload = uuid.uuid4().hex
            self._uploads[upload] = _Upload()
        (self._upload_dir / upload).touch()
        return upload

    def append(self, upload: str, chunks: Iterator[bytes]) -> int:
        """Add ``chunks`` to an upload; its size. An upload over a limit is dropped."""
        try:
            with (self._upload_dir / upload).open("ab") as out:
                for chunk in chunks:
                    self._reserve(upload, len(chunk)).update(chunk)
                    out.write(chunk)
        except RegistryError:
            self.drop(upload)
            raise
        return self._open(upload).size

    def _open(self, upload: str) -> _Upload:
        found = self._uploads.get(upload)
        if found is None:
            raise RegistryError(404, "BLOB_UPLOAD_UNKNOWN", "no such upload")
        return found

    def _reserve(self, upload: str, size: int) -> Any:
        with self._lock:
            found = self._open(upload)
            if found.size + size > self.limits.blob_bytes:
                raise RegistryError(
                    413, "SIZE_INVALID", f"a blob over {self.limits.blob_bytes} bytes"
                )
            if self._stored + size > self.limits.store_bytes:
                raise RegistryError(
                    413, "DENIED", f"the store is full ({self.limits.store_bytes} bytes)"
                )
            found.size += size
            self._stored += size
            return found.digest

    def drop(self, upload: str) -> None:
        """Forget an upload and its bytes."""
        with self._lock:
            found = self._uploads.pop(upload, None)
            if found is not None:
                self._stored -= found.size
        (self._upload_dir / upload).unlink(missing_ok=True)

    def finish(self, upload: str, digest: str) -> None:
        """Make an upload the blob ``digest``, if its bytes have that digest."""
        with self._lock:
            found = self._open(upload)
            actual = "sha256:" + found.digest.hexdigest()
            new = actual == digest and digest not in self._blobs
            full = len(self._blobs) >= self.limits.blobs
            if new and not full:
                self._uploads.pop(upload)
                self._blobs[digest] = found.size
                (self._upload_dir / upload).rename(self._blob_path(digest))
                return
        # Refused, or a blob already here: the upload's bytes are not kept twice.
        self.drop(upload)
        if actual != digest:
            raise RegistryError(
                400, "DIGEST_INVALID", f"the upload's digest is {actual}, not {digest}"
            )
        if new:
            raise RegistryError(413, "DENIED", f"over {self.limits.blobs} blobs")

    def _blob_path(self, digest: str) -> Path:
        return self._blob_dir / digest.removeprefix("sha256:")

    def blob(self, digest: str) -> tuple[Path, int]:
        """A blob's file and size."""
        with self._lock:
            size = self._blobs.get(digest)
        if size is None:
            raise RegistryError(404, "BLOB_UNKNOWN", f"no blob {digest}")
        return self._blob_path(digest), size

    def put_manifest(self, name: str, reference: str, media_type: str, body: bytes) -> str:
        """Keep a manifest under its tag (or digest) and its digest; its digest."""
        digest = digest_of(body)
        if _DIGEST.fullmatch(reference) and reference != digest:
            raise RegistryError(400, "DIGEST_INVALID", f"the manifest's digest is {digest}")
        try:
            parsed = json.loads(body)
        except ValueError:
            raise RegistryError(400, "MANIFEST_INVALID", "not JSON") from None
        media_type = (
            media_type
            if media_type in MANIFEST_TYPES
            else str(parsed.get("mediaType", "") if isinstance(parsed, dict) else "")
        )
        if media_type not in MANIFEST_TYPES or not isinstance(parsed, dict):
            raise RegistryError(400, "MANIFEST_INVALID", f"not an image manifest: {media_type!r}")
        with self._lock:
            for kind, wanted in _references(parsed):
                there = (
                    wanted in self._blobs if kind == "blob" else (name, wanted) in self._manifests
                )
                if not there:
                    raise RegistryError(400, "MANIFEST_BLOB_UNKNOWN", f"{wanted} was not pushed")
            new = {(name, reference), (name, digest)} - self._manifests.keys()
            if len(self._manifests) + len(new) > self.limits.manifests:
                raise RegistryError(413, "DENIED", f"over {self.limits.manifests} manifests")
            self._manifests[(name, reference)] = self._manifests[(name, digest)] = (
                media_type,
                body,
            )
        return digest

    def manifest(self, name: str, reference: str) -> tuple[str, bytes]:
        """(media type, body) of a manifest, by tag or digest."""
        with self._lock:
            found = self._manifests.get((name, reference))
        if found is None:
            raise RegistryError(404, "MANIFEST_UNKNOWN", f"no manifest {name}:{reference}")
        return found


def _references(manifest: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """("blob" or "manifest", digest) of everything a manifest names."""
    config = manifest.get("config")
    described = [("blob", config)] if isinstance(config, dict) else []
    for key, kind in (("layers", "blob"), ("manifests", "manifest")):
        entries = manifest.get(key)
        described += [(kind, entry) for entry in entries or [] if isinstance(entries, list)]
    for kind, entry in described:
        wanted = entry.get("digest") if isinstance(entry, dict) else None
        if not isinstance(wanted, str) or not _DIGEST.fullmatch(wanted):
            raise RegistryError(400, "MANIFEST_INVALID", f"a {kind} without a sha256 digest")
        yield kind, wanted


def _handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = store.limits.read_seconds

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: a push makes many requests."""

        def do_GET(self) -> None:
            """/v2/, manifests and blobs."""
            self._guarded(lambda name, kind, rest: self._read(name, kind, rest, body=True))

        def do_HEAD(self) -> None:
            """Like GET, without the body."""
            self._guarded(lambda name, kind, rest: self._read(name, kind, rest, body=False))

        def do_POST(self) -> None:
            """Start a blob upload (monolithic when it names its digest)."""
            self._guarded(self._post)

        def do_PATCH(self) -> None:
            """Add to a blob upload."""
            self._guarded(self._patch)

        def do_PUT(self) -> None:
            """Finish a blob upload, or put a manifest."""
            self._guarded(self._put)

        def _guarded(self, route: Callable[[str, str, str], None]) -> None:
            url = urlsplit(self.path)
            try:
                if url.path in ("/v2", "/v2/"):
                    self._send(200, {"Content-Type": "application/json"}, b"{}")
                    return
                match = _PATH.match(url.path)
                if match is None or len(match["name"]) > _NAME_BYTES:
                    raise RegistryError(404, "NAME_INVALID", "not a repository path")
                route(match["name"], match["kind"], match["rest"])
            except RegistryError as error:
                # The request's body may be unread: this connection cannot carry another.
                self.close_connection = True
                message = {"errors": [{"code": error.code, "message": str(error)}]}
                self._send(
                    error.status, {"Content-Type": "application/json"}, json.dumps(message).encode()
                )

        def _query(self, key: str) -> str:
            return parse_qs(urlsplit(self.path).query).get(key, [""])[0]

        def _send(
            self, status: int, headers: dict[str, str], body: bytes = b"", length: int | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _read(self, name: str, kind: str, reference: str, body: bool) -> None:
            if kind == "manifests":
                media_type, manifest = store.manifest(name, reference)
                digest = digest_of(manifest)
                self._send(
                    200, {"Content-Type": media_type, "Docker-Content-Digest": digest}, manifest
                )
                return
            path, size = store.blob(reference)
            headers = {
                "Content-Type": "application/octet-stream",
                "Docker-Content-Digest": reference,
            }
            self._send(200, headers, length=size)
            if body:
                with path.open("rb") as blob:
                    while chunk := blob.read(CHUNK):
                        self.wfile.write(chunk)

        def _post(self, name: str, kind: str, rest: str) -> None:
            if (kind, rest) != ("blobs", "uploads/"):
                raise RegistryError(405, "UNSUPPORTED", "POST starts a blob upload only")
            upload = store.start_upload()
            digest = self._query("digest")
            if digest:
                self._finish(name, upload, digest)
                return
            store.append(upload, self._body())
            self._send(202, self._upload_headers(name, upload, 0))

        def _patch(self, name: str, kind: str, rest: str) -> None:
            upload = self._upload(kind, rest)
            size = store.append(upload, self._body())
            self._send(202, self._upload_headers(name, upload, size))

        def _put(self, name: str, kind: str, rest: str) -> None:
            if kind == "blobs":
                self._finish(name, self._upload(kind, rest), self._query("digest"))
                return
            if not (_TAG.fullmatch(rest) or _DIGEST.fullmatch(rest)):
                raise RegistryError(400, "TAG_INVALID", "not a tag or a digest")
            body = b"".join(self._body(store.limits.manifest_bytes))
            digest = store.put_manifest(name, rest, self.headers.get("Content-Type", ""), body)
            headers = {
                "Location": f"/v2/{name}/manifests/{digest}",
                "Docker-Content-Digest": digest,
            }
            self._send(201, headers)

        def _upload(self, kind: str, rest: str) -> str:
            upload = rest.removeprefix("uploads/")
            if kind != "blobs" or not rest.startswith("uploads/") or not upload:
                raise RegistryError(404, "BLOB_UPLOAD_UNKNOWN", "not an upload")
            return upload

        def _finish(self, name: str, upload: str, digest: str) -> None:
            if not _DIGEST.fullmatch(digest):
                store.drop(upload)
                raise RegistryError(400, "DIGEST_INVALID", "no sha256 digest given")
            store.append(upload, self._body())
            store.finish(upload, digest)
            headers = {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
            self._send(201, headers)

        def _upload_headers(self, name: str, upload: str, size: int) -> dict[str, str]:
            return {
                "Location": f"/v2/{name}/blobs/uploads/{upload}",
                "Docker-Upload-UUID": upload,
                "Range": f"0-{max(size - 1, 0)}",
            }

        def _body(self, limit: int | None = None) -> Iterator[bytes]:
            """The request's body in chunks, plain or chunked; over ``limit`` bytes is refused."""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = self._chunked()
            else:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    raise RegistryError(400, "SIZE_INVALID", "a bad Content-Length") from None
                chunks = self._fixed(length)
            seen = 0
            for chunk in chunks:
                seen += len(chunk)
                if limit is not None and seen > limit:
                    raise RegistryError(413, "SIZE_INVALID", f"a body over {limit} bytes")
                yield chunk

        def _fixed(self, length: int) -> Iterator[bytes]:
            while length > 0:
                chunk = self.rfile.read(min(CHUNK, length))
                if not chunk:
                    raise RegistryError(400, "BLOB_UPLOAD_INVALID", "the body ended early")
                length -= len(chunk)
                yield chunk

        def _chunked(self) -> Iterator[bytes]:
            while True:
                line = self.rfile.readline(66).split(b";")[0].strip()
                try:
                    size = int(line, 16)
                except ValueError:
                    raise RegistryError(400, "BLOB_UPLOAD_INVALID", "a bad chunk size") from None
                if size == 0:
                    self.rfile.readline(66)
                    return
                yield from self._fixed(size)
                self.rfile.readline(2 + 1)

    return Handler


def serve(directory: Path, port: int, limits: Limits = Limits()) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:``port`` (0: any) keeping pushes in ``directory``; not started."""
    return ThreadingHTTPServer(("127.0.0.1", port), _handler(Store(directory, limits)))


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("directory", type=Path)
    options = parser.parse_args()
    server = serve(options.directory, options.port)
    print(f"taking pushes on 127.0.0.1:{options.port} into {options.directory}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
