"""Shell completion: what bash or zsh gets on Tab, from the installed command itself.

Each test runs the real ``locust-finisher`` console script the way the script printed by
``register-python-argcomplete locust-finisher`` runs it: ``_ARGCOMPLETE``, ``COMP_LINE`` and
``COMP_POINT`` in the environment, the answer read from file descriptor 8.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = Path(sys.executable).parent / "locust-finisher"


def _complete(line: str, *, command: tuple[str, ...] = (str(COMMAND),)) -> list[str]:
    """The completions offered when Tab is pressed at the end of ``line``."""
    read_end, write_end = os.pipe()
    environment = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    try:
        # The pipe becomes the child's fd 8 (this process's own fd 8 may be pytest's); every
        # other descriptor of ours is non-inheritable (PEP 446), so none leaks to the child.
        finished = subprocess.run(
            command,
            env=environment,
            close_fds=False,
            preexec_fn=lambda: os.dup2(write_end, 8),
            capture_output=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as answer:
        offered = answer.read()
    assert finished.returncode == 0, finished.stderr
    return [word.strip() for word in offered.split("\n") if word.strip()]


@pytest.mark.skipif(not COMMAND.exists(), reason="the console script is not installed here")
def test_a_subcommand_is_completed() -> None:
    assert _complete("locust-finisher mu") == ["mutate"]
    assert {"wait", "webhook"} <= set(_complete("locust-finisher w"))


@pytest.mark.skipif(not COMMAND.exists(), reason="the console script is not installed here")
def test_a_flag_and_its_choices_are_completed() -> None:
    assert _complete("locust-finisher mutate --from") == ["--from-cluster"]
    assert _complete("locust-finisher mutate -o ") == ["yaml", "json", "patch"]


def test_without_argcomplete_the_command_offers_nothing_and_does_not_fail() -> None:
    """As in the finisher image, which installs the wheel without its dependencies."""
    launcher = (
        "import sys; sys.modules['argcomplete'] = None; "
        "from app.cli.main import main; sys.argv[0] = 'locust-finisher'; sys.exit(main())"
    )
    line = "locust-finisher --version"
    environment = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": "5"}
    finished = subprocess.run(
        [sys.executable, "-c", launcher, "--version"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("locust-finisher ")


def test_the_documented_registration_names_the_command() -> None:
    register = Path(sys.executable).parent / "register-python-argcomplete"
    if not register.exists():
        pytest.skip("argcomplete's register script is not installed here")
    script = subprocess.run(
        [str(register), "locust-finisher"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "locust-finisher" in script
    assert "_ARGCOMPLETE" in script
