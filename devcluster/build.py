"""Build (once) the real pieces of the local Kubernetes: control plane, node and Prometheus.

kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and the node's kubelet and
kube-proxy come from the ``k8s.io/kubernetes`` Go module; containerd (with its runc shim and
``ctr``) from ``github.com/containerd/containerd/v2``, CoreDNS from
``github.com/coredns/coredns``, etcd from ``go.etcd.io/etcd/server/v3`` and Prometheus from
``github.com/prometheus/prometheus`` (Debian's package is built without
``kubernetes_sd_configs``), helm from ``helm.sh/helm/v3``, cert-manager's controller and
cainjector from ``github.com/cert-manager/cert-manager``, and actionlint (which checks our
workflows) from ``github.com/rhysd/actionlint``, through the wrapper modules
under ``devcluster/gomod/`` (only their go.mod/go.sum are committed). Everything lands in a
cache outside the repository, keyed by what it was built from, so a warm machine starts the
cluster in seconds:

    python -m devcluster.build        # what `make run` needs; prints progress; idempotent
    python -m devcluster.build 1.28   # the same with the oldest supported Kubernetes

helm, cert-manager and actionlint are built by the first thing that uses them
(:func:`ensure_tool`), not by the cluster's build: the demo runs none of them.

The oldest supported version, 1.28, comes from its own wrapper module; kubectl and everything
that is not Kubernetes are shared by both.
"""

import fcntl
import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GOMOD = Path(__file__).resolve().parent / "gomod"

# The Kubernetes versions the local cluster can run: (wrapper module, exact version). The
# default is the newest; the oldest we support runs a subset of the end-to-end tests.
KUBERNETES_VERSIONS = {"1.36": ("kubernetes", "v1.36.3"), "1.28": ("kubernetes-1.28", "v1.28.15")}
DEFAULT_KUBERNETES = "1.36"
KUBERNETES_VERSION = KUBERNETES_VERSIONS[DEFAULT_KUBERNETES][1]

# The pieces each Kubernetes version brings: (package, binary name).
_KUBERNETES_TOOLS = (
    ("k8s.io/kubernetes/cmd/kube-apiserver", "kube-apiserver"),
    ("k8s.io/kubernetes/cmd/kube-controller-manager", "kube-controller-manager"),
    ("k8s.io/kubernetes/cmd/kube-scheduler", "kube-scheduler"),
    ("k8s.io/kubernetes/cmd/kubelet", "kubelet"),
    ("k8s.io/kubernetes/cmd/kube-proxy", "kube-proxy"),
)
# Everything else the cluster runs, whatever the version: (module dir, package, binary name).
# kubectl is the newest: it only uses the API server's stable APIs.
_GO_TOOLS = (
    ("kubernetes", "k8s.io/kubernetes/cmd/kubectl", "kubectl"),
    ("containerd", "github.com/containerd/containerd/v2/cmd/containerd", "containerd"),
    (
        "containerd",
        "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
        "containerd-shim-runc-v2",
    ),
    ("containerd", "github.com/containerd/containerd/v2/cmd/ctr", "ctr"),
    ("coredns", "github.com/coredns/coredns", "coredns"),
    ("etcd", "go.etcd.io/etcd/server/v3", "etcd"),
    ("prometheus", "github.com/prometheus/prometheus/cmd/prometheus", "prometheus"),
)
# Built only by what uses them (ensure_tool), so `make run` never waits for them: the chart's
# tests (helm), the cert-manager install path and `make lint` (actionlint).
_ON_DEMAND_TOOLS = (
    ("helm", "helm.sh/helm/v3/cmd/helm", "helm"),
    (
        "cert-manager",
        "github.com/cert-manager/cert-manager/cmd/controller",
        "cert-manager-controller",
    ),
    (
        "cert-manager",
        "github.com/cert-manager/cert-manager/cmd/cainjector",
        "cert-manager-cainjector",
    ),
    ("actionlint", "github.com/rhysd/actionlint/cmd/actionlint", "actionlint"),
)


# Go build tags per module. Prometheus without the cloud service discoveries builds in a
# fraction of the time, and the local cluster only needs Kubernetes'.
_BUILD_TAGS = {"prometheus": "remove_all_sd,enable_kubernetes_sd"}


def cache_root() -> Path:
    """Where built pieces are kept: ``$LOCUST_FINISHER_CACHE`` or ``~/.cache/locust-finisher``."""
    configured = os.environ.get("LOCUST_FINISHER_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "locust-finisher"


@dataclass(frozen=True)
class Binaries:
    """Paths of everything the local cluster runs."""

    kubernetes_version: str  # e.g. v1.36.3, of the control plane and the kubelet
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    kube_scheduler: Path
    kubelet: Path
    kube_proxy: Path
    containerd: Path
    containerd_shim: Path
    ctr: Path
    coredns: Path
    etcd: Path
    prometheus: Path


def _say(message: str) -> None:
    print(f"[devcluster build] {message}", file=sys.stderr, flush=True)


def _go_version() -> str:
    return subprocess.run(
        ["go", "version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _module_key(module: str, go_version: str) -> str:
    digest = hashlib.sha256(go_version.encode())
    digest.update(_BUILD_TAGS.get(module, "").encode())
    for name in ("go.mod", "go.sum"):
        digest.update((GOMOD / module / name).read_bytes())
    return digest.hexdigest()[:12]


def _version_ldflags(version: str) -> str:
    """Stamp the true version, or the API server reports v0.0.0-master to clients."""
    minor = version.split(".")[1]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor=1",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def pause_source() -> Path:
    """Kubernetes' own pause program, in the module cache once the module was built."""
    modules = subprocess.run(
        ["go", "env", "GOMODCACHE"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return Path(modules) / f"k8s.io/kubernetes@{KUBERNETES_VERSION}" / "build/pause/linux/pause.c"


def _go_build(module: str, package: str, output: Path, name: str) -> None:
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    versions = {module: version for module, version in KUBERNETES_VERSIONS.values()}
    ldflags = _version_ldflags(versions[module]) if module in versions else "-s -w"
    started = time.monotonic()
    _say(f"building {name} from {package} (a cold build takes minutes) ...")
    tags = [f"-tags={_BUILD_TAGS[module]}"] if module in _BUILD_TAGS else []
    subprocess.run(
        ["go", "build", "-trimpath", *tags, f"-ldflags={ldflags}", "-o", str(output), package],
        cwd=GOMOD / module,
        env=env,
        check=True,
    )
    _say(f"built {name} in {time.monotonic() - started:.0f}s")


def _build_missing(tools: list[tuple[str, str, str]]) -> dict[str, Path]:
    """Build each ``(module, package, name)`` missing from the cache; every one's path."""
    root = cache_root() / "devcluster"
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        # One builder at a time: `make run` and `make test` may start together.
        fcntl.flock(lock, fcntl.LOCK_EX)
        go_version = _go_version()
        paths: dict[str, Path] = {}
        for module, package, name in tools:
            directory = root / f"{module}-{_module_key(module, go_version)}"
            binary = directory / name
            if not binary.exists():
                directory.mkdir(parents=True, exist_ok=True)
                partial = directory / f".{name}.partial"
                _go_build(module, package, partial, name)
                partial.rename(binary)
            paths[name] = binary
    return paths


def ensure_tool(name: str) -> Path:
    """One tool that is not Kubernetes (e.g. ``helm``), built alone if it is missing.

    So that ``make lint`` on a cold machine does not wait for the whole cluster's build, and
    the cluster's build does not wait for what only some tests use.
    """
    return _build_missing([tool for tool in (*_GO_TOOLS, *_ON_DEMAND_TOOLS) if tool[2] == name])[
        name
    ]


def ensure_binaries(kubernetes: str = DEFAULT_KUBERNETES) -> Binaries:
    """Build whatever is missing from the cache, and return the paths of every binary.

    ``kubernetes`` is a key of :data:`KUBERNETES_VERSIONS`: the control plane's and the
    kubelet's version.
    """
    kubernetes_module, kubernetes_version = KUBERNETES_VERSIONS[kubernetes]
    tools = [(kubernetes_module, package, name) for package, name in _KUBERNETES_TOOLS]
    paths = _build_missing([*tools, *_GO_TOOLS])
    return Binaries(
        kubernetes_version=kubernetes_version,
        kube_apiserver=paths["kube-apiserver"],
        kube_controller_manager=paths["kube-controller-manager"],
        kubectl=paths["kubectl"],
        kube_scheduler=paths["kube-scheduler"],
        kubelet=paths["kubelet"],
        kube_proxy=paths["kube-proxy"],
        containerd=paths["containerd"],
        containerd_shim=paths["containerd-shim-runc-v2"],
        ctr=paths["ctr"],
        coredns=paths["coredns"],
        etcd=paths["etcd"],
        prometheus=paths["prometheus"],
    )


if __name__ == "__main__":
    started = time.monotonic()
    built = ensure_binaries(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_KUBERNETES)
    for field, path in vars(built).items():
        _say(f"{field}: {path}")
    _say(f"ready in {time.monotonic() - started:.1f}s")
