"""The finisher container's main process: keep a worker going, and always exit 0.

The finisher is a regular container of a ``restartPolicy: Never`` pod, so its exit code
becomes the pod's verdict as much as Locust's does. This process therefore does almost
nothing itself: it answers the postStart gate, forks a worker (:mod:`app.finisher.run`)
that does the work, and restarts it, a bounded number of times, if it is killed (the worker
raises its own OOM score, so the kernel picks it rather than us) or fails. The worker tells
us what it learns (:mod:`handoff`); a new worker is forked with that knowledge. When the
attempts run out, we finish plainly ourselves (:mod:`fallback`). SIGTERM is passed on to the
worker, which writes its summary; we wait a bounded time for it. Whatever happens, 0.

It starts no thread before forking (a fork copies only the calling thread) and imports only
what the loop needs (the worker's modules are imported in the worker, after the fork; the
package's version, which costs importlib.metadata, never), so it stays small beside the
worker.
"""

import contextlib
import dataclasses
import gc
import logging
import os
import select
import signal
import socket
import time
from types import FrameType

from app.finisher import state
from app.finisher.config import FinisherConfig
from app.finisher.handoff import WORKER_FAILED, Inbox, Known
from app.finisher.readiness import announce_ready

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# A container killed as a whole this often is not helped by workers: the plain finish only.
MAX_CONTAINER_STARTS = 3
RESTARTED_NOTE = (
    "the finisher's container was killed as a whole (SIGKILL to every process: an "
    "out-of-memory kill on cgroup v2) and restarted by kubelet; it resumed where the test was"
)
BACKOFF_SECONDS = (1.0, 2.0, 4.0)
# After passing SIGTERM on: the worker needs well under a second; kubelet gives 30 s.
TERM_GRACE_SECONDS = 5.0
TICK_SECONDS = 0.2


class Supervisor:
    """One finisher container's life."""

    def __init__(self, config: FinisherConfig) -> None:
        self.config = config
        self.known = Known(started_at=time.monotonic())
        for warning in config.warnings:
            log.warning("configuration: %s", warning)
            self.known.note(f"configuration: {warning}")
        self.terminating = False
        self.listener: socket.socket | None = None
        self._kept: list[object] | None = None

    def keep(self) -> None:
        """Keep what is known for a restarted container, when there is news."""
        if self.config.state_dir is None:
            return
        snapshot: list[object] = list(self.known.snapshot())
        if snapshot != self._kept:
            state.save(self.config.state_dir, self.known)
            self._kept = snapshot

    def resume(self) -> bool:
        """Take in what an earlier container kept; True if this one is a restart."""
        if self.config.state_dir is None or not state.load(self.config.state_dir, self.known):
            return False
        self.known.note(RESTARTED_NOTE)
        # A deliberate fault is the first container's only, so a restart shows the recovery.
        self.config = dataclasses.replace(self.config, fault=None)
        self.keep()
        return True

    # ----------------------------------------------------------------- waiting

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.terminating = True

    def pause(self, seconds: float, fd: int | None = None) -> bool:
        """Sleep up to ``seconds``, answering gate probes; True if ``fd`` became readable."""
        poller = select.poll()
        if fd is not None:
            poller.register(fd, select.POLLIN)
        if self.listener is not None:
            poller.register(self.listener.fileno(), select.POLLIN)
        deadline = time.monotonic() + seconds
        while not self.terminating:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for ready, _ in poller.poll(min(remaining, TICK_SECONDS) * 1000):
                if ready == fd:
                    return True
                self._answer_probe()
        return False

    def _answer_probe(self) -> None:
        # A postStart probe connected: accept and close, so the backlog stays empty.
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.accept()[0].close()

    # ----------------------------------------------------------------- the worker

    def _spawn(self) -> tuple[int, int]:
        read_fd, write_fd = os.pipe()
        # Every object so far out of the collector's reach: its passes would otherwise write
        # to the pages we share with the worker, and each written page is copied, in the
        # worker or here, and charged to the container twice.
        gc.collect()
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the worker
            code = WORKER_FAILED
            try:
                os.close(read_fd)
                if self.listener is not None:
                    self.listener.close()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                from app.finisher.run import run_worker

                code = run_worker(self.config, self.known, write_fd)
            except BaseException:
                log.exception("the finisher's worker failed")
            finally:
                os._exit(code)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        return pid, read_fd

    def _follow(self, pid: int, read_fd: int) -> int:
        """Take in the worker's news until it ends; its wait status."""
        inbox = Inbox(read_fd, self.known)
        open_pipe = True
        term_sent_at: float | None = None
        try:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    while open_pipe and inbox.read():
                        pass
                    return status
                if self.terminating and term_sent_at is None:
                    term_sent_at = time.monotonic()
                    _signal(pid, signal.SIGTERM)
                if term_sent_at is not None:
                    if time.monotonic() - term_sent_at > TERM_GRACE_SECONDS:
                        _signal(pid, signal.SIGKILL)
                    time.sleep(TICK_SECONDS / 4)
                    open_pipe = open_pipe and inbox.read()
                    continue
                if self.pause(TICK_SECONDS, read_fd if open_pipe else None):
                    open_pipe = inbox.read()
                    self.keep()
        finally:
            os.close(read_fd)
            self.keep()

    # ----------------------------------------------------------------- the whole life

    def run(self) -> None:
        """Workers until one finishes, then the fallback if none did."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self.listener = announce_ready()
        except OSError as error:
            log.warning("the readiness gate could not listen: %s", error)
            self.known.note(
                f"the readiness gate could not listen ({error}): the master may have "
                "started before the finisher watched it"
            )
        restarted = self.resume()
        self.keep()  # a container killed before any news still counts its start
        if restarted and self.known.done:
            from app.finisher.fallback import write_known_summary

            write_known_summary(self.config, self.known)  # killed after the end: say it again
            return
        attempts = MAX_ATTEMPTS if self.known.container_starts < MAX_CONTAINER_STARTS else 0
        for attempt in range(1, attempts + 1):
            if self.terminating:  # during a pause between attempts
                break
            pid, read_fd = self._spawn()
            status = self._follow(pid, read_fd)
            # A deliberate fault is the first worker's only, so the next shows the recovery.
            self.config = dataclasses.replace(self.config, fault=None)
            if self.known.done:
                return
            failure = _describe(status)
            log.warning(
                "the finisher's worker %s (attempt %d of %d)", failure, attempt, MAX_ATTEMPTS
            )
            self.known.note(f"the finisher's worker {failure}")
            if self.terminating:
                break
            if attempt < MAX_ATTEMPTS:
                self.pause(BACKOFF_SECONDS[attempt - 1])
        from app.finisher.fallback import finish_plainly

        finish_plainly(self.config, self.known, self.pause, lambda: self.terminating)
        self.known.done = True
        self.keep()

    def close(self) -> None:
        """Stop answering the gate."""
        if self.listener is not None:
            self.listener.close()


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(OSError):  # it has just exited
        os.kill(pid, signum)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = (
            "SIGKILL (out of memory?)" if number == signal.SIGKILL else signal.Signals(number).name
        )
        return f"was killed by {name}"
    return f"exited {os.waitstatus_to_exitcode(status)}"


def supervise(config: FinisherConfig) -> int:
    """Run the finisher; 0 whatever happens (the pod's verdict is Locust's)."""
    supervisor = Supervisor(config)
    try:
        supervisor.run()
    except BaseException:
        log.exception("the finisher's supervisor failed")
        try:
            from app.finisher.fallback import write_known_summary

            supervisor.known.note("the finisher's supervisor failed")
            write_known_summary(config, supervisor.known)
        except BaseException:  # nothing left to try: the exit code matters more
            log.exception("the finisher's summary could not be written")
    finally:
        supervisor.close()
    return 0
