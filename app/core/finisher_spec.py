"""The injected ``locust-finisher`` container, and the env contract it shares with the webhook.

The webhook writes the pod's effective settings into the container's environment; the
finisher reads the same names (flags override them). The settings travel through their
codecs in :mod:`app.core.settings`, the rest is named here, so both ends cannot drift apart.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from app.core import names
from app.core.classify import LocustMaster
from app.core.env_names import (
    ENV_EXPORTER_CONTAINER,
    ENV_EXPORTER_SIDECAR,
    ENV_EXPORTER_URL,
    ENV_LOCUST_URL,
    ENV_MASTER_CONTAINER,
    ENV_REPORT_URL,
    ENV_STATE_DIR,
)
from app.core.settings import SETTINGS, FinishSettings

# ENV_EXPORTER_URL's value for a master without an exporter (OpenTelemetry mode, the official
# operator): nothing to prime, wait for or end. The two other exporter variables are then left
# out. An absent ENV_EXPORTER_URL still means the default exporter, as for every older pod.
EXPORTER_NONE: Final = "none"

# Where the finisher hands Locust's report (the controller's Service, app/core/artifacts.py),
# and the projected token it proves who it is with: our own audience, bound to the pod, and
# refreshed by the kubelet, so the finisher reads the file when it sends. No API rights.
REPORT_TOKEN_DIR: Final = "/var/run/secrets/locust-finisher.io/report"  # noqa: S105 - a path
REPORT_TOKEN_FILE: Final = f"{REPORT_TOKEN_DIR}/token"
REPORT_TOKEN_VOLUME: Final = "locust-finisher-report-token"  # noqa: S105 - a name
REPORT_TOKEN_SECONDS: Final = 3600

# What a finisher killed as a whole had learned, for the one the kubelet starts next: an
# emptyDir outlives the container. A few KiB; the limit keeps a bug from filling the node.
STATE_DIR: Final = "/var/run/locust-finisher.io/state"
STATE_VOLUME: Final = "locust-finisher-state"
# How a container killed by SIGKILL ends: a cgroup v2 OOM kill (memory.oom.group) or any
# other kill of every process at once. The only exit the kubelet restarts it after; it
# exits 0 otherwise, and a bad flag's 2 (which the webhook never passes) must not loop.
KILLED_EXIT_CODE: Final = 137
RESTART_WHEN_KILLED: Final = [
    {"action": "Restart", "exitCodes": {"operator": "In", "values": [KILLED_EXIT_CODE]}}
]

# Where the finisher leaves its summary, which the kubelet keeps as the container's message.
TERMINATION_LOG: Final = "/dev/termination-log"

# The container's program; pods mutated by 0.1 run it by its old name, "terminator".
FINISH_COMMAND: Final = ["locust-finisher", "finish"]

# Runs as the postStart hook: kubelet starts the next container only once it returns, so
# the Locust master cannot start (and end) before the finisher watches it.
AWAIT_READY_COMMAND: Final = ["locust-finisher", "await-ready", "--timeout", "20"]


def default_image() -> str:
    """This release's finisher image; the version is read only when asked (app/__init__.py)."""
    from app import __version__

    return f"{names.FINISHER_IMAGE_REPOSITORY}:{__version__}"


@dataclass(frozen=True)
class FinisherImage:
    """Where the finisher's image comes from (cluster-wide webhook configuration)."""

    image: str = field(default_factory=lambda: default_image())
    pull_policy: str = "IfNotPresent"
    # Secrets in the test's namespace the kubelet pulls the image with (a private mirror).
    pull_secrets: tuple[str, ...] = ()


# Explicit, because built-in defaulting (LimitRanger) has already run when webhooks are
# called, and quota'd namespaces reject containers without limits.
DEFAULT_REQUESTS: Final[Mapping[str, str]] = {"cpu": "10m", "memory": "32Mi"}
DEFAULT_LIMITS: Final[Mapping[str, str]] = {"cpu": "200m", "memory": "64Mi"}


@dataclass(frozen=True)
class FinisherResources:
    """Requests and limits of the injected container (cluster-wide webhook configuration)."""

    requests: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_REQUESTS))
    limits: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LIMITS))

    def spec(self) -> dict[str, dict[str, str]]:
        """The container's ``resources``; an empty section is left out, as the API does."""
        sections = {"requests": self.requests, "limits": self.limits}
        return {name: dict(values) for name, values in sections.items() if values}


def finisher_env(master: LocustMaster, settings: FinishSettings) -> dict[str, str]:
    """The settings the finisher needs, as env variable values."""
    shown = {setting.env: setting.show(settings) for setting in SETTINGS if setting.env}
    exporter = master.exporter
    if exporter is None:
        return {
            **shown,
            ENV_EXPORTER_URL: EXPORTER_NONE,
            ENV_LOCUST_URL: f"http://localhost:{master.locust_web_port}",
            ENV_MASTER_CONTAINER: master.master_container,
        }
    return {
        **shown,
        ENV_EXPORTER_URL: f"http://localhost:{exporter.port}",
        ENV_LOCUST_URL: f"http://localhost:{master.locust_web_port}",
        ENV_EXPORTER_SIDECAR: "true" if exporter.native_sidecar else "false",
        ENV_MASTER_CONTAINER: master.master_container,
        ENV_EXPORTER_CONTAINER: exporter.name,
    }


def report_token_volume(name: str) -> dict[str, Any]:
    """The pod volume with the finisher's token for handing over the report."""
    token = {
        "audience": names.REPORT_AUDIENCE,
        "expirationSeconds": REPORT_TOKEN_SECONDS,
        "path": "token",
    }
    return {"name": name, "projected": {"sources": [{"serviceAccountToken": token}]}}


def state_volume(name: str) -> dict[str, Any]:
    """The pod volume that keeps what the finisher learned across its container's restarts."""
    return {"name": name, "emptyDir": {"sizeLimit": "1Mi"}}


def finisher_container(
    master: LocustMaster,
    settings: FinishSettings,
    image: FinisherImage,
    resources: FinisherResources | None = None,
    report_volume: str | None = None,
    report_url: str = "",
    state_volume_name: str | None = None,
) -> dict[str, Any]:
    """The container spec injected first into a managed master pod.

    With ``report_volume`` (the token volume's name in this pod) and ``report_url``, the
    finisher hands Locust's report to the controller; without, it keeps none. With
    ``state_volume_name``, the kubelet restarts it when it is killed as a whole, and it
    resumes from what it kept there (container restart rules: the API server must take them).
    """
    env = finisher_env(master, settings)
    mounts = []
    if report_volume and report_url:
        env[ENV_REPORT_URL] = report_url
        mounts.append({"name": report_volume, "mountPath": REPORT_TOKEN_DIR, "readOnly": True})
    extra: dict[str, Any] = {}
    if state_volume_name:
        env[ENV_STATE_DIR] = STATE_DIR
        mounts.append({"name": state_volume_name, "mountPath": STATE_DIR})
        extra = {"restartPolicy": "Never", "restartPolicyRules": RESTART_WHEN_KILLED}
    if mounts:
        extra = {"volumeMounts": mounts, **extra}
    return {
        "name": names.FINISHER_CONTAINER,
        "image": image.image,
        "imagePullPolicy": image.pull_policy,
        "command": list(FINISH_COMMAND),
        "env": [{"name": key, "value": value} for key, value in env.items()],
        **extra,
        "lifecycle": {"postStart": {"exec": {"command": list(AWAIT_READY_COMMAND)}}},
        "resources": (resources or FinisherResources()).spec(),
        # Pod Security "restricted" compliant on its own, whatever the pod says. No UID: the
        # pod's, or one OpenShift's SCC assigns from the namespace's range (which refuses any
        # other), else the image's numeric USER (65532), which kubelet checks is not root.
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
    }
