"""What the finisher had learned, kept where its next container finds it.

On cgroup v2 an OOM kill ends every process of the container at once (``memory.oom.group``),
the supervisor with its worker, and a ``restartPolicy: Never`` pod then fails: the verdict
would be ours. Where the API server takes container restart rules (1.35+), the webhook
asks the kubelet to restart the finisher after such a kill (exit 137) and gives it an
emptyDir. The supervisor keeps its :class:`~app.finisher.handoff.Known` there as handoff
messages (one codec for the pipe and the file), so the next container resumes where the
test is: the master already gone, the TTL counted from its exit, the exporter already ended.

The file is replaced whole (write, then rename), so a kill mid-write leaves the last one.
A file that is unreadable, too big or not ours is set aside: the container starts afresh,
and says so, as one without a volume would.
"""

import contextlib
import logging
import os
from pathlib import Path

from app.finisher.handoff import HandoffError, Known, decode, encode

log = logging.getLogger(__name__)

STATE_FILE = "known.jsonl"
# The summary (at most 4 KiB), its notes and a few facts: far below this.
MAX_STATE_BYTES = 64 * 1024


def load(directory: Path, known: Known) -> bool:
    """Take in what an earlier container of this pod kept; True if there was one."""
    path = directory / STATE_FILE
    try:
        with path.open("rb") as file:
            data = file.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        return False
    except OSError as error:
        known.note(f"the finisher's kept state could not be read ({error}): started afresh")
        return False
    if len(data) > MAX_STATE_BYTES:
        known.note("the finisher's kept state was too big: started afresh")
        return False
    try:
        messages = [decode(line) for line in data.splitlines()]
    except HandoffError as error:  # all or nothing: half a state would mislead the worker
        known.note(f"the finisher's kept state was refused ({error}): started afresh")
        return False
    for message in messages:
        known.apply(message)
    known.container_starts += 1
    return True


def save(directory: Path, known: Known) -> None:
    """Replace the kept state with what is known now; a failure costs only the resume."""
    path = directory / STATE_FILE
    partial = directory / f".{STATE_FILE}.{os.getpid()}"
    data = b"".join(encode(message) for message in known.snapshot())
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as error:
        log.warning("the finisher's state could not be kept: %s", error)
        with contextlib.suppress(OSError):
            partial.unlink()
