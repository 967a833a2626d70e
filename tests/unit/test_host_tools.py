"""The host's Debian packages come from one list, and nothing asks for a tool it does not bring.

A fresh machine once failed `make run` 21 minutes in on skopeo, which the code needed and the
Makefile did not install. These tests fail at once instead.
"""

import subprocess
from pathlib import Path

import pytest

from devcluster import images
from devcluster.host_tools import (
    MissingToolsError,
    UnlistedToolError,
    package_of,
    packages,
    require,
)
from devcluster.node import host

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("tool", [*images._BUILD_TOOLS, *images._EMULATION_TOOLS, *host.NODE_TOOLS])
def test_every_tool_the_builds_and_the_node_ask_for_is_in_the_list(tool: str) -> None:
    assert package_of(tool) in packages()


def test_skopeo_the_tool_a_fresh_machine_lacked_is_installed_by_the_list() -> None:
    assert package_of("skopeo") == "skopeo"


def test_asking_for_an_unlisted_tool_is_an_error_even_where_it_is_installed() -> None:
    with pytest.raises(UnlistedToolError, match=r"sh is not in host-packages\.mk"):
        require("sh")


def test_a_missing_tool_names_the_package_and_the_command_that_installs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(
        MissingToolsError, match=r"missing skopeo: run `make setup` \(apt-get install skopeo\)"
    ):
        require("skopeo")


def test_the_makefile_set_up_installs_exactly_the_list() -> None:
    shown = subprocess.run(
        ["make", "--no-print-directory", "-n", "setup"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (loop,) = [line for line in shown.splitlines() if "dpkg -s" in line]
    installed = loop.split(" in ", 1)[1].split(";", 1)[0].split()
    assert installed == list(packages())


def test_the_preflight_comes_before_any_build_in_make_run_and_make_test() -> None:
    for target in ("run", "test"):
        shown = subprocess.run(
            ["make", "--no-print-directory", "-n", target],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        steps = [line for line in shown.splitlines() if "python -m devcluster." in line]
        assert "devcluster.preflight" in steps[0], f"make {target}: {steps[:2]}"
