"""The exporter's end, with fake times (seconds after the master's exit at t=1000)."""

import pytest

from app.core.finish_plan import ExporterDeadline, waits_for_scrape
from app.core.settings import FinishSettings, WaitForScrape

EXIT = 1000.0


@pytest.mark.parametrize(
    ("setting", "scraped_during_test", "waits"),
    [
        (WaitForScrape.AUTO, True, True),
        (WaitForScrape.AUTO, False, False),
        (WaitForScrape.TRUE, False, True),
        (WaitForScrape.FALSE, True, False),
    ],
)
def test_whether_to_wait_for_a_final_scrape(
    setting: WaitForScrape, scraped_during_test: bool, waits: bool
) -> None:
    assert waits_for_scrape(setting, scraped_during_test) is waits


def test_without_a_scrape_wait_the_exporter_ends_exactly_at_the_ttl() -> None:
    plan = ExporterDeadline(EXIT, FinishSettings(ttl_seconds=30), wait_for_scrape=False)
    assert plan.decide(EXIT + 29.9, scraped_since_priming=True) is None
    assert plan.decide(EXIT + 30, scraped_since_priming=False) == "ttl"


def test_a_confirmed_scrape_never_cuts_the_ttl_short() -> None:
    plan = ExporterDeadline(EXIT, FinishSettings(ttl_seconds=30), wait_for_scrape=True)
    assert plan.decide(EXIT + 5, scraped_since_priming=True) is None
    assert plan.decide(EXIT + 30, scraped_since_priming=True) == "scraped"


def test_waiting_for_a_scrape_is_bounded_by_max_wait() -> None:
    plan = ExporterDeadline(
        EXIT, FinishSettings(ttl_seconds=30, max_wait_seconds=300), wait_for_scrape=True
    )
    assert plan.decide(EXIT + 299, scraped_since_priming=False) is None
    assert plan.decide(EXIT + 300, scraped_since_priming=False) == "max-wait"
    assert plan.latest_end == EXIT + 300


def test_a_max_wait_shorter_than_the_ttl_means_the_ttl() -> None:
    plan = ExporterDeadline(
        EXIT, FinishSettings(ttl_seconds=60, max_wait_seconds=10), wait_for_scrape=True
    )
    assert plan.decide(EXIT + 59, scraped_since_priming=False) is None
    assert plan.decide(EXIT + 60, scraped_since_priming=False) == "max-wait"
