"""Durations as users write them in annotations and flags: ``45s``, ``2m``, ``1h30m`` or ``90``.

Kubernetes users know Go's duration syntax from every other add-on, so we accept its
common subset (h, m, s, ms) plus bare whole seconds, and nothing negative.
"""

import functools
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float:
    """Return the number of seconds ``text`` stands for.

    Raises:
        ValueError: for anything that is not a non-negative duration, with a message that says
            what is accepted.
    """
    value = text.strip()
    if value.isdigit():
        return float(value)
    if value and _PART.sub("", value) == "":
        return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in _PART.findall(value))
    raise ValueError(f"{text!r} is not a duration (use e.g. 45s, 2m, 1h30m or whole seconds)")


@functools.lru_cache(maxsize=256)
def format_duration(seconds: float) -> str:
    """Render seconds the way users write them: ``30s``, ``5m``, ``1h2m3s``, ``1.5s``."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    remaining = int(seconds)
    if remaining == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
