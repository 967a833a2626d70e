"""The exporter's end, with fake times (seconds after the master's exit at t=1000)."""

import pytest

from app.core.finish_plan import ExporterDeadline, latest_end_offset, waits_for_scrape
from app.core.settings import DEFAULT_TTL_SECONDS, FinishSettings, WaitForScrape

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


# ------------------------------------------------------------ no TTL set: end on the scrape


def test_with_no_ttl_set_a_scrape_confirmed_before_the_exit_ends_the_exporter_at_once() -> None:
    plan = ExporterDeadline(EXIT, FinishSettings(), wait_for_scrape=True)
    assert plan.decide(EXIT, scraped_since_priming=True) == "scraped"


def test_with_no_ttl_set_the_exporter_waits_for_the_scrape_up_to_max_wait() -> None:
    plan = ExporterDeadline(EXIT, FinishSettings(max_wait_seconds=300), wait_for_scrape=True)
    assert plan.decide(EXIT + 299, scraped_since_priming=False) is None
    assert plan.decide(EXIT + 300, scraped_since_priming=False) == "max-wait"


def test_with_no_ttl_set_and_no_scrape_awaited_the_default_ttl_applies() -> None:
    plan = ExporterDeadline(EXIT, FinishSettings(), wait_for_scrape=False)
    assert plan.decide(EXIT + DEFAULT_TTL_SECONDS - 0.1, scraped_since_priming=True) is None
    assert plan.decide(EXIT + DEFAULT_TTL_SECONDS, scraped_since_priming=False) == "ttl"


def test_an_exporter_without_a_scrape_counter_ends_after_the_default_ttl_not_max_wait() -> None:
    plan = ExporterDeadline(EXIT, FinishSettings(), wait_for_scrape=True)
    assert plan.decide(EXIT + 1, scraped_since_priming=False, confirmable=False) is None
    assert plan.decide(EXIT + DEFAULT_TTL_SECONDS, False, confirmable=False) == "ttl"


def test_a_ttl_the_user_set_is_a_floor_under_a_confirmed_scrape() -> None:
    plan = ExporterDeadline(EXIT, FinishSettings(ttl_seconds=10), wait_for_scrape=True)
    assert plan.decide(EXIT + 9.9, scraped_since_priming=True) is None
    assert plan.decide(EXIT + 10, scraped_since_priming=True) == "scraped"


def test_the_controller_steps_in_after_the_default_ttl_or_max_wait() -> None:
    assert latest_end_offset(FinishSettings(), waits=False) == DEFAULT_TTL_SECONDS
    assert latest_end_offset(FinishSettings(max_wait_seconds=300), waits=True) == 300
