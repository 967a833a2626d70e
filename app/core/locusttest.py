"""The master Job locust-k8s-operator would make from a LocustTest: for ``mutate`` previews.

A user writes a LocustTest, not the master pod; the operator makes the pod, and only then does
the webhook see it. ``mutate -f locusttest.yaml`` shows what the webhook will do to that pod,
so it needs the pod first. This module is an approximation of the operator's own builders,
read from its sources (Go 2.x ``internal/resources/{job,command,labels}.go`` and
``api/v1/locusttest_conversion.go``; Java 1.1.1 as summarised in devcluster/operator_shapes.py):
the parts the webhook decides on (labels, annotations, containers, their arguments, ports and
the exporter's place) are the operator's; what depends on the operator's own Helm values
(the Job's TTL, default resources overridden there, affinity and tolerations switched off
there, OpenTelemetry's environment) is its chart's default or left out.

Both APIs are read: ``locust.io/v1`` (``masterCommandSeed`` and flat fields; the Java
operator's, and converted to v2 by the Go one exactly as ``ConvertTo`` does) and
``locust.io/v2`` (``master.command``, ``autostart``, ``autoquit``, ``extraArgs``...).
"""

import copy
from collections.abc import Mapping
from typing import Any, Final

from app.core import podview

GROUP: Final = "locust.io"
# Operator releases whose master pods differ, as the captured pods (tests/fixtures/pods) show.
OPERATORS: Final = ("go-2.3", "go-2.2", "java-1.1")
DEFAULT_OPERATOR: Final = "go-2.3"

EXPORTER_NAME: Final = "locust-metrics-exporter"
EXPORTER_IMAGE: Final = "containersol/locust_exporter:v0.5.0"
EXPORTER_PORT: Final = 9646
MASTER_PORT: Final = 5557
WEB_PORT: Final = 8089
SRC_MOUNT_PATH: Final = "/lotest/src"
LIB_MOUNT_PATH: Final = "/opt/locust/lib"
LIB_VOLUME: Final = "lib"
# The operator's defaults for its containers (its Helm chart's values).
DEFAULT_RESOURCES: Final = {
    "requests": {"cpu": "250m", "memory": "128Mi", "ephemeral-storage": "30M"},
    "limits": {"cpu": "1000m", "memory": "1024Mi", "ephemeral-storage": "50M"},
}
# Labels a user's cannot replace (the operator finds its pods by them).
_PROTECTED_LABELS = ("performance-test-pod-name", "managed-by")


class LocustTestError(ValueError):
    """The LocustTest cannot be turned into a master Job; the message is one line."""


def master_job(test: Mapping[str, Any], operator: str = DEFAULT_OPERATOR) -> dict[str, Any]:
    """The master Job ``operator`` would create for the LocustTest ``test``.

    Raises:
        LocustTestError: for a LocustTest of neither API, a field of the wrong type, or a
            v2 LocustTest with the Java operator (which serves v1 only).
    """
    if operator not in OPERATORS:
        raise LocustTestError(f"unknown operator {operator!r} (known: {', '.join(OPERATORS)})")
    api_version = podview.text(test, "apiVersion") or ""
    spec = podview.mapping(test, "spec")
    if api_version == f"{GROUP}/v1":
        if "masterCommandSeed" not in spec:
            raise LocustTestError(
                "a locust.io/v1 LocustTest without masterCommandSeed is not locust-k8s-operator's "
                "(locustio/k8s-operator's LocustTest is not previewed: preview its master Job)"
            )
        spec = _v1_to_v2(spec)
    elif api_version == f"{GROUP}/v2":
        if operator == "java-1.1":
            raise LocustTestError("the Java operator (java-1.1) serves locust.io/v1 only")
    else:
        raise LocustTestError(f"apiVersion must be {GROUP}/v1 or {GROUP}/v2, got {api_version!r}")
    name = _text(podview.mapping(test, "metadata"), "name", "metadata.name")
    return _job(test, spec, name, operator)


def _v1_to_v2(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 spec as v2, as the Go operator's ``ConvertTo`` does (autostart, autoquit 60)."""
    labels, annotations = podview.mapping(spec, "labels"), podview.mapping(spec, "annotations")
    secrets = spec.get("imagePullSecrets")
    converted: dict[str, Any] = {
        "image": spec.get("image"),
        "master": {
            "command": spec.get("masterCommandSeed"),
            "autostart": True,
            "autoquit": {"enabled": True, "timeout": 60},
            "labels": labels.get("master") or {},
            "annotations": annotations.get("master") or {},
        },
        "worker": {
            "command": spec.get("workerCommandSeed"),
            "replicas": spec.get("workerReplicas"),
        },
        "testFiles": {
            "configMapRef": spec.get("configMap") or "",
            "libConfigMapRef": spec.get("libConfigMap") or "",
        },
    }
    if "imagePullPolicy" in spec:
        converted["imagePullPolicy"] = spec["imagePullPolicy"]
    if isinstance(secrets, list):
        converted["imagePullSecrets"] = [{"name": secret} for secret in secrets]
    if "tolerations" in spec:
        converted["scheduling"] = {"tolerations": spec["tolerations"]}
    return converted


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise LocustTestError(f"{where} must be a non-empty string")
    return value


def _strings(obj: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    value = obj.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise LocustTestError(f"{where} must be a mapping of strings to strings")
    return dict(value)


def _replicas(worker: Mapping[str, Any]) -> int:
    replicas = worker.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 500:
        raise LocustTestError("the worker replicas must be a whole number from 1 to 500")
    return replicas


def _otel(spec: Mapping[str, Any]) -> bool:
    telemetry = podview.mapping(podview.mapping(spec, "observability"), "openTelemetry")
    return telemetry.get("enabled") is True


def master_args(spec: Mapping[str, Any], operator: str) -> list[str]:
    """The master container's args (Go ``BuildMasterCommand``; Java's template)."""
    master = podview.mapping(spec, "master")
    args = _text(master, "command", "the master command").split()
    if _otel(spec):
        args.append("--otel")
    args += ["--master", f"--master-port={MASTER_PORT}"]
    args.append(f"--expect-workers={_replicas(podview.mapping(spec, 'worker'))}")
    if operator == "java-1.1":  # no settings: always started, and quit after 60 s
        return [*args, "--autostart", "--autoquit", "60", "--enable-rebalancing", "--only-summary"]
    if master.get("autostart") is not False:
        args.append("--autostart")
    autoquit = podview.mapping(master, "autoquit")
    if not autoquit or autoquit.get("enabled") is not False:
        timeout = autoquit.get("timeout", 60)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0:
            timeout = 60
        args += ["--autoquit", str(timeout)]
    args += ["--enable-rebalancing", "--only-summary"]
    extra = master.get("extraArgs") or []
    if not isinstance(extra, list) or not all(isinstance(arg, str) for arg in extra):
        raise LocustTestError("master.extraArgs must be a list of strings")
    return [*args, *extra]


def _exporter(operator: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": EXPORTER_NAME,
        "image": EXPORTER_IMAGE,
        "imagePullPolicy": "Always" if operator == "java-1.1" else "IfNotPresent",
        "ports": [{"containerPort": EXPORTER_PORT, "name": "locust-metrics", "protocol": "TCP"}],
        "env": [
            {"name": "LOCUST_EXPORTER_URI", "value": f"http://localhost:{WEB_PORT}"},
            {"name": "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS", "value": f":{EXPORTER_PORT}"},
        ],
        "resources": copy.deepcopy(DEFAULT_RESOURCES),
    }
    if operator != "java-1.1":
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        }
    if operator == "go-2.3":  # a native sidecar
        container["restartPolicy"] = "Always"
    return container


def _files(spec: Mapping[str, Any], node: str) -> tuple[list[Any], list[Any]]:
    """The locustfile and lib ConfigMaps: the pod's volumes and the container's mounts."""
    files = podview.mapping(spec, "testFiles")
    volumes: list[Any] = []
    mounts: list[Any] = []
    for ref, name, path_key, path in (
        ("configMapRef", node, "srcMountPath", SRC_MOUNT_PATH),
        ("libConfigMapRef", LIB_VOLUME, "libMountPath", LIB_MOUNT_PATH),
    ):
        configmap = podview.text(files, ref)
        if configmap:
            volumes.append({"name": name, "configMap": {"name": configmap}})
            mounts.append({"name": name, "mountPath": podview.text(files, path_key) or path})
    volumes += copy.deepcopy(podview.objects(spec, "volumes"))
    for mount in podview.objects(spec, "volumeMounts"):
        if mount.get("target", "both") in ("master", "both"):
            mounts.append({k: copy.deepcopy(v) for k, v in mount.items() if k != "target"})
    return volumes, mounts


def _locust_container(spec: Mapping[str, Any], node: str, operator: str) -> dict[str, Any]:
    master = podview.mapping(spec, "master")
    resources = podview.mapping(master, "resources")
    container: dict[str, Any] = {
        "name": node,
        "image": _text(spec, "image", "the image"),
        "imagePullPolicy": podview.text(spec, "imagePullPolicy") or "IfNotPresent",
        "args": master_args(spec, operator),
        "ports": [
            {"containerPort": port, "protocol": "TCP"} for port in (MASTER_PORT, 5558, WEB_PORT)
        ],
        "resources": copy.deepcopy(dict(resources) if resources else DEFAULT_RESOURCES),
    }
    environment = podview.mapping(spec, "env")
    variables = podview.objects(environment, "variables")
    if variables:
        container["env"] = copy.deepcopy(variables)
    sources = [
        {
            f"{kind}Ref": {"name": ref.get("name")},
            **({"prefix": ref["prefix"]} if "prefix" in ref else {}),
        }
        for key, kind in (("configMapRefs", "configMap"), ("secretRefs", "secret"))
        for ref in podview.objects(environment, key)
    ]
    if sources:
        container["envFrom"] = sources
    _, mounts = _files(spec, node)
    if mounts:
        container["volumeMounts"] = mounts
    security = podview.mapping(podview.mapping(spec, "security"), "containerSecurityContext")
    if security:
        container["securityContext"] = copy.deepcopy(dict(security))
    return container


def _job(
    test: Mapping[str, Any], spec: Mapping[str, Any], name: str, operator: str
) -> dict[str, Any]:
    node = f"{name}-master".replace(".", "-")
    master = podview.mapping(spec, "master")
    otel = _otel(spec)
    labels = {"performance-test-name": name, "performance-test-pod-name": node,
              "managed-by": "locust-k8s-operator"}  # fmt: skip
    if operator != "java-1.1":
        labels["app"] = name
    for key, value in _strings(master, "labels", "the master labels").items():
        if key not in _PROTECTED_LABELS:
            labels[key] = value
    annotations: dict[str, str] = {}
    if not otel:
        annotations = {"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics",
                       "prometheus.io/port": str(EXPORTER_PORT)}  # fmt: skip
    annotations.update(_strings(master, "annotations", "the master annotations"))

    containers = [_locust_container(spec, node, operator)]
    pod_spec: dict[str, Any] = {"restartPolicy": "Never"}
    if not otel and operator == "go-2.3":
        pod_spec["initContainers"] = [_exporter(operator)]
    elif not otel:
        containers.append(_exporter(operator))
    pod_spec["containers"] = containers
    volumes, _ = _files(spec, node)
    if volumes:
        pod_spec["volumes"] = volumes
    secrets = podview.objects(spec, "imagePullSecrets")
    if secrets:
        pod_spec["imagePullSecrets"] = copy.deepcopy(secrets)
    scheduling = podview.mapping(spec, "scheduling")
    for key in ("affinity", "tolerations", "nodeSelector", "runtimeClassName"):
        if scheduling.get(key):
            pod_spec[key] = copy.deepcopy(scheduling[key])
    if operator != "java-1.1":
        security = podview.mapping(podview.mapping(spec, "security"), "podSecurityContext")
        pod_spec["securityContext"] = copy.deepcopy(
            dict(security) if security else {"seccompProfile": {"type": "RuntimeDefault"}}
        )

    metadata = podview.mapping(test, "metadata")
    owner = {"apiVersion": podview.text(test, "apiVersion"), "kind": "LocustTest", "name": name,
             "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    if podview.text(metadata, "uid"):
        owner["uid"] = metadata["uid"]
    job_metadata: dict[str, Any] = {"name": node, "ownerReferences": [owner]}
    if podview.text(metadata, "namespace"):
        job_metadata["namespace"] = metadata["namespace"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": job_metadata,
        "spec": {
            "parallelism": 1,
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }
