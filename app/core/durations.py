"""Durations as users write them in annotations and flags: ``45s``, ``2m``, ``1h30m`` or ``90``.

Kubernetes users know Go's duration syntax from every other add-on, so we accept its
common subset (h, m, s, ms) plus bare whole seconds, and nothing negative.

Anyone who can create a pod sends these strings to the webhook, so parsing is one linear
pass over at most :data:`MAX_LENGTH` characters (a backtracking regex took 18 s over a
32k-digit value, stalling a webhook replica). Values are kept to the millisecond and at most
:data:`MAX_SECONDS`, and :func:`format_duration` writes every value the parser returns in a
form the parser reads back, so the webhook, the finisher's environment and the status
annotation always agree.
"""

import functools

MAX_LENGTH = 32
MAX_SECONDS = 7 * 24 * 3600.0  # a week: far beyond any test's wait, far below overflow
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_HINT = "use e.g. 45s, 2m, 1h30m or whole seconds"


def _number(text: str, start: int) -> tuple[float, int]:
    """The non-negative decimal at ``start``, and where it ends."""
    end = start
    while end < len(text) and text[end].isascii() and text[end].isdigit():
        end += 1
    if end == start:
        raise ValueError
    if end < len(text) and text[end] == ".":
        fraction = end + 1
        end = fraction
        while end < len(text) and text[end].isascii() and text[end].isdigit():
            end += 1
        if end == fraction:
            raise ValueError
    return float(text[start:end]), end


def _unit(text: str, start: int) -> tuple[float, int]:
    """The unit's size in seconds at ``start``, and where it ends."""
    if text.startswith("ms", start):
        return _UNIT_SECONDS["ms"], start + 2
    if start < len(text) and text[start] in "hms":
        return _UNIT_SECONDS[text[start]], start + 1
    raise ValueError


def parse_duration(text: str) -> float:
    """Return the number of seconds ``text`` stands for, to the millisecond.

    Raises:
        ValueError: for anything that is not a non-negative duration of at most a week, with
            a message that says what is accepted.
    """
    value = text.strip()
    if len(value) > MAX_LENGTH:
        raise ValueError(f"{text[:MAX_LENGTH]!r}... is too long for a duration ({_HINT})")
    try:
        if value.isascii() and value.isdigit():
            seconds = float(value)
        else:
            seconds, position = 0.0, 0
            while position < len(value) or position == 0:
                amount, position = _number(value, position)
                size, position = _unit(value, position)
                seconds += amount * size
    except ValueError:
        raise ValueError(f"{text!r} is not a duration ({_HINT})") from None
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than a week ({_HINT})")
    return round(seconds, 3)


@functools.lru_cache(maxsize=256)
def format_duration(seconds: float) -> str:
    """Render seconds the way users write them: ``30s``, ``5m``, ``1h2m3s``, ``1.5s``."""
    if seconds != int(seconds):
        # Fixed point, never an exponent: "1e-05s" would not parse back.
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    remaining = int(seconds)
    if remaining == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def parse_interval(text: str) -> float:
    """A duration above zero, for how often to do something (zero would spin).

    Raises:
        ValueError: not a duration, or zero.
    """
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"{text!r} is not above zero")
    return seconds
