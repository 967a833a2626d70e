"""What a worker tells its supervisor, so a restarted worker picks up where the test is.

The worker writes one JSON object a line to a pipe as it learns things (the master's
process, when it exited, what the exporter did, the summary so far). The supervisor keeps
the latest of each in :class:`Known`; a new worker is forked from the supervisor, so it
starts with that knowledge in memory, and nothing needs a file (the root filesystem is
read-only). Times are on the monotonic clock, which parent and child share.
"""

import json
import os
from dataclasses import dataclass, field
from typing import Any

# What a worker that failed exits with, so the supervisor starts another.
WORKER_FAILED = 70


@dataclass
class Known:
    """Everything learned so far, by any worker."""

    started_at: float = 0.0  # when the finisher started, for the master-start timeout
    master: tuple[int, int] | None = None  # (pid, start ticks)
    master_exited_at: float | None = None
    master_finished_at: str | None = None
    # When the finisher stopped waiting for a master that never started.
    gave_up_at: float | None = None
    # Decided once, when the master exited: a new worker cannot see who scraped before.
    waits_for_scrape: bool | None = None
    exporter: str | None = None  # how it ended, once it has
    summary: str | None = None  # the latest encoded summary
    done: bool = False
    notes: list[str] = field(default_factory=list)
    faults_fired: int = 0  # deliberate faults (app.finisher.faults), so only one worker fires

    def apply(self, message: dict[str, Any]) -> None:
        """Take in one message (unknown keys are ignored: worker and supervisor are one program)."""
        if isinstance(master := message.get("master"), list) and len(master) == 2:
            self.master = (int(master[0]), int(master[1]))
        if isinstance(exited := message.get("masterExitedAt"), int | float):
            self.master_exited_at = float(exited)
            self.master_finished_at = str(message.get("masterFinishedAt") or "")
        if isinstance(gave_up := message.get("gaveUpAt"), int | float):
            self.gave_up_at = float(gave_up)
        if isinstance(waits := message.get("waitsForScrape"), bool):
            self.waits_for_scrape = waits
        if isinstance(exporter := message.get("exporter"), str):
            self.exporter = exporter
        if isinstance(summary := message.get("summary"), str):
            self.summary = summary
        if isinstance(error := message.get("error"), str):
            self.note(f"finisher error: {error}")
        if message.get("done") is True:
            self.done = True
        if message.get("faultFired") is True:
            self.faults_fired += 1

    def note(self, text: str) -> None:
        """Remember something every later summary must say (once)."""
        if text not in self.notes:
            self.notes.append(text)


class Reporter:
    """The worker's end of the pipe."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def send(self, **message: Any) -> None:
        """Write one message; a supervisor that is gone is not our problem."""
        if self.fd is None:
            return
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:
            self.fd = None


class Inbox:
    """The supervisor's end: whole lines out of whatever the pipe delivers."""

    def __init__(self, fd: int, known: Known) -> None:
        self.fd = fd
        self.known = known
        self._partial = b""

    def read(self) -> bool:
        """Take in what is available; False once the worker's end is closed."""
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                self.known.apply(message)
        return True
