"""The baseline a run is compared with: a file CI kept, or the test's previous run.

Files are read bounded (size, JSON values, nesting) and refused in one line: a baseline is
CI's artifact, and whoever could change it must not be able to hang or exhaust the job.
"""

from pathlib import Path

from app.core.against import BaselineRefusedError, summary_of_document
from app.core.compare import comparable
from app.core.history import previous, summary_of
from app.core.results import FinishedTest
from app.core.summary import RunMetadata, Summary
from app.kube.client import MIB, AnswerLimits, KubeClient, RefusedAnswerError, decode_json
from app.waiting.history_read import HistoryReadError, read_kept_history

# ``--baseline previous``: the test's last passed, comparable run in the cluster's history.
PREVIOUS = "previous"
# A summary is at most 4 KiB and wait's document a few more; a megabyte is no run's.
MAX_FILE_BYTES = 1 * MIB
FILE_LIMITS = AnswerLimits(size=MAX_FILE_BYTES, values=20_000, depth=16)


class BaselineError(Exception):
    """No baseline to compare with: the message is one line (exit 2)."""


def read_run_file(path: Path) -> Summary:
    """The run in a ``summary.json`` or ``wait -o json`` file.

    Raises:
        BaselineError: when it cannot be read or holds no run, saying which file and why.
    """
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise BaselineError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise BaselineError(f"{path} is over {MAX_FILE_BYTES // MIB} MiB: not a summary")
    try:
        return summary_of_document(decode_json(data, FILE_LIMITS))
    except (RefusedAnswerError, BaselineRefusedError) as error:
        raise BaselineError(f"{path} {error}") from None


async def previous_run(client: KubeClient, finished: FinishedTest) -> tuple[Summary, str] | None:
    """The test's previous run in the cluster's history, and how to name it; None: none kept.

    The newest passed run whose metadata is comparable (users, spawn rate, run time, Locust's
    version), never the finished run itself (the controller may have kept it already): what
    the controller judges the same relative checks by.

    Raises:
        BaselineError: the history cannot be read (one line).
    """
    current: RunMetadata = (finished.summary or {}).get("run") or {}
    test = current.get("test") or finished.test or finished.job or finished.pod or ""
    if not test or finished.namespace is None:
        return None
    try:
        kept = await read_kept_history(client, finished.namespace, test)
    except HistoryReadError as error:
        raise BaselineError(str(error)) from None
    found = previous(kept.entries, current, comparable, exclude_uid=finished.pod_uid)
    if found is None:
        return None
    which = found["run"].get("revision") or found["uid"]
    return summary_of(found), f"the previous run of {test} ({which}, {found['finishedAt']})"
