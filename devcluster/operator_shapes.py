"""Locust test objects shaped exactly like locust-k8s-operator builds them, per version.

The demo, the end-to-end tests and the golden fixtures create these Jobs, Services and
ConfigMaps so that the webhook sees master pods as it will on real clusters. Sources: the
operator's resource builders (Java 1.1.1 ``ResourceCreationHelpers``/``LoadGenHelpers``;
Go 2.x ``internal/resources``), summarised in ``../shared/reference/locust-and-peers.md``.

Versions: ``java-1.1`` (every Java release from 0.2.2), ``go-2.2`` (Go 2.0-2.2.x),
``go-2.3`` (exporter as a native sidecar), ``go-2.2-otel`` (OpenTelemetry: no exporter) and
``java-0.2.1`` (exporter v0.4.3, from before /quitquitquit).
"""

from dataclasses import dataclass, field
from typing import Any

VERSIONS = ("java-1.1", "go-2.2", "go-2.3", "go-2.2-otel", "java-0.2.1")

LOCUST_IMAGE = "locustio/locust:2.47.0"
EXPORTER_IMAGE = "containersol/locust_exporter:v0.5.0"
# A plain Python image for hand-written pods (built locally as a Debian base).
PYTHON_IMAGE = "python:3.11-slim-bookworm"

LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Visitor(HttpUser):
    wait_time = constant(0.05)

    @task(3)
    def home(self):
        self.client.get("/")

    @task
    def item(self):
        self.client.get("/item/1")
"""

FAILING_LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Visitor(HttpUser):
    wait_time = constant(0.05)

    @task
    def home(self):
        self.client.get("/")

    @task
    def broken(self):
        self.client.get("/fail")
"""


@dataclass(frozen=True)
class LoadTest:
    """A LocustTest CR's worth of settings."""

    name: str
    namespace: str
    version: str = "go-2.2"
    host: str = "http://target:8080"
    users: int = 4
    spawn_rate: int = 4
    run_time: str = "10s"
    autoquit: int = 5
    workers: int = 1
    locustfile_configmap: str = "demo-locustfile"
    master_annotations: dict[str, str] = field(default_factory=dict)
    master_labels: dict[str, str] = field(default_factory=dict)
    # For namespaces that enforce Pod Security "restricted": make the operator's own
    # containers comply (the operator lets users set this through the CR in 2.2+).
    restricted: bool = False

    @property
    def node_name(self) -> str:
        """The operator's "<cr>-<mode>" naming, dots replaced."""
        return self.name.replace(".", "-")

    def seed(self) -> list[str]:
        """The user's part of the Locust command (``masterCommandSeed``/``command``)."""
        return [
            "--locustfile",
            "/lotest/src/locustfile.py",
            "--host",
            self.host,
            "--users",
            str(self.users),
            "--spawn-rate",
            str(self.spawn_rate),
            "--run-time",
            self.run_time,
        ]


def locustfile_configmap(test: LoadTest, failing: bool = False) -> dict[str, Any]:
    """The ConfigMap holding the locustfile (the CR's configMap reference)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": test.locustfile_configmap, "namespace": test.namespace},
        "data": {"locustfile.py": FAILING_LOCUSTFILE if failing else LOCUSTFILE},
    }


def _is_java(test: LoadTest) -> bool:
    return test.version.startswith("java")


def _labels(test: LoadTest, mode: str) -> dict[str, str]:
    labels = {
        "performance-test-name": test.name,
        "performance-test-pod-name": f"{test.node_name}-{mode}",
        "managed-by": "locust-k8s-operator",
    }
    if not _is_java(test):
        labels["app"] = test.name
    if mode == "master":
        labels.update(test.master_labels)
    return labels


def _annotations(test: LoadTest, mode: str) -> dict[str, str]:
    metrics = {
        "prometheus.io/scrape": "true",
        "prometheus.io/path": "/metrics",
        "prometheus.io/port": "9646",
    }
    annotations: dict[str, str] = {}
    # Java put the scrape annotations on every pod; Go only on the master, without OTel.
    if _is_java(test) or (mode == "master" and not test.version.endswith("otel")):
        annotations.update(metrics)
    if mode == "master":
        annotations.update(test.master_annotations)
    return annotations


def _resources() -> dict[str, Any]:
    return {
        "requests": {"cpu": "250m", "memory": "128Mi", "ephemeral-storage": "30M"},
        "limits": {"cpu": "1000m", "memory": "1024Mi", "ephemeral-storage": "50M"},
    }


def _restricted_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _exporter(test: LoadTest) -> dict[str, Any]:
    image = (
        "containersol/locust_exporter:v0.4.3" if test.version == "java-0.2.1" else EXPORTER_IMAGE
    )
    container: dict[str, Any] = {
        "name": "locust-metrics-exporter",
        "image": image,
        "imagePullPolicy": "IfNotPresent" if not _is_java(test) else "Always",
        "ports": [{"containerPort": 9646, "name": "locust-metrics", "protocol": "TCP"}],
        "env": [
            {"name": "LOCUST_EXPORTER_URI", "value": "http://localhost:8089"},
            {"name": "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS", "value": ":9646"},
        ],
        "resources": _resources(),
    }
    if test.version in ("go-2.2", "go-2.3"):
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        }
    if test.restricted:
        container["securityContext"] = {
            **container.get("securityContext", {}),
            **_restricted_context(),
        }
    if test.version == "go-2.3":
        container["restartPolicy"] = "Always"
    return container


def _locust_container(test: LoadTest, mode: str, args: list[str]) -> dict[str, Any]:
    ports = (
        [{"containerPort": port, "protocol": "TCP"} for port in (5557, 5558, 8089)]
        if mode == "master"
        else [{"containerPort": 8080, "protocol": "TCP"}]
    )
    container: dict[str, Any] = {
        "name": f"{test.node_name}-{mode}",
        "image": LOCUST_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": ports,
        "resources": _resources(),
        "volumeMounts": [
            {"name": test.locustfile_configmap, "mountPath": "/lotest/src/", "readOnly": False}
        ],
    }
    if test.restricted:
        container["securityContext"] = _restricted_context()
    return container


def _master_args(test: LoadTest) -> list[str]:
    args = [*test.seed()]
    if test.version.endswith("otel"):
        args.append("--otel")
    args += [
        "--master",
        "--master-port=5557",
        f"--expect-workers={test.workers}",
        "--autostart",
        "--autoquit",
        str(test.autoquit),
        "--enable-rebalancing",
        "--only-summary",
    ]
    return args


def _worker_args(test: LoadTest) -> list[str]:
    args = [*test.seed()]
    if test.version.endswith("otel"):
        args.append("--otel")
    return [*args, "--worker", "--master-port=5557", f"--master-host={test.node_name}-master"]


def _job(test: LoadTest, mode: str) -> dict[str, Any]:
    containers = [
        _locust_container(
            test, mode, _master_args(test) if mode == "master" else _worker_args(test)
        )
    ]
    init_containers: list[dict[str, Any]] = []
    if mode == "master" and not test.version.endswith("otel"):
        if test.version == "go-2.3":
            init_containers.append(_exporter(test))
        else:
            containers.append(_exporter(test))
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": containers,
        "volumes": [
            {"name": test.locustfile_configmap, "configMap": {"name": test.locustfile_configmap}}
        ],
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    if not _is_java(test) or test.restricted:
        pod_spec["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{test.node_name}-{mode}",
            "namespace": test.namespace,
            "labels": {"managed-by": "locust-k8s-operator", "performance-test-name": test.name},
        },
        "spec": {
            "backoffLimit": 0,
            "parallelism": 1 if mode == "master" else test.workers,
            "template": {
                "metadata": {
                    "labels": _labels(test, mode),
                    "annotations": _annotations(test, mode),
                },
                "spec": pod_spec,
            },
        },
    }


def master_job(test: LoadTest) -> dict[str, Any]:
    """The master Job."""
    return _job(test, "master")


def worker_job(test: LoadTest) -> dict[str, Any]:
    """The worker Job."""
    return _job(test, "worker")


def master_service(test: LoadTest) -> dict[str, Any]:
    """The master Service workers connect to (8089 is not exposed, as in the operator)."""
    ports = [
        {"name": "port5557", "port": 5557, "protocol": "TCP", "targetPort": 5557},
        {"name": "port5558", "port": 5558, "protocol": "TCP", "targetPort": 5558},
    ]
    if not test.version.endswith("otel"):
        ports.append(
            {"name": "prometheus-metrics", "port": 9646, "protocol": "TCP", "targetPort": 9646}
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{test.node_name}-master", "namespace": test.namespace},
        "spec": {
            "selector": {"performance-test-pod-name": f"{test.node_name}-master"},
            "ports": ports,
        },
    }


def deployment(
    name: str, namespace: str, labels: dict[str, str], pod_spec: dict[str, Any]
) -> dict[str, Any]:
    """A one-replica Deployment of ``pod_spec``, its pods labelled ``labels``."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def target_objects(namespace: str) -> list[dict[str, Any]]:
    """The load target: a Deployment and its Service ``target:8080``."""
    labels = {"app": "target"}
    target = {
        "name": "target",
        "image": "locust-finisher.local/http-target:1",
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        "securityContext": _restricted_context(),
    }
    return [
        deployment("target", namespace, labels, {"containers": [target]}),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "target", "namespace": namespace},
            "spec": {"selector": labels, "ports": [{"port": 8080, "targetPort": "http"}]},
        },
    ]


def load_test_objects(test: LoadTest, failing: bool = False) -> list[dict[str, Any]]:
    """Everything the operator creates for one test, in creation order."""
    return [
        locustfile_configmap(test, failing),
        master_service(test),
        master_job(test),
        worker_job(test),
    ]


def quick_master_pod(namespace: str, name: str, ttl: str = "1s") -> dict[str, Any]:
    """A hand-written pod the webhook manages (strategy controller) whose "master" ends at once.

    The controller acts on it within seconds: for tests and benchmarks of the controller.
    """
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {
                "locust-finisher.io/inject": "true",
                "locust-finisher.io/strategy": "controller",
                "locust-finisher.io/ttl": ttl,
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "master",
                    "image": PYTHON_IMAGE,
                    "command": ["python", "-c", "pass", "--master"],
                },
                {"name": "exporter", "image": EXPORTER_IMAGE, "ports": [{"containerPort": 9646}]},
            ],
        },
    }
