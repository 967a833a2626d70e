"""The Python interpreters on this machine that the package claims to support.

Debian's python3.11 comes first (the one the project's own venv and images use); pyenv's
versions and whatever is on PATH give the others. Each candidate is asked for its version,
as pyenv shims on PATH answer for whatever version is selected, not the one in their name.
"""

import shutil
import subprocess
from pathlib import Path

SUPPORTED = ("3.11", "3.12", "3.13")


def find_interpreter(minor: str) -> Path | None:
    """An interpreter that really is Python ``minor`` (e.g. "3.12"), or None."""
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{minor}.*/bin/python{minor}"), reverse=True)
    on_path = shutil.which(f"python{minor}")
    candidates = [Path(f"/usr/bin/python{minor}"), *pyenv, *([Path(on_path)] if on_path else [])]
    for candidate in candidates:
        if candidate.exists() and _reports(candidate) == minor:
            return candidate
    return None


def _reports(interpreter: Path) -> str | None:
    try:
        result = subprocess.run(
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None
