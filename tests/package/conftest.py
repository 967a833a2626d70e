"""The built sdist and wheel, shared by the packaging tests; their timings; their opt-in.

Tests marked ``package`` build and install the package into fresh environments, which
takes minutes, so they run only when asked for by marker (``pytest -m package``,
``make test-package``); in any other run they are skipped with a line saying how to run them.
"""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from release.version import REPOSITORY_ROOT
from tests.package.commands import TIMINGS, UV, run_timed


@dataclass(frozen=True)
class Built:
    """What ``uv build`` made: the source distribution and the wheel."""

    sdist: Path
    wheel: Path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "package" in config.getoption("markexpr", ""):
        return
    skip = pytest.mark.skip(reason="packaging tests run with -m package (make test-package)")
    for item in items:
        if item.get_closest_marker("package") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("packaging wall times")
    for label, seconds in TIMINGS:
        terminalreporter.write_line(f"{seconds:7.1f} s  {label}")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The sdist and the wheel, built from this checkout into a temporary directory."""
    out = tmp_path_factory.mktemp("dist")
    run_timed(
        "uv build (sdist, then the wheel from it)",
        [UV, "build", "--out-dir", out],
        cwd=REPOSITORY_ROOT,
    )
    (sdist,), (wheel,) = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    yield Built(sdist=sdist, wheel=wheel)
    shutil.rmtree(out, ignore_errors=True)
