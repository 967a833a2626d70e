"""Build, with no registry, the OCI images the local cluster's real node runs.

The node is a real kubelet with containerd, so every container needs an image, and the
machine this runs on has no registry and may reach nothing but package mirrors. So each
image is built here: pause from Kubernetes' own C source, two Debian bases made with
mmdebstrap (standing in for ``python:3.11-slim-bookworm`` and for distroless's
``python3-debian12``), Locust from PyPI, our two images from the project's Dockerfile with
``buildah bud`` (its ``app`` and ``finisher`` targets), and the exporter stand-in, the load
target and CoreDNS packaged on top. Each is saved as a ``docker-archive`` tar, whose
RepoTags make ``ctr -n k8s.io images import`` name it exactly as manifests do.

The tars live in the cache outside the repository (``<cache>/images``), each named after a
key over everything it is built from, so a warm machine builds nothing. buildah keeps a
private storage there too: never ``/var/lib/containers``, which belongs to whoever else
uses buildah or podman on the machine. The repository is only ever read.

Our two images can also be built for arm64 (``--arch arm64``), as a release publishes them:
the Debian bases from arm64 packages (``mmdebstrap --arch=arm64``) and the Dockerfile's RUN
steps under qemu-user, which binfmt_misc hands every aarch64 program to. They get their own
directory, storage and lock (``<cache>/images/arm64``): a slow emulated build never holds up
the node's images, and the default build is what it was, amd64 and every image.

    python -m devcluster.images      # builds what is missing; lists every archive and size
    python -m devcluster.images --arch arm64 --check   # ours for arm64, then their --version
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import app
from app.core import names
from devcluster.build import cache_root, ensure_binaries, pause_source
from devcluster.host_tools import MissingToolsError, require

_REPO = Path(__file__).resolve().parent.parent
_PEERS = Path(__file__).resolve().parent / "peers"


@dataclass(frozen=True)
class Arch:
    """A machine architecture images are built for, as Debian, OCI and the kernel name it."""

    name: str  # Debian's and OCI's: "amd64"
    triplet: str  # Debian's multiarch directory: "x86_64-linux-gnu"
    elf_machine: int  # e_machine of its ELF programs: what proves an image's binaries are its
    machine: str  # what platform.machine() says on it
    binfmt: str = ""  # foreign: qemu-user-static's binfmt_misc entry, which runs its programs

    @property
    def platform(self) -> str:
        """The OCI platform: buildah's --platform and the image config's architecture."""
        return f"linux/{self.name}"


# The machine the node runs on, and what pause and CoreDNS are compiled for by its compilers.
AMD64 = Arch("amd64", "x86_64-linux-gnu", 62, "x86_64")
ARM64 = Arch("arm64", "aarch64-linux-gnu", 183, "aarch64", binfmt="qemu-aarch64")
ARCHES = {arch.name: arch for arch in (AMD64, ARM64)}
_PLATFORM = AMD64.platform
_BINFMT = Path("/proc/sys/fs/binfmt_misc")
# The machine intercepts TLS: pip and uv inside a build must trust the host's bundle, which
# holds the proxy's CA. It is bind-mounted over the image's own bundle for RUN steps only,
# so no image carries it.
_HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# What building the images runs on the host (devcluster/host-packages.mk installs it).
_BUILD_TOOLS = (
    "buildah",
    "skopeo",
    "mmdebstrap",
    "gcc",
    "strip",
    "/usr/include/stdio.h",
    str(_HOST_CA),
)
# And for a foreign architecture: the emulator, what registers it with binfmt_misc, and what
# mmdebstrap asks whether it works.
_EMULATION_TOOLS = ("qemu-aarch64-static", "update-binfmts", "arch-test")
_CA_VOLUME = f"{_HOST_CA}:{_HOST_CA}:ro"

PAUSE_VERSION = "3.10.2"
LOCUST_VERSION = "2.47.0"
COREDNS_VERSION = "v1.15.0"
EXPORTER_VERSIONS = ("v0.5.0", "v0.5.2")

PAUSE_IMAGE = f"registry.k8s.io/pause:{PAUSE_VERSION}"
BASE_IMAGE = "localhost/locust-finisher/debian-python:3.11-bookworm"
LOCUST_IMAGE = f"docker.io/locustio/locust:{LOCUST_VERSION}"
HTTP_TARGET_IMAGE = "locust-finisher.local/http-target:1"
COREDNS_IMAGE = f"registry.k8s.io/coredns/coredns:{COREDNS_VERSION}"

# Kubernetes' build/pause/Makefile flags; its VERSION is a git describe we do not have.
_PAUSE_CFLAGS = ("-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{PAUSE_VERSION}-local")
# The host's apt sources, spelled out so that they are part of the base's key.
_DEBIAN_SOURCES = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
_DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# The finisher's base: the interpreter and its standard library, with what they link.
_BARE_PYTHON_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib")
# Like the slim images: no documentation, manual pages or translations (licences stay).
_SLIM_PATHS = (
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
)
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SCRIPTS = "/usr/local/lib/locust-finisher"
# Superseded archives kept per image, so switching branches back and forth stays warm.
_KEEP_OLD_ARCHIVES = 2


class ImageBuildError(RuntimeError):
    """A build step failed; the message is one line, ``output`` has everything it printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class ImageArchive:
    """One built image: the references to import it under, and its docker-archive tar."""

    references: tuple[str, ...]  # fully qualified, e.g. "docker.io/locustio/locust:2.47.0"
    path: Path


def _say(message: str) -> None:
    print(f"[devcluster images] {message}", file=sys.stderr, flush=True)


def _tail(output: str, limit: int = 400) -> str:
    """The gist of a failure: its last error lines (a RUN step's, then buildah's), else its end."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"error|fatal", line, re.IGNORECASE)]
    return " | ".join(errors[-2:] or lines[-3:])[-limit:]


def run_step(
    argv: Sequence[str | Path], env: Mapping[str, str] | None = None, what: str = ""
) -> str:
    """Run one build command; fail with a one-line error naming it (``what``) and its gist."""
    command = [str(word) for word in argv]
    what = what or " ".join(command[:2])
    try:
        done = subprocess.run(
            command,
            check=True,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            # Nothing here reads input; mmdebstrap would otherwise read apt sources from it.
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as error:
        raise ImageBuildError(f"{command[0]} is not installed") from error
    except subprocess.CalledProcessError as error:
        output = f"$ {' '.join(command)}\n{error.stdout}\n{error.stderr}"
        raise ImageBuildError(
            f"{what} failed (exit {error.returncode}): {_tail(error.stdout + error.stderr)}",
            output,
        ) from error
    return done.stdout


@dataclass(frozen=True)
class _Store:
    """Our private buildah storage, and the temporary directory builds use."""

    directory: Path

    @property
    def tmp(self) -> Path:
        """TMPDIR for every tool: buildah also keeps its RUN cache mounts (uv's) there."""
        return self.directory / "tmp"

    @property
    def env(self) -> dict[str, str]:
        """The environment build tools run with."""
        return {**os.environ, "TMPDIR": str(self.tmp)}

    def buildah(self, *args: str | Path) -> str:
        """Run buildah against this storage."""
        return run_step(
            [
                "buildah",
                "--root",
                self.directory / "root",
                "--runroot",
                self.directory / "runroot",
                "--storage-driver",
                "overlay",
                *args,
            ],
            self.env,
            what=f"buildah {args[0]}",
        )

    def reference(self, tag: str) -> str:
        """``tag`` in this storage, as skopeo names it."""
        root, runroot = self.directory / "root", self.directory / "runroot"
        return f"containers-storage:[overlay@{root}+{runroot}]{tag}"

    def image_names(self) -> dict[str, list[str]]:
        """Every stored image's ID and names (none for intermediate images)."""
        listed = json.loads(self.buildah("images", "--all", "--json") or "[]")
        return {entry["id"]: list(entry.get("names") or []) for entry in listed}

    def remove_containers(self) -> None:
        """Remove every working container: with the lock held, any left is from a failed build."""
        self.buildah("rm", "--all")


@dataclass(frozen=True)
class _Image:
    """How to make one image, and the key of everything it is made from."""

    name: str  # short: the archive's file name and progress lines
    references: tuple[str, ...]  # what the archive is imported as
    key: str
    build: Callable[[_Store, Path, str], None]  # (storage, scratch dir, tag to build)
    bases: tuple["_Image", ...] = ()  # images its Containerfile starts FROM
    for_node: bool = True  # False: only a step towards another image
    hint: str = ""  # how long a cold build takes, for the progress line

    @property
    def tag(self) -> str:
        """Its name in our storage: pinned to the key, so a FROM never finds a stale base."""
        return f"localhost/locust-finisher/build/{self.name}:{self.key}"

    def archive(self, directory: Path) -> Path:
        """Where its docker-archive tar lives."""
        return directory / f"{self.name}-{self.key}.tar"


def _key(*parts: str | bytes | Path) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            part = _file_digest(part)
        data = part.encode() if isinstance(part, str) else part
        # Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:12]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tree_files(directory: Path) -> Iterator[Path]:
    """Every file under ``directory`` the build context carries, in a stable order."""
    for path in sorted(directory.rglob("*")):
        # .dockerignore drops bytecode caches, and running the code rewrites them.
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


# ---- how each kind of image is built ------------------------------------------------------


def _bud(
    store: _Store,
    tag: str,
    containerfile: Path,
    context: Path,
    build_args: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    target: str = "",
    platform: str = _PLATFORM,
) -> None:
    """``buildah bud`` without a registry, without daemons, without touching the context.

    A multi-target Containerfile keeps its layers, so that its targets share their stages;
    for the rest the archive cache is the layer cache.
    """
    arguments = [f"--build-arg={name}={value}" for name, value in (build_args or {}).items()]
    arguments += [f"--label={name}={value}" for name, value in (labels or {}).items()]
    arguments += [f"--target={target}", "--layers=true"] if target else ["--layers=false"]
    store.buildah(
        "bud",
        # RUN steps in a chroot on the host's network: no OCI runtime, no CNI network to set up.
        "--isolation=chroot",
        "--pull=never",
        "--force-rm",
        f"--platform={platform}",
        f"--volume={_CA_VOLUME}",
        *arguments,
        f"--tag={tag}",
        f"--file={containerfile}",
        context,
    )


def _containerfile_build(
    containerfile: str, files: Mapping[str, Path]
) -> Callable[[_Store, Path, str], None]:
    """A build from generated Containerfile text and a context of copied files."""

    def build(store: _Store, scratch: Path, tag: str) -> None:
        context = scratch / "context"
        context.mkdir()
        for name, source in files.items():
            shutil.copy(source, context / name)
        (scratch / "Containerfile").write_text(containerfile)
        _bud(store, tag, scratch / "Containerfile", context)

    return build


def _generated(
    name: str,
    references: tuple[str, ...],
    containerfile: str,
    files: Mapping[str, Path] | None = None,
    bases: tuple[_Image, ...] = (),
    for_node: bool = True,
) -> _Image:
    """An image from Containerfile text and files, keyed by both.

    Its bases' keys are covered too: the text names each base by its tag, which holds its key.
    """
    files = dict(files or {})
    parts: list[str | bytes | Path] = [name, *references, containerfile]
    for file_name, source in sorted(files.items()):
        parts += [file_name, source]
    return _Image(
        name,
        references,
        _key(*parts),
        _containerfile_build(containerfile, files),
        bases,
        for_node,
    )


def _labels(description: str) -> str:
    return (
        f'LABEL org.opencontainers.image.description="{description}" '
        'org.opencontainers.image.vendor="locust-finisher devcluster (built locally)"\n'
    )


def _gcc_version() -> str:
    return run_step(["gcc", "--version"]).splitlines()[0]


def _static_binary(name: str, description: str, settings: str) -> str:
    """A Containerfile for one static binary ``name`` at ``/name``, its entrypoint."""
    return (
        f"FROM scratch\nCOPY {name} /{name}\n"
        + _labels(description)
        + settings
        + f'ENTRYPOINT ["/{name}"]\n'
    )


def _pause(source: Path) -> _Image:
    containerfile = _static_binary(
        "pause",
        f"Kubernetes' pause {PAUSE_VERSION}, compiled locally from build/pause",
        "USER 65535:65535\n",
    )

    def build(store: _Store, scratch: Path, tag: str) -> None:
        context = scratch / "context"
        context.mkdir()
        binary = context / "pause"
        run_step(["gcc", *_PAUSE_CFLAGS, "-o", binary, source])
        run_step(["strip", binary])
        (scratch / "Containerfile").write_text(containerfile)
        _bud(store, tag, scratch / "Containerfile", context)

    key = _key("pause", PAUSE_IMAGE, containerfile, source, *_PAUSE_CFLAGS, _gcc_version())
    return _Image("pause", (PAUSE_IMAGE,), key, build, hint="seconds")


def _suffix(arch: Arch) -> str:
    """What an image's name adds for its architecture: nothing for the node's own."""
    return "" if arch == AMD64 else f"-{arch.name}"


def _mmdebstrap_command(
    rootfs: Path, arch: Arch, variant: str, packages: tuple[str, ...], *extra: str
) -> list[str]:
    # The node's own architecture is mmdebstrap's default, the host's; naming only a foreign
    # one keeps the amd64 bases' keys, so a warm machine stays warm.
    foreign = [f"--arch={arch.name}"] if arch != AMD64 else []
    return [
        "mmdebstrap",
        f"--variant={variant}",
        *foreign,
        f"--include={','.join(packages)}",
        *_SLIM_PATHS,
        *extra,
        "bookworm",
        str(rootfs),
        *_DEBIAN_SOURCES,
    ]


def _base_command(rootfs: Path, arch: Arch) -> list[str]:
    # A foreign architecture's maintainer scripts run under qemu-user (see _ensure_emulation).
    clean_apt = '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin'
    return _mmdebstrap_command(rootfs, arch, "apt", _DEBIAN_PACKAGES, clean_apt)


def _bare_command(rootfs: Path, arch: Arch) -> list[str]:
    # iconv's modules: Python's codecs are its own.
    no_iconv = f"--dpkgopt=path-exclude=/usr/lib/{arch.triplet}/gconv/*"
    return _mmdebstrap_command(rootfs, arch, "extract", _BARE_PYTHON_PACKAGES, no_iconv)


def _rootfs_image(
    name: str,
    key_name: str,
    references: tuple[str, ...],
    command: Callable[[Path, Arch], list[str]],
    description: str,
    settings: str,
    for_node: bool,
    hint: str,
    arch: Arch,
) -> _Image:
    """An image of one root filesystem made by mmdebstrap from Debian's packages."""
    containerfile = (
        "FROM scratch\n"
        "ADD rootfs.tar /\n"
        f"ENV PATH={_PATH} LANG=C.UTF-8\n" + _labels(description) + settings
    )

    def build(store: _Store, scratch: Path, tag: str) -> None:
        context = scratch / "context"
        context.mkdir()
        rootfs = context / "rootfs.tar"
        run_step(command(rootfs, arch), store.env)
        # mmdebstrap's tar carries device nodes, which buildah cannot create from a tar.
        run_step(["tar", "--delete", "-f", rootfs, "--wildcards", "./dev/?*"])
        (scratch / "Containerfile").write_text(containerfile)
        _bud(store, tag, scratch / "Containerfile", context, platform=arch.platform)

    key = _key(key_name, *references, containerfile, *command(Path("rootfs.tar"), arch))
    return _Image(name + _suffix(arch), references, key, build, for_node=for_node, hint=hint)


def _base(arch: Arch = AMD64) -> _Image:
    return _rootfs_image(
        "debian-python",
        "base",
        (BASE_IMAGE, "docker.io/library/python:3.11-slim-bookworm"),
        _base_command,
        "Debian bookworm with python3 3.11 (mmdebstrap); stands in for"
        " python:3.11-slim-bookworm, with Debian's /usr/bin/python3",
        'CMD ["python3"]\n',
        for_node=True,
        hint="about 1.5 min" if arch == AMD64 else "about 11 min: dpkg under qemu",
        arch=arch,
    )


def _finisher_base(arch: Arch = AMD64) -> _Image:
    """Debian's bare Python, as distroless builds it: packages extracted, nothing installed.

    Stands in for ``gcr.io/distroless/python3-debian12:nonroot``: Debian's ``/usr/bin/python3.11``
    with its standard library and the shared libraries it links, and no shell, package
    manager or certificates. The finisher image is this plus our wheel.
    """
    return _rootfs_image(
        "debian-python-bare",
        "finisher-base",
        ("localhost/locust-finisher/debian-python-bare:3.11-bookworm",),
        _bare_command,
        "Debian bookworm's python3.11, extracted without a package manager (mmdebstrap"
        " --variant=extract); stands in for gcr.io/distroless/python3-debian12:nonroot",
        'USER 65532:65532\nENTRYPOINT ["/usr/bin/python3.11"]\n',
        for_node=False,
        hint="seconds",
        arch=arch,
    )


def _locust(base: _Image) -> _Image:
    # As the official image: a venv on PATH, user `locust` (uid 1000) by name, so that a pod
    # with runAsNonRoot must name a uid, as it must on a real cluster.
    containerfile = (
        f"FROM {base.tag}\n"
        "RUN python3 -m venv /opt/venv \\\n"
        f" && PIP_CERT={_HOST_CA} /opt/venv/bin/pip install --no-cache-dir"
        f" --disable-pip-version-check locust=={LOCUST_VERSION} \\\n"
        " && useradd --create-home --uid 1000 --shell /bin/bash locust\n"
        f"ENV PATH=/opt/venv/bin:{_PATH} PYTHONUNBUFFERED=1\n"
        + _labels(
            f"Locust {LOCUST_VERSION} from PyPI on the local Debian base; stands in for"
            f" locustio/locust:{LOCUST_VERSION}"
        )
        + "EXPOSE 8089 5557\n"
        "USER locust\n"
        "WORKDIR /home/locust\n"
        'ENTRYPOINT ["locust"]\n'
    )
    return _generated("locust", (LOCUST_IMAGE,), containerfile, bases=(base,))


def _exporter(base: _Image) -> _Image:
    real = os.environ.get("LOCUST_EXPORTER_BIN")
    if real:
        return _real_exporter(base, Path(real))
    # The real image is FROM scratch with EXPOSE 9646, USER 1000 and no environment; the
    # script reads LOCUST_EXPORTER_URI and friends itself, with the real defaults.
    script = f"{_SCRIPTS}/exporter_standin.py"
    containerfile = (
        f"FROM {base.tag}\n"
        f"COPY exporter_standin.py {script}\n"
        "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n"
        + _labels(
            "STAND-IN for containersol/locust_exporter v0.5.x: devcluster/peers/"
            "exporter_standin.py, not the real exporter"
        )
        + "LABEL io.locust-finisher.stand-in=containersol/locust_exporter\n"
        "EXPOSE 9646\n"
        "USER 1000\n"
        f'ENTRYPOINT ["python3", "{script}"]\n'
    )
    references = tuple(
        f"docker.io/containersol/locust_exporter:{version}" for version in EXPORTER_VERSIONS
    )
    files = {"exporter_standin.py": _PEERS / "exporter_standin.py"}
    return _generated("locust-exporter-standin", references, containerfile, files, (base,))


def _real_exporter(base: _Image, binary: Path) -> _Image:
    """The real locust_exporter, from a binary built elsewhere ($LOCUST_EXPORTER_BIN)."""
    containerfile = (
        f"FROM {base.tag}\n"
        "COPY locust_exporter /bin/locust_exporter\n"
        + _labels("containersol/locust_exporter built from its source ($LOCUST_EXPORTER_BIN)")
        + "EXPOSE 9646\n"
        "USER 1000\n"
        'ENTRYPOINT ["/bin/locust_exporter"]\n'
    )
    references = tuple(
        f"docker.io/containersol/locust_exporter:{version}" for version in EXPORTER_VERSIONS
    )
    files = {"locust_exporter": binary}
    return _generated("locust-exporter", references, containerfile, files, (base,))


def _http_target(base: _Image) -> _Image:
    script = f"{_SCRIPTS}/http_target.py"
    containerfile = (
        f"FROM {base.tag}\n"
        f"COPY http_target.py {script}\n"
        "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PORT=8080\n"
        + _labels("The devcluster load target: devcluster/peers/http_target.py")
        + "EXPOSE 8080\n"
        "USER 1000\n"
        f'ENTRYPOINT ["python3", "{script}"]\n'
    )
    files = {"http_target.py": _PEERS / "http_target.py"}
    return _generated("http-target", (HTTP_TARGET_IMAGE,), containerfile, files, (base,))


def _coredns(binary: Path) -> _Image:
    # Root, unlike the official nonroot image: that one relies on a file capability on the
    # binary to bind port 53, which a plain COPY does not carry.
    containerfile = _static_binary(
        "coredns",
        f"CoreDNS {COREDNS_VERSION}, built locally from its Go module",
        "EXPOSE 53 53/udp\n",
    )
    return _generated("coredns", (COREDNS_IMAGE,), containerfile, {"coredns": binary})


# What the Dockerfile's build reads: its COPY and bind mounts, and what .dockerignore keeps.
_APP_INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "uv.lock", "README.md", "LICENSE")


@dataclass(frozen=True)
class _Target:
    """One build target of the project's Dockerfile, and the image it is published as."""

    name: str  # the Dockerfile's target, and the archive's name
    repository: str
    description: str


_TARGETS = (
    _Target(
        "finisher",
        names.FINISHER_IMAGE_REPOSITORY,
        "the in-pod finisher, built locally from the project's Dockerfile on the bare Debian base",
    ),
    _Target(
        "app",
        names.IMAGE_REPOSITORY,
        "locust-finisher, built locally from the project's Dockerfile on the local Debian base",
    ),
)


def _app(target: _Target, base: _Image, finisher_base: _Image, arch: Arch = AMD64) -> _Image:
    """One of our images, from the project's Dockerfile: the repository is its read-only context."""
    build_args = {
        "BASE_IMAGE": base.tag,
        "FINISHER_BASE_IMAGE": finisher_base.tag,
        "VERSION": app.__version__,
        "REVISION": "local",
    }
    # Else it would inherit the base's description, which says it is a stand-in.
    labels = {"org.opencontainers.image.description": target.description}

    def build(store: _Store, scratch: Path, tag: str) -> None:
        # With layers, the second target reuses the builder stage the first one made.
        _bud(
            store, tag, _REPO / "Dockerfile", _REPO, build_args, labels, target.name, arch.platform
        )

    reference = f"{target.repository}:{app.__version__}"
    parts: list[str | bytes | Path] = [target.name, reference, *build_args.values()]
    parts += [*labels.values()]
    for name in _APP_INPUTS:
        parts += [name, _REPO / name]
    for path in _tree_files(_REPO / "app"):
        parts += [str(path.relative_to(_REPO)), path]
    return _Image(
        f"locust-finisher-{target.name}{_suffix(arch)}",
        (reference,),
        _key(*parts),
        build,
        (base, finisher_base),
        # Under qemu the builder stage takes about 5 min; the second target reuses it.
        hint="about 1 min" if arch == AMD64 else "about 5 min under qemu, or seconds",
    )


def _plan(coredns_binary: Path, pause_c: Path) -> list[_Image]:
    """Every image, each after the images it is built FROM."""
    base = _base()
    finisher_base = _finisher_base()
    return [
        _pause(pause_c),
        base,
        finisher_base,
        _locust(base),
        _exporter(base),
        _http_target(base),
        _coredns(coredns_binary),
        *(_app(target, base, finisher_base) for target in _TARGETS),
    ]


def _plan_ours(arch: Arch) -> list[_Image]:
    """Our two images for ``arch``, after their bases: what a release publishes for it."""
    base = _base(arch)
    finisher_base = _finisher_base(arch)
    return [base, finisher_base, *(_app(target, base, finisher_base, arch) for target in _TARGETS)]


# ---- building, saving and tidying ---------------------------------------------------------


def _save(store: _Store, image: _Image, archive: Path) -> None:
    """Write the docker-archive: its RepoTags are every reference, so ctr names them all."""
    partial = archive.with_name(archive.name + ".partial")
    partial.unlink(missing_ok=True)  # docker-archive refuses to add to an existing file
    first, *others = image.references
    extra = [f"--additional-tag={reference}" for reference in others]
    run_step(
        [
            "skopeo",
            "copy",
            "--quiet",
            *extra,
            store.reference(image.tag),
            f"docker-archive:{partial}:{first}",
        ],
        store.env,
    )
    partial.rename(archive)


def _load(store: _Store, image: _Image, archive: Path) -> None:
    """Put a base into storage from its archive, unless a build left it there."""
    if any(image.tag in names for names in store.image_names().values()):
        return
    _say(f"loading {image.name} from {archive.name}")
    run_step(
        ["skopeo", "copy", "--quiet", f"docker-archive:{archive}", store.reference(image.tag)],
        store.env,
    )


def _build_one(store: _Store, directory: Path, image: _Image) -> None:
    started = time.monotonic()
    log = directory / f"{image.name}.failed.log"
    hint = f" ({image.hint})" if image.hint else ""
    _say(f"building {image.name}{hint} ...")
    try:
        with tempfile.TemporaryDirectory(dir=store.tmp, prefix=f"{image.name}-") as scratch:
            try:
                image.build(store, Path(scratch), image.tag)
                _save(store, image, image.archive(directory))
            finally:
                store.remove_containers()
    except ImageBuildError as error:
        log.write_text(error.output)
        raise ImageBuildError(f"{image.name}: {error} (full output: {log})") from error
    log.unlink(missing_ok=True)
    _say(f"built {image.name} in {time.monotonic() - started:.0f}s")


def _tidy_storage(store: _Store, keep: set[str]) -> None:
    """Drop stored images nothing will build FROM: the archives are what we keep."""
    unused = [
        image_id for image_id, names in store.image_names().items() if not keep.intersection(names)
    ]
    if unused:
        store.buildah("rmi", "--force", *unused)


def _prune_archives(directory: Path, images: list[_Image]) -> None:
    """Keep the newest few superseded archives of each image: an app one is ~400 MB."""
    for image in images:
        pattern = re.compile(rf"{re.escape(image.name)}-[0-9a-f]{{12}}\.tar")
        old = [
            path
            for path in directory.iterdir()
            if pattern.fullmatch(path.name) and path != image.archive(directory)
        ]
        old.sort(key=lambda path: path.stat().st_mtime, reverse=True)
        for path in old[_KEEP_OLD_ARCHIVES:]:
            path.unlink()


def _require_tools(arch: Arch) -> None:
    try:
        require(*_BUILD_TOOLS, *(_EMULATION_TOOLS if arch.binfmt else ()))
    except MissingToolsError as missing:
        raise ImageBuildError(str(missing)) from None


def _ensure_emulation(arch: Arch) -> None:
    """Have the kernel run ``arch``'s programs with qemu-user, or fail saying what failed.

    Installing binfmt-support registers qemu-user-static's entries only where binfmt_misc is
    mounted, which a machine without systemd (a container, these VMs) does not do;
    ``update-binfmts --enable`` mounts it and registers the one entry, until the next boot.
    The entries carry the F flag: the kernel opens the emulator when it is registered, so it
    runs programs inside a chroot that has none (a RUN step, mmdebstrap's maintainer scripts).
    """
    if not arch.binfmt:
        return
    entry = _BINFMT / arch.binfmt
    if not _emulated(entry):
        run_step(
            ["update-binfmts", "--enable", arch.binfmt],
            what=f"update-binfmts --enable {arch.binfmt}",
        )
    if not _emulated(entry):
        shown = entry.read_text().strip() if entry.exists() else "no such entry"
        raise ImageBuildError(
            f"binfmt_misc does not run {arch.name} programs with qemu: {entry}: {shown!r}"
            f" (needs 'enabled' and the F flag; {_BINFMT / 'status'} must be enabled too)"
        )


def _emulated(entry: Path) -> bool:
    """Whether the binfmt_misc entry is on, with the emulator opened at registration (F)."""
    try:
        status = (entry.parent / "status").read_text().split()
        lines = entry.read_text().splitlines()
    except OSError:
        return False
    flags = [line.removeprefix("flags:").strip() for line in lines if line.startswith("flags:")]
    return status == ["enabled"] and lines[:1] == ["enabled"] and "F" in "".join(flags)


def _build_missing(
    directory: Path, images: list[_Image], missing: list[_Image], arch: Arch = AMD64
) -> None:
    _require_tools(arch)
    _ensure_emulation(arch)
    store = _Store(directory / "buildah")
    store.tmp.mkdir(parents=True, exist_ok=True)
    store.remove_containers()
    for partial in directory.glob("*.partial"):
        partial.unlink()
    for image in missing:
        for base in image.bases:
            _load(store, base, base.archive(directory))
        _build_one(store, directory, image)
    bases = {base.tag for image in images for base in image.bases}
    _tidy_storage(store, bases)
    _prune_archives(directory, images)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One builder at a time per directory: runs may start together, and share its storage."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_images(coredns_binary: Path, pause_source: Path) -> list[ImageArchive]:
    """Build whatever image is missing from the cache; every image the local node needs."""
    directory = cache_root() / "images"
    for given in (coredns_binary, pause_source):
        if not given.is_file():
            raise ImageBuildError(f"{given} does not exist")
    with _locked(directory):
        images = _plan(coredns_binary, pause_source)
        missing = [image for image in images if not image.archive(directory).exists()]
        if missing:
            _build_missing(directory, images, missing)
    return [
        ImageArchive(image.references, image.archive(directory))
        for image in images
        if image.for_node
    ]


def ensure_our_images(arch: Arch) -> list[ImageArchive]:
    """Build what is missing of our two images for ``arch``: app, then finisher.

    The node's own architecture shares the node's images' directory (the same archives
    ``ensure_images`` makes, without building pause or CoreDNS); a foreign one has
    ``<cache>/images/<arch>``, with its own storage and lock: an emulated build takes
    minutes, and the node's images must not wait for it.
    """
    directory = cache_root() / "images" / (arch.name if arch.binfmt else "")
    with _locked(directory):
        images = _plan_ours(arch)
        missing = [image for image in images if not image.archive(directory).exists()]
        if missing:
            _build_missing(directory, images, missing, arch)
    ours = {f"locust-finisher-{target.name}{_suffix(arch)}" for target in _TARGETS}
    return [
        ImageArchive(image.references, image.archive(directory))
        for image in images
        if image.name in ours
    ]


@dataclass(frozen=True)
class VersionCheck:
    """One of our images run as a container: what it is built for, and what it answered."""

    reference: str
    architecture: str  # the image config's
    elf_machine: int  # e_machine of its /usr/bin/python3.11: the code that actually runs
    machine: str  # platform.machine() inside: "aarch64" is qemu-user, on an amd64 host
    version: str  # `locust-finisher --version`
    seconds: float  # both runs, from the archive


def is_ours(archive: ImageArchive) -> bool:
    """Whether the archive is one of the Dockerfile's two images (app or finisher)."""
    repositories = {target.repository for target in _TARGETS}
    return any(reference.rpartition(":")[0] in repositories for reference in archive.references)


def check_version(archive: ImageArchive, arch: Arch) -> VersionCheck:
    """Run ``locust-finisher --version`` in the archived image, as its user, with buildah.

    A foreign image runs under qemu-user: nothing but binfmt_misc lets an amd64 machine
    execute its interpreter, and Python itself reports the machine it sees.
    """
    with tarfile.open(archive.path) as bundle:
        manifest = _archive_json(archive.path, bundle, "manifest.json")[0]
        architecture = str(_archive_json(archive.path, bundle, manifest["Config"])["architecture"])
        elf_machine = _elf_machine(archive.path, bundle, manifest["Layers"], "usr/bin/python3.11")
    found = (architecture, elf_machine)
    if found != (arch.name, arch.elf_machine):
        raise ImageBuildError(f"{archive.path.name} is for {found}, not {arch.name}")
    _require_tools(arch)
    _ensure_emulation(arch)
    directory = archive.path.parent
    started = time.monotonic()
    with _locked(directory):
        store = _Store(directory / "buildah")
        store.tmp.mkdir(parents=True, exist_ok=True)
        try:
            container = store.buildah(
                "from", "--pull=never", "--quiet", f"docker-archive:{archive.path}"
            ).strip()

            def run(*command: str) -> str:
                return store.buildah("run", "--isolation=chroot", container, "--", *command)

            machine = run("python3.11", "-I", "-c", "import platform; print(platform.machine())")
            version = run("locust-finisher", "--version")
        finally:
            store.remove_containers()
    return VersionCheck(
        archive.references[0],
        architecture,
        elf_machine,
        machine.strip(),
        version.strip(),
        time.monotonic() - started,
    )


def _elf_machine(archive: Path, bundle: tarfile.TarFile, layers: list[str], path: str) -> int:
    """e_machine of the ELF file at ``path`` in the image: the newest layer holding it."""
    for layer in reversed(layers):
        stream = bundle.extractfile(layer)
        if stream is None:
            continue
        with tarfile.open(fileobj=stream) as files:
            for name in (path, f"./{path}"):
                try:
                    program = files.extractfile(name)
                except KeyError:
                    continue
                if program is not None:
                    header = program.read(20)
                    if header[:4] == b"\x7fELF":
                        return int.from_bytes(header[18:20], "little")
    raise ImageBuildError(f"{archive} has no ELF program {path}")


def _archive_json(archive: Path, bundle: tarfile.TarFile, name: str) -> Any:
    member = bundle.extractfile(name)
    if member is None:
        raise ImageBuildError(f"{archive} has no {name}")
    return json.load(member)


def uncompressed_size(archive: Path) -> int:
    """An image's size as ``docker images`` shows it: its layers, uncompressed, in bytes.

    A docker-archive keeps each layer as an uncompressed tar, listed in its manifest.
    """
    with tarfile.open(archive) as bundle:
        layers = _archive_json(archive, bundle, "manifest.json")[0]["Layers"]
        return sum(bundle.getmember(layer).size for layer in layers)


def image_config(archive: Path) -> dict[str, Any]:
    """An archived image's run configuration: User, Entrypoint, Env, Labels, ..."""
    with tarfile.open(archive) as bundle:
        config_name = _archive_json(archive, bundle, "manifest.json")[0]["Config"]
        config: dict[str, Any] = _archive_json(archive, bundle, config_name)["config"]
        return config


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--coredns", type=Path, help="the coredns binary (default: build it with devcluster.build)"
    )
    parser.add_argument("--pause-source", type=Path, help="pause.c (default: the module cache)")
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHES),
        default=AMD64.name,
        help="amd64 (default): every image the node runs; arm64: our two images (app and"
        " finisher) and their bases, for arm64, with qemu-user",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="then run `locust-finisher --version` in each of our two images"
        " (under qemu-user for arm64)",
    )
    options = parser.parse_args()
    arch = ARCHES[options.arch]
    started = time.monotonic()
    try:
        if arch == AMD64:
            archives = ensure_images(
                options.coredns or ensure_binaries().coredns,
                options.pause_source or pause_source(),
            )
        else:
            archives = ensure_our_images(arch)
        _say(f"ready in {time.monotonic() - started:.1f}s")
        for archive in archives:
            print(f"{archive.path}  {uncompressed_size(archive.path) / 1e6:.1f} MB uncompressed")
            for reference in archive.references:
                print(f"    {reference}")
        if options.check:
            for archive in filter(is_ours, archives):
                checked = check_version(archive, arch)
                print(
                    f"{checked.reference} ({checked.architecture}; python3.11 ELF machine"
                    f" {checked.elf_machine}; platform.machine() {checked.machine}):"
                    f" {checked.version!r} in {checked.seconds:.1f}s"
                )
    except ImageBuildError as error:
        _say(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
