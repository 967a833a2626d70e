"""The sdist and wheel PyPI would receive: valid, complete, and holding nothing but ``app``."""

import json
import sys
import tarfile
import zipfile
from email.parser import HeaderParser

import pytest

from release.version import REPOSITORY_ROOT, pyproject_version
from tests.package.commands import UV, run_timed
from tests.package.conftest import Built

pytestmark = pytest.mark.package

REPOSITORY_URL = "https://github.com/locust-finisher/locust-finisher"


def test_twine_check_strict_passes_for_the_sdist_and_the_wheel(built: Built) -> None:
    output = run_timed(
        "twine check --strict (sdist and wheel)",
        [sys.executable, "-m", "twine", "check", "--strict", built.sdist, built.wheel],
    )
    assert output.count("PASSED") == 2, output


def test_the_wheel_holds_only_app_and_its_metadata(built: Built) -> None:
    version = pyproject_version(REPOSITORY_ROOT)
    metadata_dir = f"locust_finisher-{version}.dist-info/"
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
        entry_points = wheel.read(f"{metadata_dir}entry_points.txt").decode()
    strays = [name for name in names if not name.startswith(("app/", metadata_dir))]
    assert strays == []
    assert {"app/__init__.py", "app/py.typed", "app/cli/main.py", "app/finisher/run.py"} <= set(
        names
    )
    assert f"{metadata_dir}licenses/LICENSE" in names
    assert "locust-finisher = app.cli.main:main" in entry_points


def test_the_sdist_builds_the_wheel_without_the_local_cluster_or_tests(built: Built) -> None:
    top = f"locust_finisher-{pyproject_version(REPOSITORY_ROOT)}/"
    with tarfile.open(built.sdist) as sdist:
        names = {name.removeprefix(top) for name in sdist.getnames()}
    assert {"pyproject.toml", "README.md", "LICENSE", "app/__init__.py"} <= names
    assert not [
        name
        for name in names
        if name.startswith(("tests", "testkit", "devcluster", "bench", "release"))
    ]


def test_the_metadata_is_what_pypi_will_show(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        metadata_name = next(name for name in wheel.namelist() if name.endswith("/METADATA"))
        metadata = HeaderParser().parsestr(wheel.read(metadata_name).decode())
    assert metadata["Name"] == "locust-finisher"
    assert metadata["Version"] == pyproject_version(REPOSITORY_ROOT)
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "Apache-2.0"
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL", []))
    assert set(urls) == {"Homepage", "Source", "Issues", "Changelog", "Documentation"}
    assert all(url.startswith(REPOSITORY_URL) for url in urls.values()), urls
    classifiers = metadata.get_all("Classifier", [])
    for minor in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {minor}" in classifiers
    # PyPI refuses an upload with a classifier it does not know.
    unknown = run_timed(
        "trove-classifiers lookup",
        [
            UV,
            "run",
            "--no-project",
            "--with",
            "trove-classifiers",
            "python",
            "-c",
            "import json, sys; from trove_classifiers import classifiers, deprecated_classifiers;"
            " print(json.dumps([c for c in json.load(sys.stdin)"
            " if c not in classifiers or c in deprecated_classifiers]))",
        ],
        stdin=json.dumps(classifiers),
    )
    assert json.loads(unknown) == []
