"""The host's Debian packages: one list, read by the set-up and by every check for a tool.

A fresh machine once failed ``make run`` after 21 minutes of builds on a tool (skopeo) that
the Makefile did not install. So the list in ``host-packages.mk`` is the only place that
names a package: the Makefile installs it, :func:`require` checks against it, and a command
the code asks for that the list does not bring is refused outright (:class:`UnlistedToolError`),
which the unit tests turn into a failure long before a machine is fresh.
"""

import shutil
from pathlib import Path

LIST = Path(__file__).resolve().parent / "host-packages.mk"
# A line of the list: ``HOST_PACKAGES += <package>  # <what is used from it>``.
_ROW = "HOST_PACKAGES +="


class MissingToolsError(RuntimeError):
    """Listed tools are not on this machine; the message says how to install them."""


class UnlistedToolError(KeyError):
    """The code asked for a tool that ``host-packages.mk`` does not install."""


def packages(listing: Path = LIST) -> dict[str, tuple[str, ...]]:
    """Each package and the commands (or absolute paths) the project uses from it."""
    found: dict[str, tuple[str, ...]] = {}
    for line in listing.read_text().splitlines():
        if line.startswith(_ROW):
            package, _, used = line.removeprefix(_ROW).partition("#")
            found[package.strip()] = tuple(used.split())
    return found


def package_of(tool: str) -> str:
    """The listed package that brings ``tool``.

    Raises:
        UnlistedToolError: no listed package brings it.
    """
    for package, tools in packages().items():
        if tool in tools:
            return package
    raise UnlistedToolError(f"{tool} is not in {LIST.name}: add the Debian package that brings it")


def present(tool: str) -> bool:
    """Whether ``tool`` (a command, or an absolute path) is on this machine."""
    return Path(tool).exists() if tool.startswith("/") else shutil.which(tool) is not None


def require(*tools: str) -> None:
    """Check that every tool is here.

    Raises:
        UnlistedToolError: a tool is not in the list (a mistake in the code, not the machine).
        MissingToolsError: naming what is missing and the one command that installs it.
    """
    wanted = {tool: package_of(tool) for tool in tools}
    missing = [tool for tool in tools if not present(tool)]
    if missing:
        names = " ".join(sorted({wanted[tool] for tool in missing}))
        raise MissingToolsError(
            f"missing {', '.join(missing)}: run `make setup` (apt-get install {names})"
        )


def every_tool() -> tuple[str, ...]:
    """Everything the list brings, in its order."""
    return tuple(tool for tools in packages().values() for tool in tools)
