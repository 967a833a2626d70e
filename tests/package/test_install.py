"""The wheel installs and runs on every supported Python, the way the docs tell users to.

Each interpreter gets a fresh venv; then the isolated installs the README recommends, as
the top-level package is called ``app``: ``uvx --from <wheel>`` and ``pipx install <wheel>``.
"""

import json
from pathlib import Path

import pytest

from release.version import REPOSITORY_ROOT, pyproject_version
from tests.package.commands import UV, run_timed
from tests.package.conftest import Built
from tests.package.interpreters import SUPPORTED, find_interpreter

pytestmark = pytest.mark.package

MASTER_POD = REPOSITORY_ROOT / "tests/fixtures/pods/operator-go-2.2-master.yaml"


@pytest.fixture(params=SUPPORTED)
def interpreter(request: pytest.FixtureRequest) -> tuple[str, Path]:
    minor: str = request.param
    found = find_interpreter(minor)
    if found is None:
        pytest.skip(f"no Python {minor} on this machine (looked in /usr/bin, ~/.pyenv, PATH)")
    return minor, found


def assert_runs(locust_finisher: Path | str, label: str, prefix: list[str] | None = None) -> None:
    """``--version`` and ``wait --help`` answer, and ``mutate`` injects this version's image.

    ``mutate`` reads YAML and applies the patch, so it also proves the dependencies
    installed; the image it injects proves ``app.__version__`` reads the installed metadata.
    """
    command = [*(prefix or []), str(locust_finisher)]
    version = pyproject_version(REPOSITORY_ROOT)
    printed = run_timed(f"{label}: locust-finisher --version", [*command, "--version"])
    assert printed.strip() == f"locust-finisher {version}"
    usage = run_timed(f"{label}: locust-finisher wait --help", [*command, "wait", "--help"])
    assert "--timeout" in usage, usage
    pod = json.loads(
        run_timed(
            f"{label}: locust-finisher mutate", [*command, "mutate", "-f", MASTER_POD, "-o", "json"]
        )
    )
    images = {container["name"]: container["image"] for container in pod["spec"]["containers"]}
    assert images["locust-finisher"] == f"ghcr.io/locust-finisher/finisher:{version}"


def test_the_wheel_runs_in_a_fresh_venv(
    built: Built, interpreter: tuple[str, Path], tmp_path: Path
) -> None:
    minor, python = interpreter
    venv = tmp_path / "venv"
    run_timed(f"Python {minor}: uv venv", [UV, "venv", "--python", python, venv])
    run_timed(
        f"Python {minor}: uv pip install <wheel>",
        [UV, "pip", "install", "--python", venv / "bin" / "python", built.wheel],
    )
    assert_runs(venv / "bin" / "locust-finisher", f"Python {minor} venv")


def test_uvx_runs_the_wheel(built: Built, interpreter: tuple[str, Path]) -> None:
    minor, python = interpreter
    label = f"Python {minor}: uvx --from <wheel>"
    uvx = [UV, "tool", "run", "--isolated", "--python", str(python), "--from", str(built.wheel)]
    assert_runs("locust-finisher", label, prefix=uvx)


def test_pipx_installs_the_wheel(
    built: Built, interpreter: tuple[str, Path], tmp_path: Path
) -> None:
    minor, python = interpreter
    pipx = [UV, "tool", "run", "pipx"]
    try:
        run_timed("pipx from PyPI", [*pipx, "--version"])
    except AssertionError as unavailable:
        pytest.skip(f"pipx is not installable from PyPI here: {unavailable}")
    home = {
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
    }
    run_timed(
        f"Python {minor}: pipx install <wheel>",
        [*pipx, "install", "--python", python, built.wheel],
        env=home,
    )
    assert_runs(tmp_path / "bin" / "locust-finisher", f"Python {minor} pipx")


def test_the_finisher_runs_from_the_wheel_alone(built: Built, tmp_path: Path) -> None:
    """As in the finisher image: the wheel without dependencies, run isolated by path."""
    python = find_interpreter("3.11")
    if python is None:
        pytest.skip("no Python 3.11 on this machine (looked in /usr/bin, ~/.pyenv, PATH)")
    target = tmp_path / "locust-finisher"
    run_timed(
        "uv pip install --no-deps --target <dir> <wheel>",
        [UV, "pip", "install", "--python", python, "--no-deps", "--target", target, built.wheel],
    )
    launcher = (
        f"import sys; sys.path.insert(0, {str(target)!r}); "
        "import app.cli.finish_cmd, app.finisher.run; "
        "from app.cli.main import main; sys.exit(main())"
    )
    # -S as well: nothing from the interpreter's own site-packages may stand in for a
    # dependency the finisher must not need.
    isolated = [str(python), "-I", "-S", "-c", launcher]
    printed = run_timed("finisher, wheel alone: --version", [*isolated, "--version"])
    # The installed metadata, not the source-tree fallback: no pyproject.toml is near.
    assert printed.strip() == f"locust-finisher {pyproject_version(REPOSITORY_ROOT)}"
    usage = run_timed("finisher, wheel alone: finish --help", [*isolated, "finish", "--help"])
    assert "--ttl" in usage, usage
