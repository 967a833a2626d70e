"""Run the CLI as CI does and measure what it cost: peak RSS and bytes written.

The CLI runs under a small launcher, a fresh process whose only child it is, so the peak is
the CLI's own (``wait4``'s rusage), not the test runner's. The launcher waits for the exit
without reaping (``WNOWAIT``) and reads ``/proc/<pid>/io`` then: ``wchar`` counts every byte
the CLI wrote, also to files it deleted afterwards, which the files left on disk cannot show;
less what it wrote to stdout and stderr, it is what it wrote to files.
"""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import CLI

LAUNCHER = """
import json, os, subprocess, sys
out, *command = sys.argv[1:]
child = subprocess.Popen(command)
os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
with open(f"/proc/{child.pid}/io") as io:
    counters = dict(line.split(": ") for line in io.read().splitlines())
_, status, usage = os.wait4(child.pid, 0)
with open(out, "w") as file:
    json.dump({"code": os.waitstatus_to_exitcode(status), "peak_kib": usage.ru_maxrss,
               "wchar": int(counters["wchar"])}, file)
"""

MIB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    """One CLI run: its exit code, output, peak RSS and bytes written."""

    code: int
    stdout: str
    stderr: str
    peak: int  # bytes
    written: int  # bytes, through write(2), but to stdout and stderr: files

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.strip().splitlines()

    def describe(self) -> str:
        return (
            f"exit {self.code}, peak {self.peak / MIB:.0f} MiB, wrote {self.written / MIB:.1f} "
            f"MiB, stderr {len(self.stderr_lines)} lines: {self.stderr[-600:]!r}"
        )


def run_measured(*args: str, cwd: Path, timeout: float = 120) -> Run:
    """``locust-finisher *args`` in ``cwd``, measured."""
    figures = cwd / "measured.json"
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(figures), *CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )
    measured = json.loads(figures.read_text())
    figures.unlink()
    return Run(
        code=measured["code"],
        stdout=result.stdout,
        stderr=result.stderr,
        peak=measured["peak_kib"] * 1024,
        written=measured["wchar"] - len(result.stdout.encode()) - len(result.stderr.encode()),
    )
