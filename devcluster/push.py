"""``make push REGISTRY=...``: our two images, built here, in a registry of your own.

Until the first release nothing is published, so installing from a checkout means running
images you built and pushed yourself. They are built as ``make images`` builds them (buildah,
offline, into docker-archive tars in the cache; only our two and their bases, when missing)
and copied with skopeo, one of the set-up's Debian packages, so no Docker daemon is needed:
``REGISTRY/locust-finisher:VERSION`` and ``REGISTRY/finisher:VERSION``, the tag the chart
and the kustomize base install. skopeo logs in as ``skopeo login`` or ``docker login`` left
it. A registry on loopback is spoken to over plain HTTP, as Docker does; any other only over
verified TLS.

    python -m devcluster.push --arch amd64 registry.example.com/platform
"""

import argparse
import ipaddress
import re
import sys
import tempfile
from pathlib import Path

from devcluster.host_tools import MissingToolsError, require
from devcluster.images import (
    AMD64,
    ARCHES,
    ImageArchive,
    ImageBuildError,
    ensure_our_images,
    run_step,
)

# host[:port]/path, as an image reference starts: lower case, no tag, no scheme.
_REGISTRY = re.compile(
    r"(?P<host>[a-z0-9.-]+|\[[0-9a-f:]+\])(?::[0-9]{1,5})?"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


def on_loopback(registry: str) -> bool:
    """Whether ``registry`` (``host[:port][/path]``) names this machine's loopback."""
    match = _REGISTRY.fullmatch(registry)
    host = match["host"].strip("[]") if match else ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def destination(registry: str, archive: ImageArchive) -> str:
    """Where an archive goes: its repository's last part and tag under ``registry``."""
    return f"{registry}/{archive.references[0].rpartition('/')[2]}"


def check_registry(registry: str) -> None:
    """Refuse, before any build, what cannot start an image reference."""
    if not _REGISTRY.fullmatch(registry):
        raise ImageBuildError(
            f"REGISTRY={registry!r} is not host[:port]/path in lower case,"
            " e.g. registry.example.com/platform"
        )


def push(registry: str, archives: list[ImageArchive]) -> list[str]:
    """Copy each archive to ``registry``; each pushed reference with its manifest's digest."""
    check_registry(registry)
    tls = "false" if on_loopback(registry) else "true"
    pushed = []
    with tempfile.TemporaryDirectory(prefix="locust-finisher-push-") as scratch:
        digest_file = Path(scratch) / "digest"
        for archive in archives:
            target = destination(registry, archive)
            run_step(
                [
                    "skopeo",
                    "copy",
                    "--quiet",
                    f"--dest-tls-verify={tls}",
                    f"--digestfile={digest_file}",
                    f"docker-archive:{archive.path}",
                    f"docker://{target}",
                ],
                what=f"skopeo copy to {target}",
            )
            pushed.append(f"{target}@{digest_file.read_text().strip()}")
    return pushed


def main() -> int:
    """Build what is missing, push, and print each pushed reference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--arch", choices=sorted(ARCHES), default=AMD64.name)
    parser.add_argument("registry", help="host[:port]/path, e.g. registry.example.com/platform")
    options = parser.parse_args()
    try:
        check_registry(options.registry)
        require("skopeo")
        for reference in push(options.registry, ensure_our_images(ARCHES[options.arch])):
            print(reference)
    except (ImageBuildError, MissingToolsError) as error:
        print(f"[devcluster push] error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
