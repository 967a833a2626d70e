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

# The checkout's version, and one newer (what `set` is tried with).
CURRENT = pyproject_version(REPOSITORY_ROOT)
_major, _minor, _patch = CURRENT.split(".")
NEXT = f"{_major}.{int(_minor) + 1}.0"

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
    newTag: "{current}"
  - newTag: {current}
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
    (overlay / "kustomization.yaml").write_text(PINNED_IMAGES.format(current=CURRENT))
    return tmp_path


def test_every_place_in_the_repository_carries_the_pyproject_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check"]) == 0, capsys.readouterr().err
    assert app.__version__ == pyproject_version(REPOSITORY_ROOT)


def test_set_rewrites_every_place(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = pyproject_version(copy)
    before = [(place.path, place.what) for place in tool.find_places(copy)]
    assert main(["--root", str(copy), "set", NEXT]) == 0, capsys.readouterr().err

    assert check(copy) == []
    after = tool.find_places(copy)
    assert [(place.path, place.what) for place in after] == before
    assert {place.value for place in after} == {NEXT}
    assert f"ARG VERSION={NEXT}\n" in (copy / tool.DOCKERFILE).read_text()
    pyproject = tomllib.loads((copy / tool.PYPROJECT).read_text())
    assert pyproject["project"]["version"] == NEXT
    lock = tomllib.loads((copy / tool.LOCKFILE).read_text())
    (locked,) = [entry for entry in lock["package"] if entry["name"] == "locust-finisher"]
    assert locked["version"] == NEXT
    # uv agrees: `uv run --locked` keeps working after a bump.
    relock = subprocess.run(
        [UV, "lock", "--locked", "--offline"], cwd=copy, capture_output=True, text=True
    )
    assert relock.returncode == 0, relock.stderr
    chart = yaml.safe_load((copy / tool.CHART).read_text())
    assert (chart["version"], chart["appVersion"]) == (NEXT, NEXT)
    images = [
        container["image"]
        for manifest in sorted((copy / "manifests" / "base").glob("*.yaml"))
        for document in yaml.safe_load_all(manifest.read_text())
        if document and document.get("kind") == "Deployment"
        for container in document["spec"]["template"]["spec"]["containers"]
    ]
    assert images
    assert all(image.endswith(f":{NEXT}") for image in images), images
    pinned = yaml.safe_load((copy / "manifests/overlays/pinned/kustomization.yaml").read_text())
    assert [entry["newTag"] for entry in pinned["images"]] == [NEXT, NEXT, "v0.5.0"]
    changelog = (copy / tool.CHANGELOG).read_text()
    today = datetime.date.today().isoformat()
    assert f"## [Unreleased]\n\n## [{NEXT}] - {today}\n" in changelog
    assert changelog.index(f"## [{NEXT}]") < changelog.index(f"## [{old}]")


def test_set_again_changes_nothing(copy: Path) -> None:
    set_version(copy, NEXT, datetime.date(2027, 1, 2))
    before = {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()}
    assert set_version(copy, NEXT, datetime.date(2027, 1, 3)) == []
    assert before == {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()}


def test_check_names_each_place_that_disagrees(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = copy / tool.CHART
    chart.write_text(chart.read_text().replace(f'appVersion: "{CURRENT}"', 'appVersion: "0.0.9"'))
    webhook = copy / "manifests/base/webhook.yaml"
    webhook.write_text(
        webhook.read_text().replace(f"locust-finisher:{CURRENT}", "locust-finisher:dev")
    )

    assert main(["--root", str(copy), "check"]) == 1
    problems = capsys.readouterr().err.splitlines()
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"{tool.CHART}:6: chart appVersion is 0.0.9")
    assert problems[1].startswith("manifests/base/webhook.yaml:")
    assert f"image tag is dev, pyproject.toml says {CURRENT}" in problems[1]


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("0.2", "'0.2' is not X.Y.Z"),
        ("v0.2.0", "'v0.2.0' is not X.Y.Z"),
        ("0.2.0rc1", "'0.2.0rc1' is not X.Y.Z"),
        ("0.0.9", f"0.0.9 is older than the current {CURRENT}"),
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
