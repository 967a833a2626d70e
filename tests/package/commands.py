"""Runs the packaging tests' commands, timing each one for the summary at the end of the run.

The docs quote how long a build or an install takes; these timings are where the numbers
come from, so every command goes through :func:`run_timed`.
"""

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# ``uv run`` names its own executable here; a bare ``uv`` from PATH otherwise.
UV = os.environ.get("UV", "uv")

TIMINGS: list[tuple[str, float]] = []


def run_timed(
    label: str,
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 600,
) -> str:
    """Run ``argv`` to completion; its stdout, or an assertion naming the output on failure."""
    started = time.monotonic()
    result = subprocess.run(
        [str(arg) for arg in argv],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )
    TIMINGS.append((label, time.monotonic() - started))
    assert result.returncode == 0, (
        f"{label}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout
