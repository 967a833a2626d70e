"""Locust's HTML report and final stats as kept in the cluster, for ``wait --report-dir``.

The report goes with the pod unless something keeps it (issue 12, point 1). This is the one
place ``wait`` asks for it, so the outputs need no change when it is kept: until then there
is nothing to fetch, and ``--report-dir`` holds the summary and the stats it carries.
"""

from dataclasses import dataclass
from typing import Any

from app.core.results import FinishedTest
from app.kube.client import KubeClient


@dataclass(frozen=True)
class KeptReport:
    """What was kept of a test beyond its summary."""

    html: bytes | None = None  # Locust's /stats/report page
    stats: dict[str, Any] | None = None  # Locust's final stats, fuller than the summary's


async def fetch_kept_report(client: KubeClient, finished: FinishedTest) -> KeptReport | None:
    """The report kept for ``finished``; None when none was kept (so far, always).

    Runs after the wait, with the same client; it must bound its own requests, and a report
    that cannot be read is None (the verdict and the summary stand without it).
    """
    return None
