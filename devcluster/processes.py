"""Start, watch and stop the local cluster's processes, leaving nothing behind.

Every process gets its own session so it can be stopped with its children, and its output
goes to a log file in the cluster's directory (shown when something fails to start).
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# What node daemons find on PATH (mount, iptables, nft, runc...), whatever ours looks like.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Managed:
    """A started process, its log, and how to stop it."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    stop_timeout: float = 10.0
    argv: tuple[str, ...] = ()
    env: dict[str, str] | None = None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the process's output, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


MARKER = "LOCUST_FINISHER_CLUSTER"


def kill_marked(directory: Path) -> int:
    """SIGKILL every process group whose leader carries ``directory``'s marker; how many.

    Every process a cluster starts has ``LOCUST_FINISHER_CLUSTER=<its directory>`` in its
    environment, so the processes of a run that was itself killed can still be found.
    """
    needle = f"{MARKER}={directory}".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            os.killpg(os.getpgid(int(entry.name)), signal.SIGKILL)
            killed += 1
        except (OSError, ProcessLookupError):
            continue
    return killed


@dataclass
class ProcessGroup:
    """The processes of one cluster, stopped in reverse start order."""

    directory: Path
    started: list[Managed] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        stop_timeout: float = 10.0,
    ) -> Managed:
        """Start ``argv`` in its own session with output to ``<directory>/<name>.log``."""
        log_path = self.directory / f"{name}.log"
        env = {**(env if env is not None else os.environ), MARKER: str(self.directory)}
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        managed = Managed(name, process, log_path, stop_timeout, tuple(argv), env)
        self.started.append(managed)
        return managed

    def restart(self, name: str) -> Managed:
        """Stop the process called ``name`` and start it again with the same arguments."""
        old = next(m for m in self.started if m.name == name)
        old.stop()
        with old.log_path.open("ab") as log:
            old.process = subprocess.Popen(
                list(old.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=old.env,
                start_new_session=True,
            )
        return old

    def stop_all(self) -> None:
        """Stop everything started, last first."""
        while self.started:
            self.started.pop().stop()


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    watched: Managed | None = None,
    interval: float = 0.2,
) -> None:
    """Poll ``condition`` until it holds.

    Raises:
        RuntimeError: on timeout, or when ``watched`` exits first; with its log's tail.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if watched is not None and watched.process.poll() is not None:
            raise RuntimeError(
                f"{watched.name} exited ({watched.process.returncode}) while waiting for "
                f"{what}:\n{watched.log_tail()}"
            )
        if time.monotonic() > deadline:
            tail = f":\n{watched.log_tail()}" if watched else ""
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        time.sleep(interval)
