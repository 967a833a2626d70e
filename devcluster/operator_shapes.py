"""Locust test objects shaped exactly like locust-k8s-operator builds them, per version.

The demo, the end-to-end tests and the golden fixtures create these Jobs, Services and
ConfigMaps so that the webhook sees master pods as it will on real clusters. Sources: the
operator's resource builders (Java 1.1.1 ``ResourceCreationHelpers``/``LoadGenHelpers``;
Go 2.x ``internal/resources``), summarised in ``../shared/reference/locust-and-peers.md``.

Versions: ``java-1.1`` (every Java release from 0.2.2), ``go-2.2`` (Go 2.0-2.2.x),
``go-2.3`` (exporter as a native sidecar), ``go-2.2-otel`` (OpenTelemetry: no exporter),
``java-0.2.1`` (exporter v0.4.3, from before /quitquitquit) and ``official-0.1.6``.

``official-0.1.6`` is a different project: the Locust project's own operator,
locustio/k8s-operator (a kopf operator in Python, CRD ``locusttests.locust.io/v1``), read at
commit 6b50cadef8314376c038067982551f7263859b41 (tag 0.1.6, chart 0.1.6), files
``locust_operator/objects.py`` (the Job, Service and ConfigMap builders),
``locust_operator/controller.py`` (names, labels, what is created in which order) and
``charts/locust-operator/crds/locusttest.yaml`` (the CR's fields and defaults). What it
builds for a LocustTest ``<t>``:

* ConfigMap ``<t>-locustfile`` with the CR's inline ``locustfile.content`` under
  ``locustfile.py`` (or the CR names an existing ConfigMap, mounted as it is);
* Service ``<t>-master`` (ClusterIP, ports 5557 ``master-p1`` and 5558 ``master-p2``) and
  Service ``<t>-webui`` (8089 ``master-web``), both selecting the master pod by
  ``locust.io/test-run=<t>`` and ``locust.io/component=master``;
* Job ``<t>-master``: ``parallelism: 1``, ``ttlSecondsAfterFinished: 0`` (the Job and its
  pod are deleted the moment it finishes), no ``backoffLimit`` (the API's 6: a master that
  exits non-zero is run again), pod ``restartPolicy: Never``; one container
  ``locust-master``, no command (the image's ``locust`` entrypoint), args ``--master`` then
  the CR's ``args`` string split shell-wise, ports 5557/5558/8089 named as above, the
  locustfile volume ``locustfile`` mounted read-only over ``/home/locust`` (the image's
  working directory, so Locust's default ``locustfile.py`` is found), the CR's ``env`` and
  ``master.resources``; no exporter, no probes, no securityContext;
* Job ``<t>-worker``: the same, but ``parallelism: workers``, pod ``restartPolicy:
  OnFailure``, container ``locust-worker`` with args ``--worker --master-host <t>-master``
  and then the same ``args`` string.

Nothing adds ``--autoquit``, ``--autostart`` or ``--headless``: the user's ``args`` decide,
and the same string goes to the master and the workers. Labels: the Jobs, Services and
ConfigMap carry ``app.kubernetes.io/name: locust``, ``app.kubernetes.io/managed-by:
locust-operator``, ``app.kubernetes.io/instance: <t>`` and the two ``locust.io/*`` labels
(component ``master``, ``worker``, ``master-service``, ``master-webui``, ``configmap``),
but the pod template only the two ``locust.io/*`` labels and the CR's
``master.labels``/``worker.labels``: the pods do NOT carry ``app.kubernetes.io/managed-by``.
Pod annotations are the CR's ``master.annotations``/``worker.annotations``. kopf adds an
ownerReference to the LocustTest on each object; these shapes leave it out (there is no CR
here). docs/official-operator.md says what this means for locust-finisher.
"""

import shlex
from dataclasses import dataclass, field
from typing import Any

VERSIONS = ("java-1.1", "go-2.2", "go-2.3", "go-2.2-otel", "java-0.2.1", "official-0.1.6")

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

# A failing test whatever the node's speed and luck: on a crowded node the master may see no
# request, or only a few that all drew the passing task (CI saw 0, then 7 of "/"), and Locust
# passes a test without a failure. The quitting listener is Locust's documented way to set the
# exit code: a master that saw no failure fails the test all the same.
FAILING_LOCUSTFILE = """\
from locust import HttpUser, constant, events, task
from locust.runners import WorkerRunner


@events.quitting.add_listener
def _always_fail(environment, **kwargs):
    master = not isinstance(environment.runner, WorkerRunner)
    if master and environment.stats.total.num_failures == 0:
        environment.process_exit_code = 1


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
    # More of the user's Locust options, after the usual ones (e.g. --exit-code-on-error 0).
    extra_args: tuple[str, ...] = ()
    # The official operator's shape only: --headless instead of --autostart --autoquit.
    headless: bool = False
    # For namespaces that enforce Pod Security "restricted": make the operator's own
    # containers comply (the operator lets users set this through the CR in 2.2+).
    restricted: bool = False
    # What each of the operator's containers requests of the node's CPU (the operator's
    # default). Tests that run many load tests at once on the 2-CPU node ask for less, so that
    # all of them are scheduled together (a master waiting on a worker that cannot be
    # scheduled would wait for ever); the finisher's own requests stay the webhook's.
    cpu_request: str = "250m"
    # The master pod's own spec.resources (pod-level resources, beta and on from 1.34): the
    # sum of its containers', as a user who sets it would.
    pod_level_resources: bool = False

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
            *self.extra_args,
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


def _resources(test: LoadTest) -> dict[str, Any]:
    return {
        "requests": {"cpu": test.cpu_request, "memory": "128Mi", "ephemeral-storage": "30M"},
        "limits": {"cpu": "1000m", "memory": "1024Mi", "ephemeral-storage": "50M"},
    }


def _pod_resources(containers: list[dict[str, Any]]) -> dict[str, Any]:
    """The containers' CPU and memory, summed (all of ours are in m and Mi)."""
    total: dict[str, dict[str, str]] = {}
    for section in ("requests", "limits"):
        cpu = sum(int(c["resources"][section]["cpu"].removesuffix("m")) for c in containers)
        memory = sum(int(c["resources"][section]["memory"].removesuffix("Mi")) for c in containers)
        total[section] = {"cpu": f"{cpu}m", "memory": f"{memory}Mi"}
    return total


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
        "resources": _resources(test),
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
        "resources": _resources(test),
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
    if mode == "master" and test.pod_level_resources:
        pod_spec["resources"] = _pod_resources([*containers, *init_containers])
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
    return _official_job(test, "master") if is_official(test) else _job(test, "master")


def worker_job(test: LoadTest) -> dict[str, Any]:
    """The worker Job."""
    return _official_job(test, "worker") if is_official(test) else _job(test, "worker")


def master_container_name(test: LoadTest) -> str:
    """The name of the Locust container in the master pod."""
    return "locust-master" if is_official(test) else f"{test.node_name}-master"


def master_service(test: LoadTest) -> dict[str, Any]:
    """The master Service workers connect to (8089 is not exposed, as in the operator)."""
    if is_official(test):
        return _official_service(test, "master-service", "master", OFFICIAL_ZMQ_PORTS)
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


# ----------------------------------------------------------------- locustio/k8s-operator


def is_official(test: LoadTest) -> bool:
    """Whether ``test`` is shaped like the Locust project's own operator (locustio/k8s-operator)."""
    return test.version.startswith("official")


# The port names are the Services' targetPorts: they must match the master container's.
OFFICIAL_ZMQ_PORTS = (("master-p1", 5557), ("master-p2", 5558))
OFFICIAL_WEB_PORTS = (("master-web", 8089),)
# The locust image's working directory: Locust finds its default locustfile.py there.
OFFICIAL_LOCUSTFILE_DIR = "/home/locust"


def official_args(test: LoadTest) -> str:
    """The CR's ``args``: one string, given to the master and the workers alike.

    ``--run-time`` with ``--headless`` or with ``--autostart --autoquit`` is what makes such
    a master end on its own (the operator adds neither). A headless master serves no web UI,
    so nothing can read its numbers or its report; the autostart form, which
    docs/official-operator.md recommends, keeps the web UI for the autoquit window. Locust
    ignores ``--run-time`` on a worker. No ``--locustfile``: the default ``locustfile.py`` in
    the working directory.
    """
    start = "--headless" if test.headless else f"--autostart --autoquit {test.autoquit}"
    return (
        f"{start} --host {test.host} --users {test.users} "
        f"--spawn-rate {test.spawn_rate} --run-time {test.run_time} {shlex.join(test.extra_args)}"
    ).strip()


def _official_pod_labels(test: LoadTest, component: str) -> dict[str, str]:
    """``locust.io/test-run`` and ``locust.io/component``: all its pods carry, and selectors use."""
    return {"locust.io/test-run": test.name, "locust.io/component": component}


def _official_labels(test: LoadTest, component: str) -> dict[str, str]:
    """The labels of the objects themselves (not of the pods)."""
    return {
        "app.kubernetes.io/name": "locust",
        "app.kubernetes.io/managed-by": "locust-operator",
        "app.kubernetes.io/instance": test.name,
        **_official_pod_labels(test, component),
    }


def _official_meta(test: LoadTest, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": test.namespace,
        "labels": _official_labels(test, component),
    }


def _official_configmap(test: LoadTest, failing: bool) -> dict[str, Any]:
    """The ConfigMap the operator makes from the CR's inline ``locustfile.content``."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _official_meta(test, f"{test.name}-locustfile", "configmap"),
        "data": {"locustfile.py": FAILING_LOCUSTFILE if failing else LOCUSTFILE},
    }


def _official_service(
    test: LoadTest, component: str, suffix: str, ports: tuple[tuple[str, int], ...]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _official_meta(test, f"{test.name}-{suffix}", component),
        "spec": {
            "type": "ClusterIP",
            "selector": _official_pod_labels(test, "master"),
            "ports": [{"name": name, "port": port, "targetPort": name} for name, port in ports],
        },
    }


def _official_job(test: LoadTest, mode: str) -> dict[str, Any]:
    if test.restricted:
        raise ValueError("locustio/k8s-operator's CR cannot set a securityContext")
    master = mode == "master"
    args = ["--master"] if master else ["--worker", "--master-host", f"{test.name}-master"]
    container: dict[str, Any] = {
        "name": f"locust-{mode}",
        "image": LOCUST_IMAGE,
        "args": [*args, *shlex.split(official_args(test))],
        "volumeMounts": [
            {"name": "locustfile", "mountPath": OFFICIAL_LOCUSTFILE_DIR, "readOnly": True}
        ],
    }
    if master:
        container["ports"] = [
            {"name": name, "containerPort": port}
            for name, port in OFFICIAL_ZMQ_PORTS + OFFICIAL_WEB_PORTS
        ]
    template_meta: dict[str, Any] = {
        "labels": {**(test.master_labels if master else {}), **_official_pod_labels(test, mode)}
    }
    if master and test.master_annotations:
        template_meta["annotations"] = dict(test.master_annotations)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _official_meta(test, f"{test.name}-{mode}", mode),
        "spec": {
            "ttlSecondsAfterFinished": 0,
            "parallelism": 1 if master else test.workers,
            "template": {
                "metadata": template_meta,
                "spec": {
                    "restartPolicy": "Never" if master else "OnFailure",
                    "containers": [container],
                    "volumes": [
                        {"name": "locustfile", "configMap": {"name": f"{test.name}-locustfile"}}
                    ],
                },
            },
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


# What the target asks for where a LimitRange or quota wants every container to say.
TARGET_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "200m", "memory": "64Mi"},
}


def target_objects(
    namespace: str, *, fixed_uid: bool = True, resources: bool = False, delay_ms: int = 0
) -> list[dict[str, Any]]:
    """The load target: a Deployment and its Service ``target:8080``.

    Without ``fixed_uid`` it runs as whatever UID the pod is given (OpenShift assigns one from
    the namespace's range and refuses any other); ``delay_ms`` slows each answer down.
    """
    labels = {"app": "target"}
    context = _restricted_context()
    if not fixed_uid:
        del context["runAsUser"]
    target: dict[str, Any] = {
        "name": "target",
        "image": "locust-finisher.local/http-target:1",
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        "securityContext": context,
    }
    if resources:
        target["resources"] = TARGET_RESOURCES
    if delay_ms:
        target["env"] = [{"name": "DELAY_MS", "value": str(delay_ms)}]
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
    if is_official(test):
        return [
            _official_configmap(test, failing),
            master_service(test),
            _official_service(test, "master-webui", "webui", OFFICIAL_WEB_PORTS),
            master_job(test),
            worker_job(test),
        ]
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
