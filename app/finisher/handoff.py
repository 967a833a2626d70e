"""What a worker tells its supervisor, so a restarted worker picks up where the test is.

The worker writes one message a line to a pipe as it learns things (the master's process,
when it exited, what the exporter did, the summary so far). The supervisor keeps the latest
of each in :class:`Known`; a new worker is forked from the supervisor, so it starts with
that knowledge in memory. Where the container itself may be killed and restarted (cgroup
v2), the supervisor also keeps a snapshot of it, in the same messages, in a volume
(:mod:`app.finisher.state`).
Times are on the monotonic clock, which parent and child share.

Each message is a dataclass, sent as JSON with its kind; the receiving end refuses a kind
or a field it does not know, or a value of the wrong type, rather than dropping it: a
misspelt field once meant a fact silently lost between the two processes.
"""

import json
import logging
import os
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Final

from app.core.exporter_outcome import ExporterOutcome

log = logging.getLogger(__name__)

# What a worker that failed exits with, so the supervisor starts another.
WORKER_FAILED = 70


# ----------------------------------------------------------------- the messages


@dataclass(frozen=True)
class MasterFound:
    """The Locust master process the worker watches."""

    pid: int
    start_ticks: int


@dataclass(frozen=True)
class MasterExited:
    """When the master exited: monotonic, and as the summary writes it."""

    at: float
    finished_at: str


@dataclass(frozen=True)
class GaveUp:
    """When the worker stopped waiting for a master that never started."""

    at: float


@dataclass(frozen=True)
class ScrapeWaitDecided:
    """Whether the exporter waits for a final scrape, decided once when the master exited."""

    waits: bool


@dataclass(frozen=True)
class ExporterEnded:
    """How the exporter ended (the detail says why one was left running)."""

    outcome: ExporterOutcome
    detail: str = ""


@dataclass(frozen=True)
class SummarySoFar:
    """The latest encoded summary."""

    summary: str


@dataclass(frozen=True)
class Done:
    """The worker wrote the final summary (``summary``, when it has one)."""

    summary: str | None = None


@dataclass(frozen=True)
class WorkerFailed:
    """A bug of ours in the worker, in one line."""

    error: str


@dataclass(frozen=True)
class Noted:
    """Something every later summary must say (kept across container restarts)."""

    text: str


@dataclass(frozen=True)
class ContainerStarted:
    """How many times the finisher's container has started in this pod (kept in its state)."""

    count: int


Message = (
    MasterFound
    | MasterExited
    | GaveUp
    | ScrapeWaitDecided
    | ExporterEnded
    | SummarySoFar
    | Done
    | WorkerFailed
    | Noted
    | ContainerStarted
)
_KINDS: Final[dict[str, type[Message]]] = {
    kind.__name__: kind
    for kind in (
        MasterFound,
        MasterExited,
        GaveUp,
        ScrapeWaitDecided,
        ExporterEnded,
        SummarySoFar,
        Done,
        WorkerFailed,
        Noted,
        ContainerStarted,
    )
}


class HandoffError(ValueError):
    """A line that is not one of our messages, exactly."""


def encode(message: Message) -> bytes:
    """One message as a JSON line."""
    document = {"kind": type(message).__name__}
    document.update({f.name: getattr(message, f.name) for f in fields(message)})
    return (json.dumps(document, separators=(",", ":")) + "\n").encode()


def _fits(value: object, hint: object) -> bool:
    if isinstance(hint, types.UnionType):
        return any(_fits(value, member) for member in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type) and issubclass(hint, ExporterOutcome):
        return value in set(ExporterOutcome)
    return isinstance(hint, type) and isinstance(value, hint)


def decode(line: bytes) -> Message:
    """The message of one line.

    Raises:
        HandoffError: for an unknown kind, an unknown or missing field, or a wrong type.
    """
    try:
        document = json.loads(line)
    except ValueError as error:
        raise HandoffError(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise HandoffError("not a JSON object")
    name = str(document.pop("kind", ""))
    kind = _KINDS.get(name)
    if kind is None:
        raise HandoffError(f"unknown kind {name!r:.40}")
    hints = typing.get_type_hints(kind)
    known = {f.name for f in fields(kind)}
    if unknown := sorted(set(document) - known):
        raise HandoffError(f"{kind.__name__}: unknown fields {', '.join(unknown)}")
    for key, value in document.items():
        if not _fits(value, hints[key]):
            raise HandoffError(f"{kind.__name__}.{key}: {value!r:.40} is not {hints[key]}")
        if hints[key] is ExporterOutcome:
            document[key] = ExporterOutcome(value)
    try:
        return kind(**document)
    except TypeError as error:  # a field without a default is missing
        raise HandoffError(f"{kind.__name__}: {error}") from None


# ----------------------------------------------------------------- what is known


def note_once(notes: list[str], text: str) -> None:
    """Add ``text`` to ``notes`` unless it is there: the one rule for every note list."""
    if text not in notes:
        notes.append(text)


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
    exporter: ExporterOutcome | None = None  # how it ended, once it has
    exporter_detail: str = ""
    summary: str | None = None  # the latest encoded summary
    done: bool = False
    notes: list[str] = field(default_factory=list)
    container_starts: int = 1

    def apply(self, message: Message) -> None:
        """Take in one message."""
        match message:
            case MasterFound(pid, start_ticks):
                self.master = (pid, start_ticks)
            case MasterExited(at, finished_at):
                self.master_exited_at, self.master_finished_at = float(at), finished_at
            case GaveUp(at):
                self.gave_up_at = float(at)
            case ScrapeWaitDecided(waits):
                self.waits_for_scrape = waits
            case ExporterEnded(outcome, detail):
                self.exporter, self.exporter_detail = outcome, detail
            case SummarySoFar(summary):
                self.summary = summary
            case Done(summary):
                self.summary = summary if summary is not None else self.summary
                self.done = True
            case WorkerFailed(error):
                self.note(f"finisher error: {error}")
            case Noted(text):
                self.note(text)
            case ContainerStarted(count):
                self.container_starts = count

    def note(self, text: str) -> None:
        """Remember something every later summary must say (once)."""
        note_once(self.notes, text)

    def snapshot(self) -> list[Message]:
        """Messages that, applied to a fresh :class:`Known`, give back what is known now.

        Monotonic times stay valid in a restarted container: the clock is the node's.
        """
        messages: list[Message] = [ContainerStarted(self.container_starts)]
        if self.master is not None:
            messages.append(MasterFound(*self.master))
        if self.master_exited_at is not None:
            messages.append(MasterExited(self.master_exited_at, self.master_finished_at or ""))
        if self.gave_up_at is not None:
            messages.append(GaveUp(self.gave_up_at))
        if self.waits_for_scrape is not None:
            messages.append(ScrapeWaitDecided(self.waits_for_scrape))
        if self.exporter is not None:
            messages.append(ExporterEnded(self.exporter, self.exporter_detail))
        if self.summary is not None:
            messages.append(SummarySoFar(self.summary))
        messages += [Noted(text) for text in self.notes]
        if self.done:
            messages.append(Done())
        return messages


# ----------------------------------------------------------------- the pipe


class Outbox:
    """The worker's end of the pipe."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def send(self, message: Message) -> None:
        """Write one message; a supervisor that is gone is not our problem."""
        if self.fd is None:
            return
        data = encode(message)
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
                message = decode(line)
            except HandoffError as error:  # a bug of ours: said, never silently dropped
                log.error("a message from the worker was refused: %s", error)
                self.known.note(f"finisher error: a worker's message was refused: {error}")
                continue
            self.known.apply(message)
        return True
