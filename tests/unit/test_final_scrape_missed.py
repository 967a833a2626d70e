"""FinalScrapeMissed when the exporter could not hold Locust's final numbers (issue 21).

docs/reference.md and troubleshooting.md promise the Event; a summary that says why no
scrape could carry the final numbers must raise it, whatever wait-for-scrape says.
"""

import json
from typing import Any

import pytest

from app.core.pod_facts import Terminated
from app.core.priming import Unconfirmable
from app.core.reconcile import AnnounceVerdict, plan
from app.core.settings import FinishSettings, WaitForScrape
from tests.unit.test_reconcile import EXIT, facts


def events(final: dict[str, Any], **settings: Any) -> dict[str, str]:
    """The Events the report of a finished pod carries, by reason."""
    summary = {"version": 1, "requests": 1261, "failures": 0, "finalScrape": final}
    done = facts(
        settings=FinishSettings(ttl_seconds=30, **settings),
        recorded_result="passed",
        finisher=Terminated(0, EXIT + 5, "t", json.dumps(summary)),
        exporter_running=False,
        exporter_ended=Terminated(0, EXIT + 5, "t"),
    )
    report = plan(done, EXIT + 6).actions[0]
    assert isinstance(report, AnnounceVerdict)
    return {event.reason: event.message for event in report.events}


SCRAPED = {"primed": False, "scrapedDuringTest": True, "waited": True, "confirmed": False}


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        (Unconfirmable.LOCUST_GONE, "locust_up 0"),
        (Unconfirmable.EXPORTER_BEHIND, "short of Locust's own"),
        (Unconfirmable.NOT_SETTLED, "not seen stopped for 5 s"),
    ],
)
@pytest.mark.parametrize("wait", list(WaitForScrape))
def test_an_exporter_that_could_not_hold_the_final_numbers_is_warned_of(
    reason: Unconfirmable, says: str, wait: WaitForScrape
) -> None:
    warned = events({**SCRAPED, "unconfirmable": str(reason)}, wait_for_scrape=wait)
    assert says in warned["FinalScrapeMissed"]
    assert warned["FinalScrapeMissed"].startswith("Prometheus may not have Locust's final")


def test_a_reason_we_do_not_know_is_not_repeated_and_the_usual_warning_stands() -> None:
    warned = events({**SCRAPED, "unconfirmable": "<script>"})
    assert "max-wait" in warned["FinalScrapeMissed"]
    assert "<script>" not in json.dumps(warned)
    assert "FinalScrapeMissed" not in events(
        {**SCRAPED, "unconfirmable": "<script>"}, wait_for_scrape=WaitForScrape.FALSE
    )


def test_a_confirmed_final_scrape_is_not_warned_of() -> None:
    assert "FinalScrapeMissed" not in events({**SCRAPED, "primed": True, "confirmed": True})
