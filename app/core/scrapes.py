"""Who scraped the exporter, and when: accounting on the exporter's own scrape counter.

locust_exporter serves Go's ``promhttp`` handler, whose
``promhttp_metric_handler_requests_total{code="200"}`` counts completed scrapes, ours
included, and is incremented only after a scrape's response is written. So the value in
the answer to our k-th read counts k-1 reads of ours plus everyone else's: subtracting our
own reads tells how many scrapes someone else (Prometheus) completed.
"""

import re
from dataclasses import dataclass

_COUNTER = r'^promhttp_metric_handler_requests_total\{[^}]*code="200"[^}]*\}\s+([0-9.eE+]+)'
_COUNTER_TEXT = re.compile(_COUNTER, re.MULTILINE)
# The finisher searches the bytes it read: a decoded copy of a big answer would double it.
_COUNTER_BYTES = re.compile(_COUNTER.encode(), re.MULTILINE)


def completed_scrapes(metrics: str | bytes) -> int | None:
    """The exporter's count of completed scrapes, or None if it does not report one."""
    match = (
        _COUNTER_BYTES.search(metrics)
        if isinstance(metrics, bytes)
        else _COUNTER_TEXT.search(metrics)
    )
    if match is None:
        return None
    try:
        return int(float(match.group(1)))
    except (ValueError, OverflowError):  # "1e999" is a number, but no count
        return None


@dataclass
class ScrapeLedger:
    """Our reads of the exporter, so that others' scrapes can be told from ours."""

    own_reads: int = 0
    external_at_priming: int | None = None
    latest_external: int = 0
    exporter_restarted: bool = False

    def record_read(self, counter: int) -> int:
        """Account for one completed read of ours that reported ``counter``.

        Returns:
            How many scrapes by others had completed when ours was served.
        """
        external = counter - self.own_reads
        if external < self.latest_external:
            # The counter went backwards: the exporter restarted and forgot everything.
            self.exporter_restarted = True
            self.own_reads = 0
            external = counter
            if self.external_at_priming is not None:
                self.external_at_priming = external
        self.own_reads += 1
        self.latest_external = external
        return external

    def prime(self, counter: int) -> None:
        """Our priming read: from here on, others' scrapes collect the final numbers."""
        self.external_at_priming = self.record_read(counter)

    @property
    def scraped_before_priming(self) -> bool:
        """Whether anyone else scraped the exporter during the test."""
        return bool(self.external_at_priming)

    @property
    def scraped_since_priming(self) -> bool:
        """Whether someone else completed a scrape after we primed the exporter."""
        if self.external_at_priming is None:
            return False
        return self.latest_external > self.external_at_priming
