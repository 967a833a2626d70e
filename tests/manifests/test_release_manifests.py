"""The files a GitHub release attaches: what `kubectl apply -k` would install, pre-rendered."""

from pathlib import Path

import pytest
import yaml

from app import __version__
from release import release_manifests
from tests.manifests.render import MANIFESTS, objects


def test_the_release_files_are_written_and_parse(tmp_path: Path) -> None:
    written = release_manifests.write(tmp_path / "release")
    assert sorted(path.name for path in written) == sorted(release_manifests.FILES)
    for path in written:
        assert list(yaml.safe_load_all(path.read_text()))


def test_the_install_file_is_the_cert_manager_overlay_with_this_versions_images(
    tmp_path: Path,
) -> None:
    (path,) = [p for p in release_manifests.write(tmp_path) if p.name == "locust-finisher.yaml"]
    text = path.read_text()
    assert text == release_manifests.kustomize(MANIFESTS / "overlays" / "cert-manager")
    assert f"image: ghcr.io/locust-finisher/locust-finisher:{__version__}" in text
    assert f"value: ghcr.io/locust-finisher/finisher:{__version__}" in text
    # One file for `kubectl apply --server-side -f`: the namespace first, no private key.
    assert next(iter(objects(text)))[0] == "Namespace"
    assert "PRIVATE KEY" not in text
    assert "kind: Secret" not in text


def test_the_network_policy_file_takes_its_namespace_from_kubectl(tmp_path: Path) -> None:
    (path,) = [
        p
        for p in release_manifests.write(tmp_path)
        if p.name == "locust-finisher-network-policy.yaml"
    ]
    rendered = objects(path.read_text())
    assert list(rendered) == [("NetworkPolicy", "", "locust-finisher-exporter-access")]
    component = MANIFESTS / "components" / "network-policy" / "network-policy.yaml"
    assert (
        rendered[("NetworkPolicy", "", "locust-finisher-exporter-access")]["spec"]
        == (yaml.safe_load(component.read_text())["spec"])
    )


def test_a_release_with_another_versions_images_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(release_manifests, "__version__", "99.0.0")
    assert release_manifests.main([str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()
