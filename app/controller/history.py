"""Keeping each test's runs in its history ConfigMap, as :func:`plan` decides; expiring them.

The shell around :class:`ReadHistory` and :class:`RecordRun`: a read before the verdict
(brief, one retry, kept as :class:`HistorySeen` for the next plan), and a record after it: a
read-modify-write of one ConfigMap, conditional on its resourceVersion (a 409 reads it again),
idempotent by the pod's uid. A ConfigMap of the history's name that is not ours (its labels)
is never written. The leader also sweeps away the history of tests not run for
``history.expireAfter``, and reads ``history`` from the installation's ConfigMap for it.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from app.controller.installation import first_line, read_installation_config
from app.controller.retention import ConflictError
from app.core import history as kept
from app.core import names, podview
from app.core.cluster_config import HistoryConfig
from app.core.history import HistoryEntry
from app.core.pod_facts import PodFacts
from app.core.reconcile import HistorySeen
from app.kube.client import TRANSPORT_ERRORS, JsonDict, KubeClient, KubeError, path_of
from app.logs import pod_log

log = logging.getLogger(__name__)

# Writes of one ConfigMap within one record before giving up until the reconcile's retry: two
# replicas never write at once (one leads), so a conflict is someone's edit, and rare.
ATTEMPTS: Final = 3
# The read before a verdict: this long per attempt, and one retry; the verdict never waits more.
READ_SECONDS: Final = 5.0
READ_ATTEMPTS: Final = 2
# How often the leader looks for expired histories (and re-reads the history settings).
SWEEP_SECONDS: Final = 3600.0
# ConfigMaps listed per page, and pages per sweep: a sweep stays bounded whatever is there.
SWEEP_PAGE: Final = 100
SWEEP_PAGES: Final = 100


class Recorded(StrEnum):
    """What became of a run's record."""

    RECORDED = "recorded"
    ALREADY = "already"  # recorded before (a retried action, a new leader)
    NOT_OURS = "not-ours"  # a ConfigMap of our name without our labels: left alone
    REFUSED = "refused"  # the API server refused the write (rights, a write policy)


class HistoryStore:
    """Reads and writes test histories; keeps what was read for each pod's next plan."""

    def __init__(
        self,
        client: KubeClient,
        config_namespace: str = names.DEFAULT_INSTALL_NAMESPACE,
        config_name: str = names.CONFIG_MAP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.config_namespace = config_namespace
        self.config_name = config_name
        self.clock = clock
        self.config = HistoryConfig()
        self.seen: dict[str, HistorySeen] = {}

    def forget(self, pod_uid: str) -> None:
        """The pod is gone from our view."""
        self.seen.pop(pod_uid, None)

    async def read(self, facts: PodFacts, test: str) -> None:
        """Read ``test``'s kept runs for the pod's verdict; unreadable ones are said so."""
        path = path_of("configmaps", facts.namespace, kept.configmap_name(test))
        found: JsonDict | None = None
        readable, failure = False, ""
        for attempt in range(READ_ATTEMPTS):
            try:
                found = await asyncio.wait_for(self.client.get(path), READ_SECONDS)
                readable = True
                break
            except KubeError as error:
                if error.status == 404:
                    readable = True  # no run kept yet
                    break
                failure = str(error)
                if not error.retryable:
                    break
            except (TimeoutError, *TRANSPORT_ERRORS) as error:
                failure = str(error) or "timed out"
            if attempt + 1 < READ_ATTEMPTS:
                await asyncio.sleep(0.5)
        if not readable:
            pod_log(log, facts.namespace, facts.name).warning(
                "history of test %s not readable (%s): the verdict goes without a baseline",
                test,
                failure,
            )
        entries = kept.read_history(found)[0] if found and kept.is_history(found) else []
        self.seen[facts.uid] = HistorySeen(test, tuple(entries), readable)

    async def record(self, facts: PodFacts, test: str, entry: HistoryEntry) -> Recorded:
        """Append ``entry`` to ``test``'s history in the pod's namespace (made if missing).

        Raises:
            ConflictError: the ConfigMap changed under every one of :data:`ATTEMPTS`.
            KubeError: a failure worth retrying (the API server down or overloaded).
        """
        collection = path_of("configmaps", facts.namespace)
        path = f"{collection}/{kept.configmap_name(test)}"
        for _ in range(ATTEMPTS):
            try:
                current: JsonDict | None = await self.client.get(path)
            except KubeError as error:
                if error.status != 404:
                    return self._refused(facts, test, error)
                current = None
            if current is not None and not kept.is_history(current):
                return Recorded.NOT_OURS
            data = kept.recorded(current, entry, self.config.keep)
            if data is None:
                return Recorded.ALREADY
            try:
                if current is None:
                    body = kept.history_configmap(facts.namespace, test, data)
                    await self.client.create(collection, body)
                else:
                    await self.client.replace(path, {**current, "data": data})
            except KubeError as error:
                if error.status == 409:  # made or changed since we read it: read it again
                    continue
                return self._refused(facts, test, error)
            return Recorded.RECORDED
        raise ConflictError(f"history of test {test} changed under {ATTEMPTS} writes")

    def _refused(self, facts: PodFacts, test: str, error: KubeError) -> Recorded:
        if error.retryable:
            raise error
        pod_log(log, facts.namespace, facts.name).warning(
            "run not kept in the history of test %s: %s", test, error
        )
        return Recorded.REFUSED

    # ----------------------------------------------------------------- expiry

    async def refresh_config(self) -> None:
        """Read ``history`` from the installation's ConfigMap; keep the last good one else."""
        path = path_of("configmaps", self.config_namespace, self.config_name)
        try:
            installed = await read_installation_config(
                self.client, self.config_namespace, self.config_name
            )
        except KubeError as error:
            if error.retryable:
                raise
            log.warning(
                "history settings not read from %s (%s): keeping %s", path, error, self.config
            )
            return
        except Exception as error:  # a document that does not parse: one line, never a crash
            log.warning(
                "history settings in %s unusable (%s): keeping them", path, first_line(error)
            )
            return
        self.config = installed.history

    async def sweep(self) -> int:
        """Delete the history of every test not run for ``expireAfter``; how many went."""
        after = self.config.expire_after_seconds
        if after is None:
            return 0
        deleted = 0
        pages = self.client.list_pages(
            path_of("configmaps"), page_size=SWEEP_PAGE, labelSelector=kept.HISTORY_SELECTOR
        )
        count = 0
        async for page in pages:
            for configmap in page.get("items", []):
                if kept.is_history(configmap) and kept.expired(
                    kept.read_history(configmap)[0], self.clock(), after
                ):
                    deleted += await self._delete(configmap)
            count += 1
            if count >= SWEEP_PAGES:
                break
        return deleted

    async def _delete(self, configmap: JsonDict) -> int:
        metadata = podview.mapping(configmap, "metadata")
        namespace, name = podview.text(metadata, "namespace"), podview.text(metadata, "name")
        if not namespace or not name:
            return 0
        # Only as read: a run recorded since keeps its test's history.
        preconditions = {
            key: value
            for key in ("uid", "resourceVersion")
            if (value := podview.text(metadata, key))
        }
        try:
            await self.client.delete(path_of("configmaps", namespace, name), preconditions)
        except KubeError as error:
            if error.retryable:
                raise
            if error.status not in (404, 409):
                log.warning("expired history %s/%s not deleted: %s", namespace, name, error)
            return 0
        log.info("history of test %s in %s expired: deleted", kept.kept_test(configmap), namespace)
        return 1

    async def expire_forever(self) -> None:
        """Re-read the settings and sweep, every :data:`SWEEP_SECONDS`, until cancelled."""
        while True:
            try:
                await self.refresh_config()
                await self.sweep()
            except (KubeError, *TRANSPORT_ERRORS) as error:
                log.warning("history sweep failed (%s); again in %.0fs", error, SWEEP_SECONDS)
            except Exception:  # the controller must outlive anything one sweep does
                log.exception("history sweep failed; again in %.0fs", SWEEP_SECONDS)
            await asyncio.sleep(SWEEP_SECONDS)
