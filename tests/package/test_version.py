"""One version: every place that copies pyproject.toml's agrees, and ``set`` moves them all."""

import datetime
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import app
from release import version as tool
from release.version import REPOSITORY_ROOT, check, main, pyproject_version, set_version
from tests.package.commands import UV

# A kustomize overlay that pins our two images (as a private mirror would) and someone
# else's, which must keep its own tag.
PINNED_IMAGES = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: ghcr.io/locust-finisher/locust-finisher
    newName: mirror.example/locust-finisher
    newTag: "0.1.0"
  - newTag: 0.1.0
    name: ghcr.io/locust-finisher/finisher
  - name: docker.io/containersol/locust_exporter
    newTag: v0.5.0
"""


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The files that carry the version, copied; with an overlay pinning image tags."""
    for name in (tool.PYPROJECT, tool.LOCKFILE, tool.CHANGELOG, tool.DOCKERFILE, "README.md"):
        shutil.copy(REPOSITORY_ROOT / name, tmp_path / name)
    for folder in (tool.MANIFESTS, "docs"):
        shutil.copytree(REPOSITORY_ROOT / folder, tmp_path / folder)
    overlay = tmp_path / tool.MANIFESTS / "overlays" / "pinned"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(PINNED_IMAGES)
    return tmp_path


def test_every_place_in_the_repository_carries_the_pyproject_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check"]) == 0, capsys.readouterr().err
    assert app.__version__ == pyproject_version(REPOSITORY_ROOT)


def test_set_rewrites_every_place(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = pyproject_version(copy)
    before = [(place.path, place.what) for place in tool.find_places(copy)]
    assert main(["--root", str(copy), "set", "0.2.0"]) == 0, capsys.readouterr().err

    assert check(copy) == []
    after = tool.find_places(copy)
    assert [(place.path, place.what) for place in after] == before
    assert {place.value for place in after} == {"0.2.0"}
    assert "ARG VERSION=0.2.0\n" in (copy / tool.DOCKERFILE).read_text()
    pyproject = tomllib.loads((copy / tool.PYPROJECT).read_text())
    assert pyproject["project"]["version"] == "0.2.0"
    lock = tomllib.loads((copy / tool.LOCKFILE).read_text())
    (locked,) = [entry for entry in lock["package"] if entry["name"] == "locust-finisher"]
    assert locked["version"] == "0.2.0"
    # uv agrees: `uv run --locked` keeps working after a bump.
    relock = subprocess.run(
        [UV, "lock", "--locked", "--offline"], cwd=copy, capture_output=True, text=True
    )
    assert relock.returncode == 0, relock.stderr
    chart = yaml.safe_load((copy / tool.CHART).read_text())
    assert (chart["version"], chart["appVersion"]) == ("0.2.0", "0.2.0")
    images = [
        container["image"]
        for manifest in sorted((copy / "manifests" / "base").glob("*.yaml"))
        for document in yaml.safe_load_all(manifest.read_text())
        if document and document.get("kind") == "Deployment"
        for container in document["spec"]["template"]["spec"]["containers"]
    ]
    assert images
    assert all(image.endswith(":0.2.0") for image in images), images
    pinned = yaml.safe_load((copy / "manifests/overlays/pinned/kustomization.yaml").read_text())
    assert [entry["newTag"] for entry in pinned["images"]] == ["0.2.0", "0.2.0", "v0.5.0"]
    changelog = (copy / tool.CHANGELOG).read_text()
    today = datetime.date.today().isoformat()
    assert f"## [Unreleased]\n\n## [0.2.0] - {today}\n" in changelog
    assert changelog.index("## [0.2.0]") < changelog.index(f"## [{old}]")


def test_set_again_changes_nothing(copy: Path) -> None:
    set_version(copy, "0.2.0", datetime.date(2027, 1, 2))
    before = {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()}
    assert set_version(copy, "0.2.0", datetime.date(2027, 1, 3)) == []
    assert before == {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()}


def test_check_names_each_place_that_disagrees(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = copy / tool.CHART
    chart.write_text(chart.read_text().replace('appVersion: "0.1.0"', 'appVersion: "0.0.9"'))
    webhook = copy / "manifests/base/webhook.yaml"
    webhook.write_text(webhook.read_text().replace("locust-finisher:0.1.0", "locust-finisher:dev"))

    assert main(["--root", str(copy), "check"]) == 1
    problems = capsys.readouterr().err.splitlines()
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"{tool.CHART}:6: chart appVersion is 0.0.9")
    assert problems[1].startswith("manifests/base/webhook.yaml:")
    assert "image tag is dev, pyproject.toml says 0.1.0" in problems[1]


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("0.2", "'0.2' is not X.Y.Z"),
        ("v0.2.0", "'v0.2.0' is not X.Y.Z"),
        ("0.2.0rc1", "'0.2.0rc1' is not X.Y.Z"),
        ("0.0.9", "0.0.9 is older than the current 0.1.0"),
    ],
)
def test_set_refuses_what_is_not_a_newer_release(
    copy: Path, version: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (copy / tool.PYPROJECT).read_text()
    assert main(["--root", str(copy), "set", version]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"release.version: {message}")
    assert (copy / tool.PYPROJECT).read_text() == before


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        ('[project]\nname = "locust-finisher"\nversion = "9.8.7"\n', "9.8.7"),
        ('[project]\nname = "someone-else"\nversion = "9.8.7"\n', app.UNKNOWN_VERSION),
        (None, app.UNKNOWN_VERSION),
    ],
)
def test_a_source_tree_that_is_not_installed_reads_its_pyproject(
    tmp_path: Path, pyproject: str | None, expected: str
) -> None:
    shutil.copytree(REPOSITORY_ROOT / "app", tmp_path / "app")
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    # -S: no site-packages, so no installed distribution's metadata to find; -E: no
    # PYTHONPATH; the working directory is the one place on sys.path.
    result = subprocess.run(
        [sys.executable, "-E", "-S", "-c", "import app; print(app.__version__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == expected
