"""Whether a read of the exporter primed it, and whether Locust's totals had settled (issue 21)."""

import pytest

from app.core.priming import (
    SETTLE_SECONDS,
    ExporterReading,
    Settling,
    Unconfirmable,
    explain,
    read_unconfirmable,
    reading_fault,
    unconfirmable,
)


def reading(text: str, *, cut: int | None = None) -> ExporterReading:
    """What an answer says, fed whole or in two blocks of whole lines."""
    found = ExporterReading()
    lines = text.encode().splitlines(keepends=True)
    at = len(lines) if cut is None else cut
    found.feed(b"".join(lines[:at]))
    found.feed(b"".join(lines[at:]))
    return found


def test_go_notation_and_lines_split_across_blocks_are_read() -> None:
    text = (
        'locust_requests_num_requests{method="GET",name="/"} 7\n'
        'locust_requests_num_requests{method="",name="Aggregated"} 1.234567e+06\n'
        "locust_up 1\n"
        'locust_requests_num_failures{method="",name="Aggregated"} 12\n'
    )
    for cut in range(5):
        found = reading(text, cut=cut)
        assert (found.locust_up, found.requests, found.failures) == (True, 1234567, 12)


@pytest.mark.parametrize(
    "text",
    [
        "",  # no answer's worth of lines: nothing known, nothing to hold against it
        'locust_requests_num_requests{method="",name="Aggregated"} NaN\nlocust_up maybe\n',
        'locust_requests_num_requests{method="",name="Aggregated"} -1\n',
        'locust_requests_num_requests{method="",name="Aggregated"} +Inf\n',
        '# locust_up 0\nlocust_requests_num_requests{method="",name="Total"} 3\n',
    ],
)
def test_what_the_answer_does_not_say_is_not_held_against_it(text: str) -> None:
    found = reading(text)
    assert (found.locust_up, found.requests, found.failures) == (None, None, None)
    assert reading_fault(found, (10, 1)) is None


@pytest.mark.parametrize(
    ("exported", "known", "fault"),
    [
        ((1474, 2), (1474, 2), None),
        ((1480, 2), (1474, 2), None),  # read a moment after the finisher: more is fine
        ((1261, 2), (1474, 2), Unconfirmable.EXPORTER_BEHIND),
        ((1474, 1), (1474, 2), Unconfirmable.EXPORTER_BEHIND),
        ((5, 0), None, None),  # the finisher never read Locust: nothing to compare with
    ],
)
def test_a_priming_read_holds_at_least_locusts_last_known_totals(
    exported: tuple[int, int], known: tuple[int, int] | None, fault: Unconfirmable | None
) -> None:
    found = ExporterReading(locust_up=True, requests=exported[0], failures=exported[1])
    assert reading_fault(found, known) is fault


def test_totals_settle_a_report_interval_and_a_cache_after_the_first_stopped_read() -> None:
    settling = Settling()
    settling.read("running", 0.0, 0.1)
    settling.read("stopped", 2.0, 2.2)  # the stop came before this read ended
    settling.read("stopped", 2.2 + SETTLE_SECONDS - 0.01, 8.0)
    assert not settling.settled
    settling.read("stopped", 2.2 + SETTLE_SECONDS, 8.0)
    assert settling.settled


def test_a_test_started_again_unsettles_the_totals() -> None:
    settling = Settling()
    settling.read("stopped", 0.0, 0.1)
    settling.read("stopped", 10.0, 10.1)
    settling.read("running", 11.0, 11.1)  # the web UI started another test
    settling.read("stopped", 12.0, 12.1)
    assert not settling.settled


@pytest.mark.parametrize(
    ("priming", "settled", "reason"),
    [
        (None, True, None),
        (None, False, Unconfirmable.NOT_SETTLED),
        (Unconfirmable.LOCUST_GONE, True, Unconfirmable.LOCUST_GONE),
        (Unconfirmable.EXPORTER_BEHIND, False, Unconfirmable.EXPORTER_BEHIND),
    ],
)
def test_the_priming_reads_fault_comes_before_unsettled_totals(
    priming: Unconfirmable | None, settled: bool, reason: Unconfirmable | None
) -> None:
    assert unconfirmable(priming, settled) is reason


def test_only_known_reasons_are_read_from_a_summary() -> None:
    assert read_unconfirmable("locust-gone") is Unconfirmable.LOCUST_GONE
    for other in ("", "Locust-Gone", None, 3, ["locust-gone"], "x" * 10_000):
        assert read_unconfirmable(other) is None
    for reason in Unconfirmable:
        assert "--autoquit" in explain(reason) or "--locust.uri" in explain(reason)
