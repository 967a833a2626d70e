"""``python -m release.version set X.Y.Z | check``: one version, in every file that copies it.

pyproject.toml's ``version`` is the single source: ``app.__version__`` reads it back from
the installed metadata, and the default injected finisher image and the images built here
follow ``app.__version__``. Some files cannot import anything and carry a copy: uv.lock (the
project's own entry; ``uv run --locked`` refuses a stale one), the chart's ``version`` and
``appVersion``, every tag of our images in the manifests (``image:`` references and
kustomize ``newTag``), the Dockerfile's default ``VERSION``, the install commands in the
README and docs/ that name the release, and CHANGELOG.md's newest section. ``set``
rewrites them all; ``check`` prints one line for each place that disagrees, and exits 1.
"""

import argparse
import datetime
import re
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import app

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

PYPROJECT = "pyproject.toml"
LOCKFILE = "uv.lock"
CHART = "manifests/chart/locust-finisher/Chart.yaml"
MANIFESTS = "manifests"
DOCKERFILE = "Dockerfile"
CHANGELOG = "CHANGELOG.md"
# Where users read install commands that name the current release.
DOCUMENTS = ("README.md", "docs/*.md", "examples/*")

# One string that is at once a PEP 440 version, a SemVer chart version and an image tag.
_RELEASE = re.compile(r"\d+\.\d+\.\d+")
_OUR_IMAGES = "ghcr.io/locust-finisher/"
_IMAGE_TAG = re.compile(
    re.escape(_OUR_IMAGES) + r"[a-z0-9][a-z0-9._/-]*:(?P<value>[A-Za-z0-9_][A-Za-z0-9_.-]*)"
)
_LOCKED_PROJECT = re.compile(
    r'^\[\[package\]\]\nname = "locust-finisher"\nversion = "(?P<value>[^"]*)"', re.MULTILINE
)
_CHART_FIELD = r'^{field}:[ \t]*"?(?P<value>[^"\s#]+)"?'
_DOCKERFILE_DEFAULT = re.compile(r"^ARG VERSION=(?P<value>\S+)", re.MULTILINE)
# Prose names releases only as X.Y.Z: an image, a release download, a pinned install
# (pipx/pip ``==``, uvx ``@``), a chart pulled with ``--version``.
_MENTIONS = (
    (
        re.compile(re.escape(_OUR_IMAGES) + r"[a-z0-9][a-z0-9._/-]*:(?P<value>\d+\.\d+\.\d+)\b"),
        "image tag",
    ),
    (re.compile(r"/releases/download/v(?P<value>\d+\.\d+\.\d+)/"), "release download"),
    (re.compile(r"\blocust-finisher(?:==|@)(?P<value>\d+\.\d+\.\d+)\b"), "pinned install"),
    (re.compile(r"--version[ =](?P<value>\d+\.\d+\.\d+)\b"), "pinned --version"),
)
_LIST_ITEM = re.compile(r"^(?P<indent>\s*)- ")
_NEW_TAG = re.compile(r'^\s*(?:- )?newTag:[ \t]*["\']?(?P<value>[^"\'\s#]+)')
_ITEM_NAME = re.compile(r'^\s*(?:- )?name:[ \t]*["\']?(?P<value>[^"\'\s#]+)')
_UNRELEASED = re.compile(r"^## \[Unreleased\][ \t]*$", re.MULTILINE)
_NEWEST_SECTION = re.compile(r"^## \[(?!Unreleased\])(?P<value>[^\]]+)\]", re.MULTILINE)


@dataclass(frozen=True)
class Place:
    """One copy of the version: where it is, what it is, and its characters in the file."""

    path: str
    line: int
    what: str
    value: str
    start: int
    end: int


class VersionError(Exception):
    """A file cannot be read or rewritten as a version holder; the message says which."""


def pyproject_version(root: Path) -> str:
    """The version every other place must carry."""
    project = tomllib.loads((root / PYPROJECT).read_text(encoding="utf-8")).get("project", {})
    found = project.get("version")
    if not isinstance(found, str):
        raise VersionError(f"{PYPROJECT}: no [project] version")
    return found


def find_places(root: Path) -> list[Place]:
    """Every copy of the version in the repository at ``root``, pyproject.toml's first."""
    places = [*_pyproject(root), *_matches(root, LOCKFILE, _LOCKED_PROJECT, "the project's entry")]
    for field in ("version", "appVersion"):
        pattern = re.compile(_CHART_FIELD.format(field=field), re.MULTILINE)
        places += _matches(root, CHART, pattern, f"chart {field}")
    for manifest in sorted((root / MANIFESTS).rglob("*.yaml")):
        relative = manifest.relative_to(root).as_posix()
        places += _matches(root, relative, _IMAGE_TAG, "image tag")
        places += _kustomize_new_tags(root, relative)
    places += _matches(root, DOCKERFILE, _DOCKERFILE_DEFAULT, "default VERSION")
    documents = sorted({path for pattern in DOCUMENTS for path in root.glob(pattern)})
    for document in [root / DOCKERFILE, *documents]:
        relative = document.relative_to(root).as_posix()
        for pattern, what in _MENTIONS:
            places += _matches(root, relative, pattern, what)
    places += _matches(root, CHANGELOG, _NEWEST_SECTION, "newest section")[:1]
    files = list(dict.fromkeys(place.path for place in places))
    return sorted(places, key=lambda place: (files.index(place.path), place.start))


def check(root: Path, installed: str | None = None) -> list[str]:
    """One line for each place that disagrees with pyproject.toml; none when all agree.

    ``installed`` is the running ``app.__version__``, when ``root`` is its own checkout.
    """
    expected = pyproject_version(root)
    places = find_places(root)
    problems = [
        f"{place.path}:{place.line}: {place.what} is {place.value}, {PYPROJECT} says {expected}"
        for place in places
        if place.value != expected
    ]
    for required, what in ((CHART, "chart version"), (CHANGELOG, "newest section")):
        if not any(place.path == required and place.what == what for place in places):
            problems.append(f"{required}: no {what} found")
    changelog = root / CHANGELOG
    if changelog.exists() and not _UNRELEASED.search(changelog.read_text(encoding="utf-8")):
        problems.append(f"{CHANGELOG}: no '## [Unreleased]' section for what is coming")
    if installed is not None and installed != expected:
        problems.append(
            f"app.__version__ is {installed} (installed metadata), {PYPROJECT} says "
            f"{expected}: reinstall the project (uv sync)"
        )
    return problems


def set_version(root: Path, version: str, today: datetime.date) -> list[str]:
    """Rewrite every place to ``version``; returns the files it changed."""
    if not _RELEASE.fullmatch(version):
        raise VersionError(f"{version!r} is not X.Y.Z (three numbers, e.g. 0.2.0)")
    current = pyproject_version(root)
    if _RELEASE.fullmatch(current) and _numbers(version) < _numbers(current):
        raise VersionError(f"{version} is older than the current {current}")
    changed: list[str] = []
    by_file: dict[str, list[Place]] = {}
    for place in find_places(root):
        if place.path != CHANGELOG:
            by_file.setdefault(place.path, []).append(place)
    for path, places in by_file.items():
        text = (root / path).read_text(encoding="utf-8")
        rewritten = text
        spans = {(place.start, place.end) for place in places}
        for start, end in sorted(spans, reverse=True):
            rewritten = rewritten[:start] + version + rewritten[end:]
        if rewritten != text:
            (root / path).write_text(rewritten, encoding="utf-8")
            changed.append(path)
    if _add_changelog_section(root, version, today):
        changed.append(CHANGELOG)
    return changed


def _pyproject(root: Path) -> list[Place]:
    text = (root / PYPROJECT).read_text(encoding="utf-8")
    table = re.search(r"^\[project\][ \t]*\n(?P<body>(?:(?!\[).*\n?)*)", text, re.MULTILINE)
    if table is None:
        raise VersionError(f"{PYPROJECT}: no [project] table")
    found = re.search(r'^version\s*=\s*"(?P<value>[^"]*)"', table["body"], re.MULTILINE)
    if found is None:
        raise VersionError(f"{PYPROJECT}: no [project] version")
    offset = table.start("body")
    return [_place(PYPROJECT, text, "project version", found, offset)]


def _matches(root: Path, path: str, pattern: re.Pattern[str], what: str) -> list[Place]:
    file = root / path
    if not file.exists():
        return []
    text = file.read_text(encoding="utf-8")
    return [_place(path, text, what, found) for found in pattern.finditer(text)]


def _kustomize_new_tags(root: Path, path: str) -> list[Place]:
    """``newTag`` of each kustomize ``images:`` entry that names one of our images."""
    text = (root / path).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    places = []
    for first, last in _list_items(lines):
        names = [_ITEM_NAME.match(line) for line in lines[first:last]]
        if not any(name and name["value"].startswith(_OUR_IMAGES) for name in names):
            continue
        for index in range(first, last):
            tag = _NEW_TAG.match(lines[index])
            if tag:
                span = (starts[index] + tag.start("value"), starts[index] + tag.end("value"))
                places.append(Place(path, index + 1, "kustomize newTag", tag["value"], *span))
    return places


def _list_items(lines: Sequence[str]) -> Iterator[tuple[int, int]]:
    """Each YAML list item as a [first, last) line range: its dash line and deeper lines."""
    for first, line in enumerate(lines):
        item = _LIST_ITEM.match(line)
        if item is None:
            continue
        indent = len(item["indent"])
        last = first + 1
        while last < len(lines) and (
            not lines[last].strip() or len(lines[last]) - len(lines[last].lstrip()) > indent
        ):
            last += 1
        yield first, last


def _add_changelog_section(root: Path, version: str, today: datetime.date) -> bool:
    """Open ``## [version] - today`` under Unreleased, which keeps nothing; False if it exists."""
    file = root / CHANGELOG
    text = file.read_text(encoding="utf-8")
    if re.search(rf"^## \[{re.escape(version)}\]", text, re.MULTILINE):
        return False
    unreleased = _UNRELEASED.search(text)
    if unreleased is None:
        raise VersionError(f"{CHANGELOG}: no '## [Unreleased]' section to release")
    heading = f"\n\n## [{version}] - {today.isoformat()}"
    file.write_text(text[: unreleased.end()] + heading + text[unreleased.end() :], encoding="utf-8")
    return True


def _place(path: str, text: str, what: str, found: re.Match[str], offset: int = 0) -> Place:
    start, end = offset + found.start("value"), offset + found.end("value")
    return Place(path, text.count("\n", 0, start) + 1, what, found["value"], start, end)


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``set`` or ``check``; exit 1 when places disagree, 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m release.version", description=__doc__)
    parser.add_argument("--root", type=Path, default=REPOSITORY_ROOT, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    setter = commands.add_parser("set", help="rewrite every place to a new version")
    setter.add_argument("version", help="X.Y.Z")
    commands.add_parser("check", help="name every place that disagrees with pyproject.toml")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    try:
        if args.command == "set":
            for path in set_version(root, args.version, datetime.date.today()):
                print(f"rewrote {path}")
        # The running interpreter's app is only this checkout's before a set rewrites it.
        own = args.command == "check" and root == REPOSITORY_ROOT
        problems = check(root, installed=app.__version__ if own else None)
    except (VersionError, OSError, tomllib.TOMLDecodeError) as error:
        print(f"release.version: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"version {pyproject_version(root)} agrees in {len(find_places(root))} places")
    return 0


if __name__ == "__main__":
    sys.exit(main())
