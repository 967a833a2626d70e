"""Finisher summaries as `wait` finds them: totals, two request names and two checks."""

from typing import Any, cast

from app.core.summary import Summary


def _endpoint(method: str, name: str, requests: int, failures: int, avg: float, p95: float) -> Any:
    counts = {"requests": requests, "failures": failures}
    return {"method": method, "name": name, **counts, "avgMs": avg, "p95Ms": p95}


def _check(name: str, limit: str, value: str, passed: bool, reads: str) -> Any:
    return {"name": name, "limit": limit, "value": value, "passed": passed, "reads": reads}


def summary(*, failing: bool = False, **extra: Any) -> Summary:
    """A summary with two request names; ``failing``: one of them failed, and a check."""
    error = {"method": "POST", "name": "/checkout", "error": "HTTPError('503')", "occurrences": 20}
    document: dict[str, Any] = {
        "version": 1,
        "state": "stopped",
        "requests": 1000,
        "failures": 20 if failing else 0,
        "failRatio": 0.02 if failing else 0.0,
        "avgMs": 12.5,
        "medianMs": 10.0,
        "p95Ms": 41.0,
        "maxMs": 250.0,
        "rps": 33.3,
        "users": 0,
        "workers": 2,
        "endpoints": [
            _endpoint("GET", "/", 600, 0, 8.0, 20.0),
            _endpoint("POST", "/checkout", 400, 20 if failing else 0, 1250.0, 2000.0),
        ],
        "errors": [error] if failing else [],
        "finalScrape": {
            "primed": True,
            "scrapedDuringTest": True,
            "waited": True,
            "confirmed": True,
        },
        "exporter": "quit",
        "notes": ["a worker restarted"],
        "checks": [
            _check("p95", "500ms", "41ms", True, "the Aggregated row's 95th percentile"),
            _check(
                "fail-ratio",
                "0.01",
                "0.02" if failing else "0",
                not failing,
                "failures / requests over all request names",
            ),
        ],
        **extra,
    }
    return cast(Summary, document)
