"""A read-only registry on loopback that serves the images built here, for the node to pull.

A real node pulls: ``imagePullPolicy: Always`` (locust-k8s-operator 1.x sets it on the
exporter) asks the registry every time, and an image nobody serves fails with
``ErrImagePull`` as on any cluster. containerd is pointed at this server for every registry
host (``certs.d/_default``); it says which host it meant in the ``ns`` query parameter, so
``docker.io/locustio/locust:2.47.0`` and ``registry.k8s.io/pause:3.10.2`` are told apart.

Images come from :mod:`devcluster.images`' docker-archive tars, served as OCI manifests
with uncompressed layers straight out of the tars; nothing is copied.

    python -m devcluster.registry --port 5000 ARCHIVE.tar ...
"""

import argparse
import hashlib
import json
import tarfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import parse_qs, urlsplit

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
CHUNK = 1 << 20


class _Indexed(TypedDict):
    """One image of an archive: its tags, and (member, digest, size) of config and layers."""

    tags: list[str]
    config: list[Any]
    layers: list[list[Any]]


@dataclass(frozen=True)
class Blob:
    """Where a blob's bytes are: a member of an archive."""

    archive: Path
    member: str
    size: int


@dataclass
class Catalogue:
    """Manifests by reference and by digest, and blobs by digest."""

    manifests: dict[str, bytes]  # "host/repository:tag" or "sha256:..." -> manifest
    blobs: dict[str, Blob]

    def manifest(self, reference: str) -> tuple[str, bytes] | None:
        """(digest, manifest) for a reference or a digest."""
        body = self.manifests.get(reference)
        return None if body is None else (digest_of(body), body)


def digest_of(data: bytes) -> str:
    """The OCI digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _member_digest(archive: tarfile.TarFile, member: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    extracted = archive.extractfile(member)
    assert extracted is not None
    while chunk := extracted.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return "sha256:" + digest.hexdigest(), size


def _index(path: Path) -> list[_Indexed]:
    """The archive's images with their blobs' digests (cached beside it: tars are immutable)."""
    cached = path.with_name(path.name + ".registry.json")
    if cached.exists() and cached.stat().st_mtime >= path.stat().st_mtime:
        loaded: list[_Indexed] = json.loads(cached.read_text())
        return loaded
    images: list[_Indexed] = []
    with tarfile.open(path) as archive:
        extracted = archive.extractfile("manifest.json")
        assert extracted is not None
        for entry in json.load(extracted):
            config = entry["Config"]
            config_digest, config_size = _member_digest(archive, config)
            layers = [[member, *_member_digest(archive, member)] for member in entry["Layers"]]
            images.append(
                {
                    "tags": entry.get("RepoTags") or [],
                    "config": [config, config_digest, config_size],
                    "layers": layers,
                }
            )
    cached.write_text(json.dumps(images))
    return images


def catalogue(archives: list[Path]) -> Catalogue:
    """Everything the archives hold, addressable as a registry addresses it."""
    manifests: dict[str, bytes] = {}
    blobs: dict[str, Blob] = {}
    for path in archives:
        for image in _index(path):
            config_member, config_digest, config_size = image["config"]
            blobs[config_digest] = Blob(path, config_member, config_size)
            layers = []
            for member, digest, size in image["layers"]:
                blobs[digest] = Blob(path, member, size)
                layers.append({"mediaType": LAYER, "digest": digest, "size": size})
            body = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": MANIFEST,
                    "config": {"mediaType": CONFIG, "digest": config_digest, "size": config_size},
                    "layers": layers,
                },
                separators=(",", ":"),
            ).encode()
            manifests[digest_of(body)] = body
            for tag in image["tags"]:
                manifests[tag] = body
    return Catalogue(manifests, blobs)


def _handler(served: Catalogue) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: containerd asks a lot."""

        def _empty(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()

        def do_HEAD(self) -> None:
            """Like GET, without the body."""
            self._answer(body=False)

        def do_GET(self) -> None:
            """/v2/, manifests and blobs."""
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            url = urlsplit(self.path)
            host = parse_qs(url.query).get("ns", [""])[0]
            parts = url.path.strip("/").split("/")
            if parts == ["v2"]:
                self._empty(200)
            elif len(parts) >= 4 and parts[-2] == "manifests":
                repository, reference = "/".join(parts[1:-2]), parts[-1]
                self._manifest(host, repository, reference, body)
            elif len(parts) >= 4 and parts[-2] == "blobs":
                self._blob(parts[-1], body)
            else:
                self._empty(404)

        def _manifest(self, host: str, repository: str, reference: str, body: bool) -> None:
            key = (
                reference if reference.startswith("sha256:") else f"{host}/{repository}:{reference}"
            )
            found = served.manifest(key)
            if found is None:
                self._empty(404)
                return
            digest, manifest = found
            self.send_response(200)
            self.send_header("Content-Type", MANIFEST)
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("Content-Length", str(len(manifest)))
            self.end_headers()
            if body:
                self.wfile.write(manifest)

        def _blob(self, digest: str, body: bool) -> None:
            blob = served.blobs.get(digest)
            if blob is None:
                self._empty(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("Content-Length", str(blob.size))
            self.end_headers()
            if not body:
                return
            with tarfile.open(blob.archive) as archive:
                extracted = archive.extractfile(blob.member)
                assert extracted is not None
                while chunk := extracted.read(CHUNK):
                    self.wfile.write(chunk)

    return Handler


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("archives", nargs="+", type=Path)
    options = parser.parse_args()
    served = catalogue(options.archives)
    server = ThreadingHTTPServer(("127.0.0.1", options.port), _handler(served))
    print(f"serving {len(served.manifests)} manifests on 127.0.0.1:{options.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
