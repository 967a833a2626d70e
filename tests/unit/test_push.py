"""`make push`: skopeo pushes what images.py archived to a registry that takes pushes.

The registry is devcluster.push_registry, the one the from-source cluster test pushes to;
here skopeo pushes a small docker-archive to it for real, and the registry's limits are
tried with plain HTTP.
"""

import hashlib
import http.client
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster import push
from devcluster.host_tools import present
from devcluster.images import ImageArchive, ImageBuildError
from devcluster.push_registry import Limits, serve


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    server = serve(tmp_path / "store", 0, Limits(blob_bytes=4096, manifest_bytes=2048, uploads=2))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _request(
    registry: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(registry, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _upload(registry: str, data: bytes, digest: str | None = None) -> int:
    status, headers, _ = _request(registry, "POST", "/v2/team/finisher/blobs/uploads/")
    assert status == 202
    location = headers["Location"]
    status, _, _ = _request(registry, "PATCH", location, data)
    if status != 202:
        return status
    status, _, _ = _request(registry, "PUT", f"{location}?digest={digest or _sha(data)}")
    return status


def _docker_archive(path: Path, reference: str) -> bytes:
    """A one-layer docker-archive, as images.py saves them; the layer's file's content."""
    content = b"built here\n"
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as files:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        files.addfile(info, io.BytesIO(content))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [_sha(layer.getvalue())]},
        }
    ).encode()
    manifest = [{"Config": "config.json", "RepoTags": [reference], "Layers": ["layer.tar"]}]
    with tarfile.open(path, "w") as archive:
        for name, data in (
            ("layer.tar", layer.getvalue()),
            ("config.json", config),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return content


@pytest.mark.skipif(not present("skopeo"), reason="skopeo is installed by `make setup`")
def test_skopeo_pushes_an_archive_under_the_registry_path_and_the_pushed_image_reads_back(
    tmp_path: Path,
) -> None:
    server = serve(tmp_path / "store", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        archive = tmp_path / "finisher.tar"
        content = _docker_archive(archive, "ghcr.io/locust-finisher/finisher:9.9.9")
        pushed = push.push(f"{host}/team", [ImageArchive(("ghcr.io/x/finisher:9.9.9",), archive)])

        assert len(pushed) == 1
        reference, _, digest = pushed[0].partition("@")
        assert reference == f"{host}/team/finisher:9.9.9"
        status, headers, body = _request(host, "GET", "/v2/team/finisher/manifests/9.9.9")
        assert status == 200
        assert headers["Docker-Content-Digest"] == digest == _sha(body)
        layer = json.loads(body)["layers"][0]
        status, _, blob = _request(host, "GET", f"/v2/team/finisher/blobs/{layer['digest']}")
        assert status == 200
        assert _sha(blob) == layer["digest"]
        with tarfile.open(fileobj=io.BytesIO(blob)) as files:  # skopeo compressed it
            extracted = files.extractfile("hello.txt")
            assert extracted is not None
            assert extracted.read() == content
        # What the node would pull from another repository path is not there.
        assert _request(host, "GET", "/v2/finisher/manifests/9.9.9")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


def test_a_blob_with_another_digest_or_over_the_size_limit_is_refused_and_never_served(
    registry: str,
) -> None:
    good = b"x" * 100
    assert _upload(registry, good) == 201
    assert _request(registry, "HEAD", f"/v2/team/finisher/blobs/{_sha(good)}")[0] == 200

    lie = _sha(b"something else")
    assert _upload(registry, good + b"!", lie) == 400
    assert _request(registry, "HEAD", f"/v2/team/finisher/blobs/{lie}")[0] == 404

    big = b"y" * 5000
    assert _upload(registry, big) == 413
    assert _request(registry, "HEAD", f"/v2/team/finisher/blobs/{_sha(big)}")[0] == 404


def test_a_chunked_upload_is_read_as_one_blob(registry: str) -> None:
    data = b"chunk one;chunk two"
    status, headers, _ = _request(registry, "POST", "/v2/team/app/blobs/uploads/")
    assert status == 202
    connection = http.client.HTTPConnection(registry, timeout=10)
    connection.request("PATCH", headers["Location"], body=iter([data[:9], data[9:]]))
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 202
    assert response.getheader("Range") == f"0-{len(data) - 1}"
    assert _request(registry, "PUT", f"{headers['Location']}?digest={_sha(data)}")[0] == 201


def test_a_manifest_naming_a_blob_nobody_pushed_or_too_big_or_not_json_is_refused(
    registry: str,
) -> None:
    config = b"{}"
    assert _upload(registry, config) == 201
    kind = "application/vnd.oci.image.manifest.v1+json"

    def manifest(layer: str) -> bytes:
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": kind,
                "config": {"mediaType": "x", "digest": _sha(config), "size": 2},
                "layers": [{"mediaType": "x", "digest": layer, "size": 1}],
            }
        ).encode()

    path = "/v2/team/finisher/manifests/1.0.0"
    headers = {"Content-Type": kind}
    missing = manifest(_sha(b"never pushed"))
    assert _request(registry, "PUT", path, missing, headers)[0] == 400
    assert _request(registry, "PUT", path, b"not json", headers)[0] == 400
    assert _request(registry, "PUT", path, b" " * 3000, headers)[0] == 413
    assert _request(registry, "GET", path)[0] == 404

    fine = manifest(_sha(config))
    status, answered, _ = _request(registry, "PUT", path, fine, headers)
    assert status == 201
    assert answered["Docker-Content-Digest"] == _sha(fine)
    assert _request(registry, "GET", f"/v2/team/finisher/manifests/{_sha(fine)}")[2] == fine


def test_names_out_of_the_grammar_and_uploads_over_the_count_are_refused(registry: str) -> None:
    assert _request(registry, "POST", "/v2/Team/finisher/blobs/uploads/")[0] == 404
    assert _request(registry, "GET", "/v2/../etc/manifests/x")[0] == 404
    for _ in range(2):
        assert _request(registry, "POST", "/v2/team/finisher/blobs/uploads/")[0] == 202
    assert _request(registry, "POST", "/v2/team/finisher/blobs/uploads/")[0] == 429


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("127.0.0.1:5000/from-source", True),
        ("localhost:5000", True),
        ("[::1]:5000/team", True),
        ("registry.example.com/platform", False),
        ("127.0.0.1.example.com/platform", False),
        ("10.0.0.1:5000/team", False),
    ],
)
def test_only_a_registry_on_loopback_is_spoken_to_without_tls(
    registry: str, loopback: bool
) -> None:
    assert push.on_loopback(registry) is loopback


@pytest.mark.parametrize(
    "registry", ["", "https://registry.example.com", "Registry.example.com", "r.example.com/x:1"]
)
def test_a_registry_that_cannot_start_an_image_reference_is_refused_before_any_build(
    registry: str,
) -> None:
    with pytest.raises(ImageBuildError, match="host\\[:port\\]/path"):
        push.check_registry(registry)
