"""Build (once) the real pieces of the local Kubernetes: control plane binaries and Prometheus.

kube-apiserver, kube-controller-manager and kubectl come from the ``k8s.io/kubernetes`` Go
module, etcd from ``go.etcd.io/etcd/server/v3`` and Prometheus from
``github.com/prometheus/prometheus`` (Debian's package is built without
``kubernetes_sd_configs``), helm from ``helm.sh/helm/v3`` and cert-manager's controller and
cainjector from ``github.com/cert-manager/cert-manager``, through the wrapper modules
under ``devcluster/gomod/`` (only their go.mod/go.sum are committed). Everything lands in a
cache outside the repository, keyed by what it was built from, so a warm machine starts the
cluster in seconds:

    python -m devcluster.build        # prints progress; idempotent
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
KUBERNETES_VERSION = "v1.36.3"

# Go tools each wrapper module builds: (module dir, package, binary name).
_GO_TOOLS = (
    ("kubernetes", "k8s.io/kubernetes/cmd/kube-apiserver", "kube-apiserver"),
    ("kubernetes", "k8s.io/kubernetes/cmd/kube-controller-manager", "kube-controller-manager"),
    ("kubernetes", "k8s.io/kubernetes/cmd/kubectl", "kubectl"),
    ("etcd", "go.etcd.io/etcd/server/v3", "etcd"),
    ("prometheus", "github.com/prometheus/prometheus/cmd/prometheus", "prometheus"),
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
)


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

    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    etcd: Path
    prometheus: Path
    helm: Path
    cert_manager_controller: Path
    cert_manager_cainjector: Path


def _say(message: str) -> None:
    print(f"[devcluster build] {message}", file=sys.stderr, flush=True)


def _go_version() -> str:
    return subprocess.run(
        ["go", "version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _module_key(module: str, go_version: str) -> str:
    digest = hashlib.sha256(go_version.encode())
    for name in ("go.mod", "go.sum"):
        digest.update((GOMOD / module / name).read_bytes())
    return digest.hexdigest()[:12]


def _version_ldflags() -> str:
    """Stamp the true version, or the API server reports v0.0.0-master to clients."""
    version = KUBERNETES_VERSION
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


def _go_build(module: str, package: str, output: Path, name: str) -> None:
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    ldflags = _version_ldflags() if module == "kubernetes" else "-s -w"
    started = time.monotonic()
    _say(f"building {name} from {package} (a cold build takes minutes) ...")
    subprocess.run(
        ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(output), package],
        cwd=GOMOD / module,
        env=env,
        check=True,
    )
    _say(f"built {name} in {time.monotonic() - started:.0f}s")


def ensure_binaries() -> Binaries:
    """Build whatever is missing from the cache, and return the paths of every binary."""
    root = cache_root() / "devcluster"
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        # One builder at a time: `make run` and `make test` may start together.
        fcntl.flock(lock, fcntl.LOCK_EX)
        go_version = _go_version()
        paths: dict[str, Path] = {}
        for module, package, name in _GO_TOOLS:
            directory = root / f"{module}-{_module_key(module, go_version)}"
            binary = directory / name
            if not binary.exists():
                directory.mkdir(parents=True, exist_ok=True)
                partial = directory / f".{name}.partial"
                _go_build(module, package, partial, name)
                partial.rename(binary)
            paths[name] = binary
    return Binaries(
        kube_apiserver=paths["kube-apiserver"],
        kube_controller_manager=paths["kube-controller-manager"],
        kubectl=paths["kubectl"],
        etcd=paths["etcd"],
        prometheus=paths["prometheus"],
        helm=paths["helm"],
        cert_manager_controller=paths["cert-manager-controller"],
        cert_manager_cainjector=paths["cert-manager-cainjector"],
    )


if __name__ == "__main__":
    started = time.monotonic()
    built = ensure_binaries()
    for field, path in vars(built).items():
        _say(f"{field}: {path}")
    _say(f"ready in {time.monotonic() - started:.1f}s")
