"""The process kubelet's "registry": which local program stands for which container image.

An image that matches no entry cannot be "pulled", and its container waits with
``ErrImagePull``/``ImagePullBackOff``, as on a real node.
"""

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_VENV_BIN = Path(sys.executable).parent
_DEVCLUSTER = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LocalImage:
    """What running a container of this image means here."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    user: int | None = None  # the image's USER; None = root
    env: Mapping[str, str] = field(default_factory=dict)


def _base_env() -> dict[str, str]:
    return {
        "PATH": f"{_VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/",
        "LANG": "C.UTF-8",
        # Our read-only root filesystems must not make Python try to write bytecode.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def image_map(exporter_binary: str) -> dict[str, LocalImage]:
    """Image names (without tag) and what runs for them."""
    python = str(_VENV_BIN / "python")
    exporter = (python, exporter_binary) if exporter_binary.endswith(".py") else (exporter_binary,)
    return {
        # locustio/locust: ENTRYPOINT ["locust"], USER locust (uid 1000).
        "locustio/locust": LocalImage((str(_VENV_BIN / "locust"),), user=1000, env=_base_env()),
        # containersol/locust_exporter: FROM scratch, ENTRYPOINT ["locust_exporter"], USER 1000.
        "containersol/locust_exporter": LocalImage(exporter, user=1000, env=_base_env()),
        # Our own image: one CLI for every subcommand, numeric non-root user.
        "ghcr.io/locust-finisher/locust-finisher": LocalImage(
            (str(_VENV_BIN / "locust-finisher"),), user=65532, env=_base_env()
        ),
        # A plain Python image, for hand-written test pods.
        "python": LocalImage((python,), user=None, env=_base_env()),
        # The demo's load target: a tiny HTTP server.
        "locust-finisher.local/http-target": LocalImage(
            (python, str(_DEVCLUSTER / "peers" / "http_target.py")), user=1000, env=_base_env()
        ),
    }


def resolve(images: Mapping[str, LocalImage], reference: str) -> LocalImage | None:
    """The local image for ``reference`` (``name[:tag][@digest]``), if we have one."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return images.get(name)


def container_argv(image: LocalImage, container: Mapping[str, object]) -> list[str]:
    """Kubernetes' rule: ``command`` replaces ENTRYPOINT, ``args`` replaces CMD."""
    command = container.get("command")
    args = container.get("args")
    argv = list(command) if isinstance(command, list) else list(image.entrypoint)
    if isinstance(args, list):
        argv += args
    elif not isinstance(command, list):
        argv += list(image.cmd)
    return [str(word) for word in argv]


def exporter_binary_default() -> str:
    """The locust_exporter to run: ``$LOCUST_EXPORTER_BIN``, else our stand-in (see peers/)."""
    configured = os.environ.get("LOCUST_EXPORTER_BIN")
    if configured:
        return configured
    return str(_DEVCLUSTER / "peers" / "exporter_standin.py")
