"""Markdown that a user's text cannot break: escaped cells, rows and tables.

Shared by every Markdown page (app/core/results.py for ``wait``, app/core/compare_outputs.py
for comparisons), since request names, errors and run metadata come from a user's test.
"""

import re
from typing import Any

# Markdown punctuation that could start a link, emphasis, code, HTML or a table cell in a
# value that comes from a user's test (a request name, an error).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


def text(value: Any) -> str:
    """A value as text; None as nothing."""
    return "" if value is None else str(value)


def md(value: Any) -> str:
    """A value on one line, with Markdown's punctuation escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text(value).split()))


def md_row(*cells: Any) -> str:
    """One table row of escaped cells."""
    return "| " + " | ".join(md(cell) for cell in cells) + " |"


def md_table(header: tuple[str, ...], align: str, rows: list[str]) -> list[str]:
    """A table: its header, the alignment row, ``rows`` and a blank line."""
    return [md_row(*header), "|" + "|".join(align for _ in header) + "|", *rows, ""]
