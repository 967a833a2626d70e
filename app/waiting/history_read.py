"""A test's kept runs, read from its history ConfigMap: for ``history`` and ``wait --baseline``.

The controller writes one ConfigMap per test (app/core/history.py); readers find it by the
test's name alone, with one GET (the CI role's ``get`` on ConfigMaps). What it holds is read
as untrusted (bounded, field by field); a ConfigMap of that name which is not ours is refused.
"""

from dataclasses import dataclass, field

from app.core import history
from app.core.history import HistoryEntry
from app.kube.client import KubeClient, KubeError, NotAnApiServerError, path_of


class HistoryReadError(Exception):
    """The history could not be read; one line."""


@dataclass(frozen=True)
class KeptHistory:
    """A test's kept runs (oldest first) and every run's count by result; none when not kept."""

    namespace: str
    test: str
    configmap: str
    entries: list[HistoryEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


async def read_kept_history(client: KubeClient, namespace: str, test: str) -> KeptHistory:
    """The runs kept of ``test`` in ``namespace``; none kept is no error.

    Raises:
        HistoryReadError: the API server refused or failed, or the ConfigMap is not ours.
    """
    name = history.configmap_name(test)
    try:
        found = await client.get(path_of("configmaps", namespace, name))
    except KubeError as error:
        if error.status == 404:
            return KeptHistory(namespace, test, name, counts=history.read_history(None)[1])
        said = error.message if isinstance(error, NotAnApiServerError) else str(error)
        raise HistoryReadError(
            f"cannot read the history of test {test} in {namespace} (ConfigMap {name}): {said}"
        ) from None
    if not history.is_history(found):
        raise HistoryReadError(
            f"ConfigMap {namespace}/{name} is not locust-finisher's history (it lacks the labels "
            f"{history.HISTORY_SELECTOR})"
        )
    entries, counted = history.read_history(found)
    return KeptHistory(namespace, test, name, entries, counted)
