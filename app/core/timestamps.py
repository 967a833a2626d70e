"""Timestamps as Kubernetes writes them (RFC 3339, UTC, ``Z``), in one place.

Pod statuses, Events, Leases, our annotations and our JSON logs all carry such stamps; one
writer and one reader keep their precision and their parsing the same everywhere. The time
itself is always passed in, so the core stays free of clocks.
"""

import datetime
import math

# The last whole second written, and how: a log line per review asks for the same second
# again and again, and strftime is most of the cost of writing one.
_last_second: tuple[int, str] = (-1, "")


def format_time(epoch_seconds: float, fraction_digits: int = 0) -> str:
    """``2026-12-01T10:00:00Z``, with 3 (ms) or 6 (µs) fraction digits when asked.

    Raises:
        ValueError: for a precision Kubernetes does not use.
    """
    global _last_second  # a one-entry cache, see above
    if fraction_digits not in (0, 3, 6):
        raise ValueError("fraction_digits is 0, 3 or 6")
    second = math.floor(epoch_seconds)
    micros = round((epoch_seconds - second) * 1_000_000)  # half to even, as datetime rounds
    if micros == 1_000_000:
        second, micros = second + 1, 0
    if _last_second[0] == second:
        whole = _last_second[1]
    else:
        stamp = datetime.datetime.fromtimestamp(second, datetime.UTC)
        whole = stamp.strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (second, whole)
    if fraction_digits == 0:
        return f"{whole}Z"
    return f"{whole}.{micros:06d}"[: len(whole) + 1 + fraction_digits] + "Z"


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
