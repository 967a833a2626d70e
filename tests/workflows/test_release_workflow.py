"""release.yml: releases only the version pyproject.toml names, with least privilege."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.workflows.workflow_files import load, step

ROOT = Path(__file__).resolve().parents[2]
RELEASE = load("release.yml")
JOBS = RELEASE["jobs"]


def _version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as pyproject:
        return str(tomllib.load(pyproject)["project"]["version"])


def _run_version_job(tmp_path: Path, tag: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The version job's checks, in the repository, for a push of ``tag``."""
    python = tmp_path / "bin" / "python3"  # the runner's python3; here, this interpreter
    python.parent.mkdir()
    python.symlink_to(sys.executable)
    output = tmp_path / "github_output"
    output.touch()
    job = JOBS["version"]
    script = "\n".join(
        step(job, name)["run"]
        for name in (
            "Compare the tag with pyproject.toml",
            "CHANGELOG.md has notes for this version",
        )
    )
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=ROOT,
        env={
            **os.environ,
            "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_REF_NAME": tag,
            "GITHUB_OUTPUT": str(output),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, output.read_text()


def test_on_a_v_tag_only() -> None:
    assert RELEASE["on"] == {"push": {"tags": ["v*"]}}


def test_the_tag_of_the_pyproject_version_is_released(tmp_path: Path) -> None:
    result, output = _run_version_job(tmp_path, f"v{_version()}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert output == f"version={_version()}\n"


def test_another_tag_stops_the_release(tmp_path: Path) -> None:
    result, output = _run_version_job(tmp_path, "v99.0.0")
    assert result.returncode == 1
    assert f"expected v{_version()}" in result.stdout
    assert output == ""


def test_everything_waits_for_the_version_check() -> None:
    for name, job in JOBS.items():
        if name != "version":
            assert "version" in ([job["needs"]] if isinstance(job["needs"], str) else job["needs"])


def test_pypi_comes_after_the_images_and_the_chart() -> None:
    """PyPI never takes a version twice: publish there once the rest is out."""
    assert {"images", "chart", "manifests"} <= set(JOBS["pypi"]["needs"])
    assert JOBS["pypi"]["environment"]["name"] == "pypi"


def test_no_permission_by_default_and_each_job_asks_for_its_own() -> None:
    assert RELEASE["permissions"] == {}
    writes = {
        name: sorted(scope for scope, access in job["permissions"].items() if access == "write")
        for name, job in JOBS.items()
    }
    assert writes == {
        "version": [],
        "python-dist": [],
        "images": ["id-token", "packages"],
        "chart": ["id-token", "packages"],
        "manifests": [],
        "pypi": ["id-token"],
        "github-release": ["contents"],
    }


@pytest.mark.parametrize(
    ("target", "image"),
    [
        ("app", "ghcr.io/locust-finisher/locust-finisher"),
        ("finisher", "ghcr.io/locust-finisher/finisher"),
    ],
)
def test_both_images_are_multi_arch_attested_and_signed(target: str, image: str) -> None:
    job = JOBS["images"]
    assert {"target": target, "image": image} in job["strategy"]["matrix"]["include"]
    build = step(job, "Build and push ${{ matrix.target }} for amd64 and arm64")["with"]
    assert build["platforms"] == "linux/amd64,linux/arm64"
    assert (build["sbom"], build["provenance"], build["push"]) == (True, "mode=max", True)
    assert "@$DIGEST" in step(job, "Sign the image by digest")["run"]
