"""Finding the Locust master among the pod's processes, and waiting for it to exit.

With ``shareProcessNamespace`` the finisher sees every process of the pod in /proc. Locust
is told to be a master in three ways, in this order of precedence, and we read all three
(:func:`role`): the command line (``--master``, ``--worker``), the environment
(``LOCUST_MODE_MASTER``, ``LOCUST_MODE_WORKER``) and a config file (``--config`` or
``LOCUST_CONFIG``, else ``locust.conf`` in its working directory, else ``~/.locust.conf``,
with ``master = true``). The command line is readable by anyone; the environment, the working
directory and the files of another container (through ``/proc/PID/root``) only by the same
uid, because the kernel asks for ptrace access. A Locust process whose role we cannot read
is still taken as the master when no marked master is found: the webhook injected us because
this pod is a master pod (by its command line or the ``master-container`` annotation), and a
worker there is marked on its command line in every layout we know. A container name cannot
be matched to a process from inside the pod (``/proc/PID/cgroup`` names container IDs, not
names), so the ``master-container`` annotation only tells the webhook to inject us.

Waiting costs nothing: a pidfd becomes readable when the process exits, and poll() sleeps
until then; where pidfd_open is unavailable we look at /proc once a second, comparing start
times so a reused PID is not mistaken for the master.
"""

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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


Role = Literal["master", "worker", "locust"]
_TRUE = ("true", "yes", "on", "1")
# A process environment and a config file are read whole; cap both so a huge one costs little.
_READ_LIMIT = 256 * 1024


def _words(process: Process) -> list[str]:
    # Each argument split on blanks too, so ``sh -c "locust --master ..."`` is read as well.
    return [word for part in process.argv for word in part.split()]


def _is_ours(words: list[str]) -> bool:
    return any("locust-finisher" in word or "locust_finisher" in word for word in words)


def _is_locust(words: list[str]) -> bool:
    return any(word.rsplit("/", 1)[-1] == "locust" for word in words)


def _read_limited(path: Path) -> bytes | None:
    try:
        with path.open("rb") as file:
            return file.read(_READ_LIMIT)
    except OSError:  # gone, or another uid's (no ptrace access)
        return None


def read_environ(pid: int, proc: Path = PROC) -> dict[str, str] | None:
    """Another process's environment; None where the kernel does not let us read it."""
    raw = _read_limited(proc / str(pid) / "environ")
    if raw is None:
        return None
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def _flag_value(words: list[str], flag: str) -> str | None:
    for index, word in enumerate(words):
        if word == flag and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(flag + "="):
            return word[len(flag) + 1 :]
    return None


def config_role(text: str) -> Role | None:
    """``master``/``worker`` as a Locust config file (``key = value`` lines) says it."""
    found: Role | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;[":
            continue
        key, separator, value = stripped.replace(":", "=", 1).partition("=")
        if not separator:
            continue
        name = key.strip().lstrip("-").lower()
        if name in ("master", "worker") and value.strip().lower() in _TRUE:
            found = "worker" if name == "worker" else (found or "master")
    return found


def _config_paths(
    words: list[str], environ: dict[str, str] | None, root: Path, cwd: Path
) -> list[Path]:
    def inside(path: str, relative_to: Path) -> Path:
        return root / path.lstrip("/") if path.startswith("/") else relative_to / path

    given = _flag_value(words, "--config") or (environ or {}).get("LOCUST_CONFIG")
    if given:
        return [inside(given, cwd)]
    paths = [cwd / "locust.conf"]
    home = (environ or {}).get("HOME")
    if home:
        paths.append(inside(home, root) / ".locust.conf")
    return paths


def role(process: Process, proc: Path = PROC) -> Role | None:
    """What Locust ``process`` was told to be; None for anything that is not Locust (or us)."""
    words = _words(process)
    if _is_ours(words):
        return None
    if "--worker" in words:
        return "worker"
    if "--master" in words:
        return "master"
    environ = read_environ(process.pid, proc)
    if environ is not None:
        if environ.get("LOCUST_MODE_WORKER", "").strip().lower() in _TRUE:
            return "worker"
        if environ.get("LOCUST_MODE_MASTER", "").strip().lower() in _TRUE:
            return "master"
    if not _is_locust(words):
        return None
    here = proc / str(process.pid)
    for path in _config_paths(words, environ, here / "root", here / "cwd"):
        raw = _read_limited(path)
        if raw is not None:
            found = config_role(raw.decode(errors="replace"))
            if found is not None:
                return found
    return "locust"


def is_locust_master(process: Process, pattern: re.Pattern[str] | None = None) -> bool:
    """Whether ``process`` is marked as the Locust master (and is not us, nor a worker)."""
    if pattern is not None:
        return pattern.search(process.command_line) is not None
    return role(process) == "master"


def find_master(
    pattern: re.Pattern[str] | None = None, proc: Path = PROC, exclude: frozenset[int] = frozenset()
) -> Process | None:
    """The Locust master process, if it runs now (the oldest, should there be several).

    A process marked as the master wins; else the oldest Locust process not marked as a
    worker (its role may be unreadable to us); with ``pattern``, only what it matches.
    """
    own = {os.getpid(), os.getppid(), *exclude}
    candidates: dict[str, list[Process]] = {"master": [], "locust": []}
    for process in processes(proc):
        if process.pid in own:
            continue
        if pattern is not None:
            if pattern.search(process.command_line) is not None:
                candidates["master"].append(process)
            continue
        found = role(process, proc)
        if found in candidates:
            candidates[found].append(process)
    for kind in ("master", "locust"):
        if candidates[kind]:
            return min(candidates[kind], key=lambda p: (p.start_ticks, p.pid))
    return None


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
