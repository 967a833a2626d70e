"""Locust's stats parsed as they stream give the summary that the whole answer gives."""

import json
from typing import Any

import pytest

from app.core.summary import summarize_stats
from app.finisher.stats_read import ENTRY_LIMIT, StatsReader, StatsTooLargeError


def locust_stats(names: int, errors: int) -> dict[str, Any]:
    """An answer shaped as Locust 2.x's /stats/requests, ties and zeros included."""
    rows: list[Any] = [
        {
            "method": "GET",
            "name": f"/items/{i}",
            "num_requests": i % 7,
            "num_failures": i % 3,
            "avg_response_time": 1.5 * i,
            "median_response_time": i,
            "response_time_percentile_0.95": i + 1,
            "response_time_percentile_0.99": i + 2,
            "max_response_time": float(i),
            "total_rps": 0.25,
        }
        for i in range(names)
    ]
    rows.insert(3, "not a row")
    rows.append({"method": "", "name": "Aggregated", "num_requests": 999, "num_failures": 9})
    return {
        "stats": rows,
        "errors": [
            {"method": "GET", "name": f"/e/{i}", "error": "boom " * i, "occurrences": i % 4}
            for i in range(errors)
        ],
        "total_rps": 12.5,
        "fail_ratio": 0.01,
        "current_response_time_percentiles": {"response_time_percentile_0.5": 3},
        "workers": [{"id": "w1", "state": "running"}],
        "worker_count": 1,
        "state": "stopped",
        "user_count": 4,
    }


def read(answer: bytes, chunk: int) -> dict[str, Any]:
    reader = StatsReader()
    for at in range(0, len(answer), chunk):
        reader.feed(answer[at : at + chunk])
    return reader.document()


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize(("names", "errors"), [(0, 0), (3, 2), (40, 30), (501, 500)])
def test_the_summary_is_the_one_of_the_whole_answer(chunk: int, names: int, errors: int) -> None:
    whole = locust_stats(names, errors)
    answer = json.dumps(whole, indent=1 if chunk == 7 else None).encode()
    document = read(answer, chunk)
    assert summarize_stats(document) == summarize_stats(whole)
    assert len(document["stats"]) == len(whole["stats"]) - 1  # the string is no row
    assert len(document["errors"]) == len(whole["errors"])


def test_numbers_that_are_not_numbers_cost_nothing() -> None:
    answer = b'{"stats": [{"name": "Aggregated", "num_requests": NaN, "num_failures": 1e999}]}'
    summary = summarize_stats(read(answer, 5))
    assert (summary["requests"], summary["failures"]) == (0, 0)


@pytest.mark.parametrize(
    "answer",
    [b"", b"[]", b'{"stats": [', b'{"stats": []', b'{"state": "x"} {}', b'{"a" 1}', b"{1: 2}"],
)
def test_what_is_not_one_json_object_is_an_error(answer: bytes) -> None:
    with pytest.raises(ValueError, match="JSON"):
        read(answer, 3)


def test_an_entry_past_its_cap_is_given_up_before_it_is_whole() -> None:
    reader = StatsReader()
    reader.feed(b'{"errors": [{"error": "')
    for _ in range(ENTRY_LIMIT // 4096 - 1):
        reader.feed(b"x" * 4096)
    with pytest.raises(StatsTooLargeError):
        reader.feed(b"x" * 4096)
