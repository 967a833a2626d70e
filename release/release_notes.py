"""Print one version's section of CHANGELOG.md: the notes of its GitHub release.

The changelog is the one place release notes are written; the release workflow copies the
tag's section from it, and refuses to release a version the changelog says nothing about:

    python -m release.release_notes v0.2.0 [--changelog PATH]

Standard library only: the release workflow runs it with the runner's own Python.
"""

import argparse
import re
import sys
from pathlib import Path

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"

# Keep a Changelog's link definitions ("[0.1.0]: https://...") close the last section.
_LINK_DEFINITION = re.compile(r"^\[[^\]]+\]:\s")


class MissingNotesError(Exception):
    """The changelog has no notes for the version."""


def _heading_version(line: str) -> str | None:
    """``0.1.0`` for ``## [0.1.0] - 2026-11-30`` (brackets optional), else None."""
    match = re.match(r"^##\s+\[?v?([^\]\s]+)\]?(\s|$)", line)
    return match.group(1) if match else None


def section(changelog: str, version: str) -> str:
    """The body of ``version``'s section (without its heading), trimmed of blank lines."""
    wanted = version.removeprefix("v")
    lines = changelog.splitlines()
    starts = [i for i, line in enumerate(lines) if _heading_version(line) == wanted]
    if not starts:
        raise MissingNotesError(f"no section '## [{wanted}] - YYYY-MM-DD' for {version}")
    body: list[str] = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("## ") or _LINK_DEFINITION.match(line):
            break
        body.append(line)
    text = "\n".join(body).strip("\n")
    if not text.strip():
        raise MissingNotesError(f"the section of {wanted} is empty")
    return text + "\n"


def main(arguments: list[str]) -> int:
    """Print the notes, or one line on stderr and exit 1 when there are none."""
    parser = argparse.ArgumentParser(
        prog="python -m release.release_notes", description=__doc__.splitlines()[0]
    )
    parser.add_argument("version", help="the release's tag or version, e.g. v0.2.0")
    parser.add_argument("--changelog", type=Path, default=CHANGELOG)
    options = parser.parse_args(arguments)
    try:
        notes = section(options.changelog.read_text(encoding="utf-8"), options.version)
    except FileNotFoundError:
        print(f"{options.changelog}: does not exist", file=sys.stderr)
        return 1
    except MissingNotesError as missing:
        print(f"{options.changelog}: {missing}", file=sys.stderr)
        return 1
    sys.stdout.write(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
