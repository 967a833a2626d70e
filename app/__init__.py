"""locust-finisher: finish Locust load-test master pods on Kubernetes, keep their final numbers.

The version is written once, in pyproject.toml; every other place follows it (see
``python -m release.version``). Here it is read back from the installed distribution's
metadata, which also exists in the finisher image (the wheel installed without its
dependencies). A source tree that was put on ``sys.path`` without being installed has no
metadata, so it reads pyproject.toml beside this package instead.

Standard library only: every program imports this, the in-pod finisher included, so the
version is read only when first asked for.
"""

DISTRIBUTION = "locust-finisher"

# Neither installed nor in a source tree: a PEP 440 version that is also a valid image tag,
# so a broken install still produces a reference a user can read and recognise.
UNKNOWN_VERSION = "0.0.0.dev0"


def _source_tree_version() -> str:
    import tomllib  # only a source tree pays for it
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return UNKNOWN_VERSION
    if project.get("name") != DISTRIBUTION or not isinstance(project.get("version"), str):
        return UNKNOWN_VERSION
    return str(project["version"])


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return _source_tree_version()


def __getattr__(name: str) -> str:
    """``__version__``, read on first use and kept.

    Lazily, because importlib.metadata costs megabytes, and the finisher's supervisor, which
    lives as long as the test pod, imports this package but never needs the version.
    """
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    version = _version()
    globals()["__version__"] = version
    return version
