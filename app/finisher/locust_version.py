"""Locust's version, read from its web UI's page: the one place a running Locust says it.

Two runs are comparable only on the same Locust (its percentiles and rates changed across
versions), and neither the pod spec (an image tag may be ``latest``, a custom image any name)
nor ``/stats/requests`` says which. Locust's web UI renders its template arguments into its
index page as JSON (locust/web.py ``update_template_args``: ``"version": "2.47.0"``), after
the stats history, so the page grows with the test: it is read once, as the test starts,
scanned as it streams and never held, and given up past :data:`PAGE_LIMIT` bytes or
:data:`PAGE_SECONDS`.
"""

import logging
import re

from app.core.run_metadata import locust_version
from app.finisher.http import Endpoint

log = logging.getLogger(__name__)

# Early in a test the page is about 2 KB; an hour's stats history adds a few hundred.
PAGE_LIMIT = 1024 * 1024
PAGE_SECONDS = 5.0
_VERSION = re.compile(rb'"version":\s*"([^"\\]{1,64})"')
# Enough of a chunk's end to find the pattern across two chunks.
_OVERLAP = 96


class _FoundError(Exception):
    """Raised from the sink to stop reading once the version is found."""


class _Scan:
    def __init__(self) -> None:
        self.tail = b""
        self.found: str | None = None

    def feed(self, chunk: bytes) -> None:
        text = self.tail + chunk
        match = _VERSION.search(text)
        if match is not None:
            self.found = match.group(1).decode("ascii", "replace")
            raise _FoundError
        self.tail = text[-_OVERLAP:]


def read_locust_version(locust: Endpoint) -> str | None:
    """Locust's version from its web UI; None when not found (a login, an older UI, no UI)."""
    scan = _Scan()
    try:
        locust.stream("/", scan.feed, limit=PAGE_LIMIT, seconds=PAGE_SECONDS)
    except _FoundError:
        pass
    except Exception as error:  # OSError, a read given up, http.client's errors: no version
        log.info("Locust's version not read: %s", error)
        return None
    return locust_version(scan.found)
