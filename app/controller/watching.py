"""List, then watch, a kind of object forever: what the controller's loops stand on.

Modelled on kopf's continuous watch and client-go's reflector: list (paged), then watch from
the list's resourceVersion with bookmarks; a watch that ends or is cut is re-opened from the
last version seen; ``410 Gone`` means our version is too old to resume from, so we re-list
and rebuild everything (what is kept depends only on the objects, so nothing is lost). The
managed pods and the history ConfigMaps are watched by the same loop.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.core import podview
from app.kube.client import TRANSPORT_ERRORS, GoneError, KubeClient, KubeError

log = logging.getLogger(__name__)

# Waits after a failed list or watch: long enough not to hammer a struggling API server,
# short enough that a deadline in a plan is barely late.
MIN_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
# A watch that ends sooner than this with no event is treated as a failure (backoff applies).
MIN_WATCH_SECONDS = 1.0


class Watcher(Protocol):
    """What is told of the objects: each one listed or changed, each deleted, each full list."""

    def observe(self, obj: dict[str, Any]) -> None:
        """An object was listed, added or changed."""

    def observe_deleted(self, obj: dict[str, Any]) -> None:
        """An object was deleted (its last stored state)."""

    def listed(self, uids: set[str]) -> None:
        """A full list is done: these are all the objects there are."""


def _ignore(*_: Any) -> None:
    return None


@dataclass
class ListWatch:
    """One list-and-watch loop of ``path``'s objects that match ``selector``."""

    client: KubeClient
    path: str
    selector: str
    watcher: Watcher
    page_size: int = field(default=100, kw_only=True)
    # Told of every full list (why: start, gone, error) and every re-opened watch.
    relisted: Callable[[str], None] = field(default_factory=lambda: _ignore, kw_only=True)
    restarted: Callable[[], None] = field(default_factory=lambda: _ignore, kw_only=True)
    # The latest resourceVersion seen; None until listed, and after a 410.
    version: str | None = field(default=None, init=False)

    async def _relist(self) -> str:
        seen: set[str] = set()
        version = ""
        pages = self.client.list_pages(
            self.path, page_size=self.page_size, labelSelector=self.selector
        )
        async for page in pages:
            for obj in page.get("items", []):
                self.watcher.observe(obj)
                seen.add(str(podview.mapping(obj, "metadata").get("uid") or ""))
            version = str(page.get("metadata", {}).get("resourceVersion", version))
        self.watcher.listed(seen)
        return version

    async def _watch_from(self, version: str) -> int:
        """Watch from ``version``; the number of events seen. Keeps the latest version."""
        self.version = version
        seen = 0
        events = self.client.watch(self.path, version, labelSelector=self.selector)
        async for event in events:
            seen += 1
            kind = event.get("type")
            obj = event.get("object") or {}
            self.version = str(podview.mapping(obj, "metadata").get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            if kind == "DELETED":
                self.watcher.observe_deleted(obj)
            else:
                self.watcher.observe(obj)
        return seen

    async def run(self) -> None:
        """List, then watch forever; never ends but by cancellation.

        A stream that ends or is cut (a dropped connection, an API server restarting) is
        watched again from the last version seen; only a version the server no longer has
        (410) costs a re-list. Failures, and streams closed as soon as opened, wait a backoff
        that doubles up to :data:`MAX_BACKOFF_SECONDS` and resets once events flow again.
        """
        backoff = MIN_BACKOFF_SECONDS
        self.version = None
        reason = "start"
        while True:
            try:
                if self.version is None:
                    self.relisted(reason)
                    self.version = await self._relist()
                    backoff = MIN_BACKOFF_SECONDS
                opened = time.monotonic()
                seen = await self._watch_from(self.version)
                self.restarted()
                if seen or time.monotonic() - opened >= MIN_WATCH_SECONDS:
                    backoff = MIN_BACKOFF_SECONDS
                    continue  # ended as watches do (the server's timeout): watch again now
            except GoneError as error:
                log.info("watch of %s expired (%s); re-listing", self.path, error)
                self.version, reason = None, "gone"
                continue
            except (KubeError, *TRANSPORT_ERRORS) as error:
                again = "watching again" if self.version is not None else "re-listing"
                log.warning(
                    "watch of %s failed (%s); %s in %.1fs", self.path, error, again, backoff
                )
                self.restarted()
                reason = "error"
            except Exception:  # the watch must outlive anything one stream does
                log.exception("watch of %s failed; re-listing in %.1fs", self.path, backoff)
                self.restarted()
                self.version, reason = None, "error"
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
