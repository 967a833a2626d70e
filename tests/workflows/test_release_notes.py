"""`python -m release.release_notes`: the GitHub release's notes come from CHANGELOG.md."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from release.release_notes import MissingNotesError, section

ROOT = Path(__file__).resolve().parents[2]

CHANGELOG = """\
# Changelog

## [Unreleased]

### Added

- Something coming.

## [0.2.0] - 2027-01-15

### Fixed

- The second release's fix.

## [0.1.0] - 2026-11-30

The first version.

[Unreleased]: https://github.com/locust-finisher/locust-finisher/compare/v0.2.0...HEAD
[0.2.0]: https://github.com/locust-finisher/locust-finisher/compare/v0.1.0...v0.2.0
"""


def test_prints_only_the_versions_section() -> None:
    assert section(CHANGELOG, "v0.2.0") == "### Fixed\n\n- The second release's fix.\n"


def test_the_last_section_stops_at_the_link_definitions() -> None:
    assert section(CHANGELOG, "0.1.0") == "The first version.\n"


def test_a_version_without_a_section_is_refused() -> None:
    with pytest.raises(MissingNotesError, match=r"\[0\.3\.0\]"):
        section(CHANGELOG, "v0.3.0")


def test_an_empty_section_is_refused() -> None:
    with pytest.raises(MissingNotesError, match="empty"):
        section("## [0.4.0] - 2027-03-01\n\n## [0.3.0] - 2027-02-01\n- x\n", "v0.4.0")


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "release.release_notes", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_missing_notes_fail_with_one_line(tmp_path: Path) -> None:
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG)
    result = _run("v0.3.0", "--changelog", str(changelog))
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "0.3.0" in result.stderr


def test_the_changelog_has_notes_for_the_current_version() -> None:
    """A release of what pyproject.toml says would have its notes."""
    with (ROOT / "pyproject.toml").open("rb") as pyproject:
        version = tomllib.load(pyproject)["project"]["version"]
    result = _run(f"v{version}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
