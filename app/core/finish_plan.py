"""When the exporter may end: the TTL and the final-scrape wait, as pure arithmetic.

The exporter stays up at least the TTL after the master exits. With wait-for-scrape
``true`` (or ``auto`` when someone scraped it during the test) it also waits for a scrape
by someone else that completes after our priming read, but never longer than max-wait
after the master's exit. Times are plain seconds on one clock, so tests can pass any.

The finisher and the controller both use :func:`latest_end_offset`: the controller steps in
only once the finisher's own latest deadline has passed.
"""

from dataclasses import dataclass
from typing import Literal

from app.core.settings import FinishSettings, WaitForScrape

EndReason = Literal["ttl", "scraped", "max-wait"]


def waits_for_scrape(setting: WaitForScrape, scraped_during_test: bool | None) -> bool:
    """Whether to hold the exporter for a final scrape.

    ``scraped_during_test`` is None where it is not known (the controller's view): then
    ``auto`` may wait.
    """
    if setting is WaitForScrape.TRUE:
        return True
    if setting is WaitForScrape.AUTO:
        return scraped_during_test is not False
    return False


def latest_end_offset(settings: FinishSettings, waits: bool) -> float:
    """Seconds after the master's exit by which the exporter ends at the latest."""
    if not waits:
        return settings.ttl_seconds
    return max(settings.ttl_seconds, settings.max_wait_seconds)


@dataclass(frozen=True)
class ExporterDeadline:
    """The plan made when the master exits."""

    master_exited_at: float
    settings: FinishSettings
    wait_for_scrape: bool

    @property
    def earliest_end(self) -> float:
        """The TTL has passed."""
        return self.master_exited_at + self.settings.ttl_seconds

    @property
    def latest_end(self) -> float:
        """Give up waiting for a scrape."""
        return self.master_exited_at + latest_end_offset(self.settings, self.wait_for_scrape)

    def decide(self, now: float, scraped_since_priming: bool) -> EndReason | None:
        """Why the exporter may end now, or None to keep it up."""
        if now < self.earliest_end:
            return None
        if not self.wait_for_scrape:
            return "ttl"
        if scraped_since_priming:
            return "scraped"
        if now >= self.latest_end:
            return "max-wait"
        return None
