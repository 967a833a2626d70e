"""A test's kept runs as ``locust-finisher history`` shows them: a table, or one JSON document.

Newest first, one line a run, the numbers people compare runs by. Pure: entries in, text out.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

from app.core.history import HistoryEntry

COLUMNS = ("WHEN", "RESULT", "REASON", "REQUESTS", "FAIL %", "P95", "RPS", "USERS", "REVISION")
# A cell wider than this is cut: a table stays readable whatever a run's metadata says.
_CELL = 40


def newest_first(entries: Sequence[HistoryEntry], limit: int | None = None) -> list[HistoryEntry]:
    """The kept runs, newest first, at most ``limit``."""
    runs = list(reversed(entries))
    return runs if limit is None else runs[:limit]


def _number(numbers: Mapping[str, float], key: str, shown: str) -> str:
    value = numbers.get(key)
    return "-" if value is None else shown.format(value)


def _printable(text: str) -> str:
    """A cell of a run's own text: one line, printable, bounded."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return cleaned if len(cleaned) <= _CELL else cleaned[: _CELL - 3] + "..."


def _row(entry: HistoryEntry) -> tuple[str, ...]:
    numbers = entry["numbers"]
    users = entry["run"].get("users")
    return (
        _printable(entry["finishedAt"] or "-"),
        entry["result"],
        _printable(entry.get("reason", "") or "-"),
        _number(numbers, "requests", "{:.0f}"),
        "-" if "failRatio" not in numbers else f"{100 * numbers['failRatio']:.2f}",
        _number(numbers, "p95Ms", "{:g} ms"),
        _number(numbers, "rps", "{:.1f}"),
        "-" if users is None else str(users),
        _printable(entry["run"].get("revision", "") or "-"),
    )


def history_table(runs: Sequence[HistoryEntry]) -> str:
    """The runs as a table with a header, columns aligned (as given: newest first)."""
    rows = [COLUMNS, *map(_row, runs)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines) + "\n"


def history_document(
    namespace: str, test: str, runs: Sequence[HistoryEntry], counted: Mapping[str, int]
) -> str:
    """``history -o json``: the test, every run's count by result, the runs newest first."""
    document: dict[str, Any] = {
        "namespace": namespace,
        "test": test,
        "counts": dict(counted),
        "runs": list(runs),
    }
    return json.dumps(document, indent=2) + "\n"
