"""Locust's ``/stats/requests``, parsed as it streams in: never held or parsed whole.

A test whose requests fail with long error pages (``response.failure(response.text)``)
makes this answer tens of megabytes; read and parsed whole, 40 MB took the worker to
134 MiB against its 64 Mi (attack campaign F2). The summary (:func:`summarize_stats`) needs
only the top-level numbers, the ``Aggregated`` row and the largest few rows and errors, so
each entry of ``stats`` and ``errors`` is parsed on its own and dropped unless it is one of
those. What stays bounded: one entry (:data:`ENTRY_LIMIT`), the whole answer
(:data:`STATS_LIMIT`, streamed, never held) and the time (:data:`STATS_SECONDS`).
"""

import codecs
import json
import math
from collections.abc import Mapping
from typing import Any

from app.core.summary import TOP_ENDPOINTS, TOP_ERRORS

# Locust lists 500 names and 500 errors at most: 5,000 names and 500 short errors make
# 0.3 MB, and 500 error pages of 80 KB make 40 MB, still read whole.
STATS_LIMIT = 64 * 1024 * 1024
# One row is 0.4 KB; an error entry carries its error text, an 80 KB page and more.
ENTRY_LIMIT = 512 * 1024
# Locust renders a big answer whole before its first byte (seconds, for tens of megabytes on
# a busy node) and then caches it for 2 s; a poll must not stall the worker's loop for long.
STATS_SECONDS = 10.0

_TOTAL_NAMES = ("Aggregated", "Total")
# The top-level keys summarize_stats reads (besides the two lists).
_NUMBERS = frozenset({"state", "fail_ratio", "user_count", "worker_count"})
_LISTS = {"stats": ("num_requests", TOP_ENDPOINTS), "errors": ("occurrences", TOP_ERRORS)}
_WHITESPACE = " \t\n\r"
_NUMBER_CHARS = frozenset("0123456789.eE+-")


class StatsTooLargeError(ValueError):
    """One entry of the answer is larger than :data:`ENTRY_LIMIT`."""


def _finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


# NaN, Infinity and 1e400 become None: a count that is not a number must not crash a summary.
_DECODER = json.JSONDecoder(parse_constant=lambda _: None, parse_float=_finite)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(entry: Mapping[str, Any], key: str) -> int:
    """What summarize_stats ranks by (its own ``_count``)."""
    value = entry.get(key)
    return int(value) if isinstance(value, int | float) else 0


class _Largest:
    """The ``top`` largest entries of a list in their first-seen order, and how many there were.

    Ties go to the entry seen first, as ``heapq.nlargest`` on the whole list does.
    """

    def __init__(self, key: str, top: int) -> None:
        self.key, self.top = key, top
        self.seen = 0
        self.kept: list[tuple[int, int, Mapping[str, Any]]] = []  # (count, order, entry)

    def add(self, entry: Mapping[str, Any]) -> None:
        self.kept.append((_count(entry, self.key), self.seen, entry))
        self.seen += 1
        if len(self.kept) > self.top:
            self.kept.remove(min(self.kept, key=lambda kept: (kept[0], -kept[1])))

    def entries(self) -> list[Mapping[str, Any]]:
        """The kept entries, then one empty stand-in for each dropped one (counted, ranked last)."""
        return [entry for _, _, entry in self.kept] + [{}] * (self.seen - len(self.kept))


class StatsReader:
    """Feed it the answer's bytes as they arrive; :meth:`document` is what the summary needs.

    The document has the top-level numbers, the first ``Aggregated`` row, the largest rows
    and errors, and stand-ins for the rest, so ``summarize_stats`` and the length checks on
    it give what they give on the whole answer.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._at = 0
        self._state = "start"
        self._key = ""
        self._ended = False
        self._wait_for = 0  # characters pending before a value is parsed again
        self._numbers: dict[str, Any] = {}
        self._total: Mapping[str, Any] | None = None
        self._lists = {name: _Largest(key, top) for name, (key, top) in _LISTS.items()}

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the answer.

        Raises:
            ValueError: not Locust's JSON object (StatsTooLargeError: an entry too large).
        """
        self._text = self._text[self._at :] + self._decoder.decode(chunk)
        self._at = 0
        self._advance()

    def document(self) -> dict[str, Any]:
        """The answer is complete: its summary's document.

        Raises:
            ValueError: the answer was not a whole JSON object.
        """
        self._text = self._text[self._at :] + self._decoder.decode(b"", final=True)
        self._at = 0
        self._ended = True
        self._advance()
        if self._state != "done" or self._text[self._at :].strip(_WHITESPACE):
            raise ValueError("not a whole JSON object")
        # The total first: summarize_stats takes the first row named so, as Locust's own.
        rows = [] if self._total is None else [self._total]
        rows += self._lists["stats"].entries()
        return {**self._numbers, "stats": rows, "errors": self._lists["errors"].entries()}

    # ----------------------------------------------------------------- the parse

    def _skip(self) -> str:
        """The next character that is not whitespace ("" when more must arrive first)."""
        text = self._text
        while self._at < len(text) and text[self._at] in _WHITESPACE:
            self._at += 1
        return text[self._at] if self._at < len(text) else ""

    def _value(self) -> tuple[bool, Any]:
        """(True, the next JSON value) once it has arrived whole; (False, None) until then."""
        pending = len(self._text) - self._at
        if pending < self._wait_for and pending <= ENTRY_LIMIT and not self._ended:
            return False, None
        try:
            value, end = _DECODER.raw_decode(self._text, self._at)
        except (ValueError, RecursionError):
            if self._ended:
                raise ValueError("not Locust's JSON") from None
            if pending > ENTRY_LIMIT:
                raise StatsTooLargeError(
                    f"an entry larger than {ENTRY_LIMIT // 1024} KiB"
                ) from None
            # Parsed again only once twice as much has arrived: a big entry in small chunks
            # costs a few parses, not one per chunk.
            self._wait_for = 2 * pending
            return False, None
        # A number may go on in the next chunk ("12" of "12.5"): it counts once it is followed
        # by something that cannot be part of it.
        rest = self._text[end : end + 1]
        if not self._ended and (rest == "" or (_is_number(value) and rest in _NUMBER_CHARS)):
            self._wait_for = pending + 1
            return False, None
        if end - self._at > ENTRY_LIMIT:
            raise StatsTooLargeError(f"an entry larger than {ENTRY_LIMIT // 1024} KiB")
        self._at, self._wait_for = end, 0
        return True, value

    def _advance(self) -> None:
        while True:
            char = self._skip()
            if not char:
                return
            state = self._state
            if state == "start":
                if char != "{":
                    raise ValueError("not a JSON object")
                self._at += 1
                self._state = "key"
            elif state in ("key", "next"):
                if char == "}":
                    self._at += 1
                    self._state = "done"
                    return
                if state == "next":
                    if char != ",":
                        raise ValueError("not a JSON object")
                    self._at += 1
                    self._state = "key"
                    continue
                whole, key = self._value()
                if not whole:
                    return
                if not isinstance(key, str):
                    raise ValueError("not a JSON object")
                self._key, self._state = key, "colon"
            elif state == "colon":
                if char != ":":
                    raise ValueError("not a JSON object")
                self._at += 1
                self._state = "value"
            elif state == "value":
                if char == "[" and self._key in self._lists:
                    self._at += 1
                    self._state = "first"
                    continue
                whole, value = self._value()
                if not whole:
                    return
                if self._key in _NUMBERS:
                    self._numbers[self._key] = value
                self._state = "next"
            elif state in ("first", "item", "more"):
                if char == "]" and state != "item":
                    self._at += 1
                    self._state = "next"
                    continue
                if state == "more":
                    if char != ",":
                        raise ValueError("not a JSON array")
                    self._at += 1
                    self._state = "item"
                    continue
                whole, entry = self._value()
                if not whole:
                    return
                self._entry(entry)
                self._state = "more"
            else:  # done: anything but whitespace after the object
                raise ValueError("more after the JSON object")

    def _entry(self, entry: Any) -> None:
        if not isinstance(entry, Mapping):
            return  # summarize_stats skips these too
        if self._key == "stats" and self._total is None and entry.get("name") in _TOTAL_NAMES:
            self._total = entry
            return
        self._lists[self._key].add(entry)
