"""When the exporter may end: the TTL and the final-scrape wait, as pure arithmetic.

The physical limit is one scrape after the final numbers, so with wait-for-scrape ``true``
(or ``auto`` when someone scraped it during the test) the exporter ends as soon as a scrape
by someone else completes after our priming read, never later than max-wait after the
master's exit. A TTL the user set is a floor under that. The default TTL
(:data:`DEFAULT_TTL_SECONDS`) applies only when no scrape can be confirmed: nobody waits
for one, or the exporter does not count its scrapes. Times are plain seconds on one clock,
so tests can pass any.

The finisher and the controller both use :func:`latest_end_offset`: the controller steps in
only once the finisher's own latest deadline has passed.
"""

from dataclasses import dataclass
from typing import Literal

from app.core.settings import DEFAULT_TTL_SECONDS, FinishSettings, WaitForScrape

EndReason = Literal["ttl", "scraped", "max-wait"]


def plain_ttl(settings: FinishSettings) -> float:
    """Seconds the exporter outlives the master when no final scrape is awaited."""
    return DEFAULT_TTL_SECONDS if settings.ttl_seconds is None else settings.ttl_seconds


def ttl_floor(settings: FinishSettings) -> float:
    """Seconds the exporter outlives the master at least, even after a confirmed scrape."""
    return settings.ttl_seconds or 0.0


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
        return plain_ttl(settings)
    return max(plain_ttl(settings), settings.max_wait_seconds)


@dataclass(frozen=True)
class ExporterDeadline:
    """The plan made when the master exits."""

    master_exited_at: float
    settings: FinishSettings
    wait_for_scrape: bool

    @property
    def earliest_end(self) -> float:
        """The TTL has passed: the floor when awaiting a scrape, else the plain TTL."""
        if self.wait_for_scrape:
            return self.master_exited_at + ttl_floor(self.settings)
        return self.master_exited_at + plain_ttl(self.settings)

    @property
    def unconfirmable_end(self) -> float:
        """Awaiting a scrape that cannot be confirmed: end as if none were awaited."""
        return self.master_exited_at + plain_ttl(self.settings)

    @property
    def latest_end(self) -> float:
        """Give up waiting for a scrape."""
        return self.master_exited_at + latest_end_offset(self.settings, self.wait_for_scrape)

    def decide(
        self, now: float, scraped_since_priming: bool, confirmable: bool = True
    ) -> EndReason | None:
        """Why the exporter may end now, or None to keep it up.

        ``confirmable`` is False once the exporter has answered without its scrape counter.
        """
        if now < self.earliest_end:
            return None
        if not self.wait_for_scrape:
            return "ttl"
        if scraped_since_priming:
            return "scraped"
        if not confirmable and now >= self.unconfirmable_end:
            return "ttl"
        if now >= self.latest_end:
            return "max-wait"
        return None
