"""The baseline a run is compared with: a file CI kept, or (to come) the test's previous run.

Files are read bounded (size, JSON values, nesting) and refused in one line: a baseline is
CI's artifact, and whoever could change it must not be able to hang or exhaust the job.
"""

from pathlib import Path

from app.core.against import BaselineRefusedError, summary_of_document
from app.core.results import FinishedTest
from app.core.summary import Summary
from app.kube.client import MIB, AnswerLimits, KubeClient, RefusedAnswerError, decode_json

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


async def previous_run(client: KubeClient, finished: FinishedTest) -> Summary | None:
    """The test's previous run from the cluster's history: the seam ``previous`` resolves by.

    The history (app/core/history.py, kept by the controller) is not in this version yet,
    so ``--baseline previous`` is refused before the wait starts (:func:`check_source`).
    """
    raise BaselineError("--baseline previous needs the controller's run history")


def check_source(source: str) -> None:
    """Refuse, before the wait, a ``--baseline`` this version cannot resolve.

    Raises:
        BaselineError: for ``previous`` until the run history is kept.
    """
    if source == PREVIOUS:
        raise BaselineError(
            "--baseline previous needs the controller's run history, which this version does "
            "not keep yet: pass a summary.json file"
        )
