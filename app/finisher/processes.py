"""Finding the Locust master among the pod's processes, and waiting for it to exit.

With ``shareProcessNamespace`` the finisher sees every process of the pod in /proc. The
master is recognised by its command line (the token ``--master``, never ``--worker``, never
ourselves). Waiting costs nothing: a pidfd becomes readable when the process exits, and
poll() sleeps until then; where pidfd_open is unavailable we look at /proc once a second,
comparing start times so a reused PID is not mistaken for the master.
"""

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    """A process seen in /proc."""

    pid: int
    argv: tuple[str, ...]
    start_ticks: int

    @property
    def command_line(self) -> str:
        """The command line as one string, for logs."""
        return " ".join(self.argv)


def _read_process(pid: int, proc: Path) -> Process | None:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    argv = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    # Field 22 (starttime) comes after the parenthesised command name, which may hold spaces.
    fields = stat.rsplit(")", 1)[-1].split()
    start_ticks = int(fields[19]) if len(fields) > 19 else 0
    return Process(pid, argv, start_ticks)


def processes(proc: Path = PROC) -> Iterator[Process]:
    """Every process visible to us (kernel threads have no command line and are skipped)."""
    for entry in proc.iterdir():
        if entry.name.isdigit():
            found = _read_process(int(entry.name), proc)
            if found is not None and found.argv:
                yield found


def is_locust_master(process: Process, pattern: re.Pattern[str] | None = None) -> bool:
    """Whether ``process`` is a Locust master (and not us, nor a worker)."""
    if pattern is not None:
        return pattern.search(process.command_line) is not None
    words = [word for part in process.argv for word in part.split()]
    if "--master" not in words or "--worker" in words:
        return False
    return not any("locust-finisher" in word or "locust_finisher" in word for word in words)


def find_master(
    pattern: re.Pattern[str] | None = None, proc: Path = PROC, exclude: frozenset[int] = frozenset()
) -> Process | None:
    """The Locust master process, if it runs now (the oldest, should there be several)."""
    own = {os.getpid(), os.getppid(), *exclude}
    masters = [p for p in processes(proc) if p.pid not in own and is_locust_master(p, pattern)]
    return min(masters, key=lambda p: (p.start_ticks, p.pid), default=None)


def still_running(process: Process, proc: Path = PROC) -> bool:
    """Whether ``process`` (the same one, not a reused PID) is still alive."""
    current = _read_process(process.pid, proc)
    if current is None or current.start_ticks != process.start_ticks:
        return False
    try:
        state = (proc / str(process.pid) / "stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def open_pidfd(process: Process) -> int | None:
    """A pidfd for ``process``, or None where the kernel or Python cannot give one."""
    try:
        fd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return None
    if not still_running(process):
        # The PID was reused or the process ended between the scan and the open.
        os.close(fd)
        return None
    return fd
