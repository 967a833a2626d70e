from app.core.scrapes import ScrapeLedger, completed_scrapes

METRICS = """# HELP promhttp_metric_handler_requests_total Total number of scrapes by code.
# TYPE promhttp_metric_handler_requests_total counter
promhttp_metric_handler_requests_total{code="200"} 7
promhttp_metric_handler_requests_total{code="500"} 0
"""


def test_reads_the_completed_scrape_counter() -> None:
    assert completed_scrapes(METRICS) == 7
    assert completed_scrapes("locust_up 1\n") is None
    assert completed_scrapes('promhttp_metric_handler_requests_total{code="200"} 1.2e+01\n') == 12


def test_our_own_reads_are_not_taken_for_prometheus() -> None:
    ledger = ScrapeLedger()
    ledger.prime(0)  # nobody scraped during the test; our read is not yet counted
    assert not ledger.scraped_before_priming
    ledger.record_read(1)  # only our priming read completed since
    ledger.record_read(2)
    assert not ledger.scraped_since_priming
    ledger.record_read(4)  # one more than our reads explain: someone else scraped
    assert ledger.scraped_since_priming


def test_scrapes_during_the_test_are_noticed_at_priming() -> None:
    ledger = ScrapeLedger()
    ledger.prime(5)
    assert ledger.scraped_before_priming
    assert not ledger.scraped_since_priming
    ledger.record_read(7)
    assert ledger.scraped_since_priming


def test_an_exporter_restart_resets_the_baseline_instead_of_confirming() -> None:
    ledger = ScrapeLedger()
    ledger.prime(10)
    ledger.record_read(0)
    assert ledger.exporter_restarted
    assert not ledger.scraped_since_priming
