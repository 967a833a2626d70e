"""Timestamps as Kubernetes writes them (RFC 3339, UTC, ``Z``), in one place.

Pod statuses, Events, Leases, our annotations and our JSON logs all carry such stamps; one
writer and one reader keep their precision and their parsing the same everywhere. The time
itself is always passed in, so the core stays free of clocks.
"""

import datetime


def format_time(epoch_seconds: float, fraction_digits: int = 0) -> str:
    """``2026-12-01T10:00:00Z``, with 3 (ms) or 6 (µs) fraction digits when asked.

    Raises:
        ValueError: for a precision Kubernetes does not use.
    """
    stamp = datetime.datetime.fromtimestamp(epoch_seconds, datetime.UTC)
    whole = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction_digits == 0:
        return f"{whole}Z"
    if fraction_digits not in (3, 6):
        raise ValueError("fraction_digits is 0, 3 or 6")
    return f"{whole}.{stamp.microsecond:06d}"[: len(whole) + 1 + fraction_digits] + "Z"


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 timestamp as epoch seconds; None when absent or unreadable."""
    if not text:
        return None
    try:
        stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return stamp.timestamp()
