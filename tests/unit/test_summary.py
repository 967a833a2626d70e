import json
from typing import Any

from app.core.summary import (
    SUMMARY_LIMIT,
    decode_summary,
    encode_summary,
    headline,
    summarize_stats,
)


def stats(endpoints: int = 2, errors: int = 1) -> dict[str, Any]:
    rows = [
        {
            "method": "GET",
            "name": f"/item/{i}",
            "num_requests": 100 - i,
            "num_failures": i,
            "avg_response_time": 3.25,
            "response_time_percentile_0.95": 7,
        }
        for i in range(endpoints)
    ]
    total = {
        "method": "",
        "name": "Aggregated",
        "num_requests": 580,
        "num_failures": 3,
        "avg_response_time": 3.123,
        "median_response_time": 3,
        "response_time_percentile_0.95": 5,
        "max_response_time": 12,
        "total_rps": 72.764,
    }
    return {
        "state": "stopped",
        "fail_ratio": 0.00517,
        "user_count": 0,
        "worker_count": 2,
        "stats": [*rows, total],
        "errors": [{"method": "GET", "name": "/fail", "error": "500 x" * 100, "occurrences": 3}]
        * errors,
    }


def test_totals_come_from_the_aggregated_row() -> None:
    summary = summarize_stats(stats())
    assert (summary["requests"], summary["failures"], summary["p95Ms"], summary["rps"]) == (
        580,
        3,
        5.0,
        72.76,
    )
    assert [e["name"] for e in summary["endpoints"]] == ["/item/0", "/item/1"]
    assert headline(summary) == "580 requests, 3 failures (0.52%), p95 5 ms, 72.76 req/s"


def test_the_encoded_summary_fits_a_termination_message_and_keeps_the_totals() -> None:
    encoded = encode_summary(summarize_stats(stats(endpoints=400, errors=50), top=400))
    assert len(encoded.encode()) <= SUMMARY_LIMIT
    decoded = decode_summary(encoded)
    assert decoded is not None
    assert (decoded["requests"], decoded["failures"]) == (580, 3)


def test_decoding_rejects_what_is_not_a_summary() -> None:
    assert decode_summary(None) is None
    assert decode_summary("container crashed: oops") is None
    assert decode_summary(json.dumps({"requests": 1})) is None
    assert decode_summary(json.dumps({"version": 1, "requests": 1})) == {
        "version": 1,
        "requests": 1,
    }


def test_the_summary_keeps_the_busiest_and_counts_what_it_left_out() -> None:
    summary = summarize_stats(stats(endpoints=5000, errors=40))
    assert [e["name"] for e in summary["endpoints"]] == [f"/item/{i}" for i in range(5)]
    assert summary["leftOut"] == {"endpoints": 4995, "errors": 37}


def test_cutting_to_4_kib_counts_each_cut_and_keeps_the_notes() -> None:
    summary = summarize_stats(stats(endpoints=400, errors=50), top=400, top_errors=50)
    summary["notes"] = ["the finisher's worker was killed by SIGKILL (out of memory?)"]
    decoded = decode_summary(encode_summary(summary))
    assert decoded is not None
    shown = len(decoded["endpoints"]) + len(decoded["errors"])
    left = decoded["leftOut"]
    assert shown + left.get("endpoints", 0) + left.get("errors", 0) == 450
    assert decoded["notes"] == summary["notes"], "what happened outlives endpoint detail"
