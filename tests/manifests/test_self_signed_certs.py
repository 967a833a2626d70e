"""The self-signed install reads its certificate from the top-level certs/ folder."""

import base64
import subprocess
from pathlib import Path

import pytest

from devcluster.install import copy_manifests, make_certificates
from release.release_manifests import ReleaseError, kustomize
from tests.manifests.render import REPOSITORY, objects


def test_certs_holds_only_its_readme_and_kustomization_in_git() -> None:
    tracked = subprocess.run(
        [
            "git",
            "-C",
            str(REPOSITORY),
            "check-ignore",
            "--no-index",
            "certs/ca.key",
            "certs/tls.crt",
            "certs/ca.crt",
            "certs/tls.key",
            "certs/README.md",
            "certs/kustomization.yaml",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    ignored = set(tracked.stdout.split())
    assert ignored == {"certs/ca.key", "certs/tls.crt", "certs/ca.crt", "certs/tls.key"}


@pytest.mark.parametrize("overlay", ["self-signed", "dev"])
def test_the_overlay_serves_the_certificate_certs_made(tmp_path: Path, overlay: str) -> None:
    manifests = copy_manifests(tmp_path)
    make_certificates(manifests / "overlays" / "self-signed")
    rendered = objects(kustomize(manifests / "overlays" / overlay))
    secret = rendered[("Secret", "locust-finisher", "locust-finisher-webhook-tls")]
    on_disk = {name: (tmp_path / "certs" / name).read_bytes() for name in ("ca.crt", "tls.crt")}
    assert base64.b64decode(secret["data"]["tls.crt"]) == on_disk["tls.crt"]
    webhook = rendered[("MutatingWebhookConfiguration", "", "locust-finisher")]
    ca_bundle = webhook["webhooks"][0]["clientConfig"]["caBundle"]
    assert base64.b64decode(ca_bundle) == on_disk["ca.crt"]
    assert (tmp_path / "certs" / "tls.key").exists()


def test_the_overlay_refuses_to_build_before_certs_are_made(tmp_path: Path) -> None:
    manifests = copy_manifests(tmp_path)
    with pytest.raises(ReleaseError, match=r"certs/tls\.crt"):
        kustomize(manifests / "overlays" / "self-signed")
