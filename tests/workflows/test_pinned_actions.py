"""Every action a workflow (or the docs' recipe) uses is pinned by commit, with its version.

A tag can be moved to other code after review; a full commit SHA cannot. The comment keeps
the pin readable and lets update tools bump it.
"""

import re

from release.lint_workflows import every_workflow
from tests.workflows.docs_recipes import code_block

PINNED = re.compile(r"^\s*(-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")


def _uses_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]


def test_every_uses_is_a_commit_sha_with_a_version_comment() -> None:
    sources = {path.name: path.read_text(encoding="utf-8") for path in every_workflow()}
    sources["docs/ci.md"] = code_block("GitHub Actions", "yaml")
    uses = [(name, line) for name, text in sources.items() for line in _uses_lines(text)]
    assert len(uses) > 10
    unpinned = [f"{name}: {line.strip()}" for name, line in uses if not PINNED.match(line)]
    assert unpinned == []


def test_a_tag_reference_is_not_a_pin() -> None:
    assert not PINNED.match("      - uses: actions/checkout@v7.0.1")
    assert not PINNED.match(
        "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
    )
