"""The controller's verdict annotations: written for one pod, and read only as that pod's.

The controller writes the verdict (``result``, ``exit-code``, ``finished-at``, and with the
summary once it has it) on the pod and on its Job. Both outlive the run they are about: a Job
keeps the verdict of its first pod while it runs a retry, and anyone who re-creates a Job or a
pod from a copy (``kubectl get -o yaml``, a template) copies the verdict annotations with it.
Read as they stand, a re-run would answer with the previous run's verdict.

So the record names the uid of the pod it is of (``result-of``): the API server gives each pod
its uid at creation, so no copy and no earlier attempt can name the pod being read. A record
from before ``result-of`` counts only when its ``finished-at`` is this pod's own master's end.
"""

from collections.abc import Mapping
from typing import Any

from app.core import names, podview
from app.core.reasons import Reason

# Verdict annotations a record holds only sometimes: one it does not hold is removed, or a
# Job's retry that passed would keep its failed first attempt's reason.
_SOMETIMES = (names.REASON_ANNOTATION,)


def verdict_annotations(
    pod_uid: str, result: str, exit_code: int, finished_at: str, reason: Reason | None = None
) -> dict[str, str]:
    """The verdict as the controller writes it on the pod and its Job."""
    annotations = {
        names.RESULT_ANNOTATION: result,
        names.EXIT_CODE_ANNOTATION: str(exit_code),
        names.FINISHED_AT_ANNOTATION: finished_at,
        names.RESULT_OF_ANNOTATION: pod_uid,
    }
    if reason is not None:
        annotations[names.REASON_ANNOTATION] = reason.code
    return annotations


def cleared(annotations: Mapping[str, str]) -> tuple[str, ...]:
    """The verdict annotations ``annotations`` lacks, which an earlier record may have left."""
    return tuple(key for key in _SOMETIMES if key not in annotations)


def is_record_of(
    annotations: Mapping[str, Any], pod_uid: str | None, master_finished_at: str | None
) -> bool:
    """Whether the verdict in ``annotations`` (a pod's or a Job's) is the pod's own.

    ``master_finished_at`` is the pod's master container's ``finishedAt`` as the pod status
    gives it (None while it runs): what the controller copies into ``finished-at``.
    """
    of = annotations.get(names.RESULT_OF_ANNOTATION)
    if of is not None:
        return bool(pod_uid) and of == pod_uid
    finished = podview.text(annotations, names.FINISHED_AT_ANNOTATION)
    return finished is not None and finished == master_finished_at
