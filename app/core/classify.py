"""Which pods are Locust masters we should finish, and which of their containers matter.

Every decision carries a reason in plain words, because "why was my pod (not) mutated?" is
the first question a user asks; ``locust-finisher mutate`` and the webhook's audit
annotations print it.

Three kinds of pod qualify:

* locust-k8s-operator masters, in every version: labels ``managed-by=locust-k8s-operator``
  and ``performance-test-pod-name=<test>-master``; the exporter ``locust-metrics-exporter``
  is a regular container up to 2.2 and a native sidecar (an init container with
  ``restartPolicy: Always``) from 2.3, and absent in OpenTelemetry mode.
* masters of the Locust project's own operator (locustio/k8s-operator): labels
  ``locust.io/component=master`` and ``locust.io/test-run=<test>`` (its pods carry no
  ``app.kubernetes.io/*`` label: only its Jobs do), container ``locust-master``, no exporter.
* any other pod annotated ``locust-finisher.io/inject: "true"``: the master is the container
  whose command carries ``--master``, the exporter the one serving port 9646 or running
  locust_exporter. Annotations can name either container explicitly.

A master without an exporter is managed all the same: nothing keeps such a pod alive, but
the finisher still keeps Locust's final numbers, the verdict and the summary, which the pod
would otherwise take with it (the official operator deletes its Jobs as soon as they end).
An exporter container an annotation names must exist, though: a wrong name is a mistake.
"""

import re
from dataclasses import dataclass
from typing import Any

from app.core import names, podview
from app.core.locust_options import MasterOptions, no_numbers, read_options, web_port
from app.core.podview import JsonObject
from app.core.setting_warnings import SettingWarning, ignored

# /quitquitquit first shipped in locust_exporter v0.5.0 (operator 0.2.2 and later).
_FIRST_EXPORTER_WITH_QUIT = (0, 5, 0)
_SEMVER_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Exporter:
    """The metrics exporter container that keeps the pod alive."""

    name: str
    native_sidecar: bool
    port: int


@dataclass(frozen=True)
class LocustMaster:
    """A pod we manage: a Locust master, with an exporter to end or without one."""

    origin: str  # "locust-k8s-operator", "locustio/k8s-operator" or "annotation"
    master_container: str
    exporter: Exporter | None
    locust_web_port: int
    reason: str
    # Values we could not use and replaced by a default, and why Locust will serve no numbers
    # if it will not (app/core/locust_options.py): for the admission warnings and the status.
    warnings: tuple[SettingWarning, ...] = ()


@dataclass(frozen=True)
class NotManaged:
    """A pod we leave alone, and why."""

    reason: str


Classification = LocustMaster | NotManaged


def classify_pod(pod: Any) -> Classification:
    """Decide whether ``pod`` is a Locust master to finish, and find its containers."""
    if not isinstance(pod, dict) or pod.get("kind", "Pod") != "Pod":
        return NotManaged("not a Pod")
    annotations = podview.annotations(pod)
    if names.MIRROR_POD_ANNOTATION in annotations:
        return NotManaged("mirror pod of a static pod: the API server's copy cannot be changed")
    if names.STATUS_ANNOTATION in annotations:
        return NotManaged(f"already mutated ({names.STATUS_ANNOTATION} is set)")
    if names.FINISHER_CONTAINER in podview.all_container_names(pod):
        return NotManaged(f"already has a container named {names.FINISHER_CONTAINER}")
    if not podview.containers(pod):
        return NotManaged("pod has no spec.containers")

    opt_in = annotations.get(names.INJECT_ANNOTATION)
    if opt_in == "false":
        return NotManaged(f'opted out ({names.INJECT_ANNOTATION}: "false")')

    labels = podview.labels(pod)
    if labels.get(names.OPERATOR_MANAGED_BY_LABEL) == names.OPERATOR_MANAGED_BY_VALUE:
        return _classify_operator_pod(pod, labels, annotations)
    component = labels.get(names.OFFICIAL_COMPONENT_LABEL)
    if isinstance(component, str) and names.OFFICIAL_TEST_RUN_LABEL in labels:
        return _classify_official_pod(pod, component, annotations)
    if opt_in == "true":
        return _classify_annotated_pod(pod, annotations)
    return NotManaged(
        "not a Locust master: no locust-k8s-operator or locustio/k8s-operator labels and no "
        f'{names.INJECT_ANNOTATION}: "true" annotation'
    )


def _classify_operator_pod(pod: Any, labels: JsonObject, annotations: JsonObject) -> Classification:
    node_name = labels.get(names.OPERATOR_POD_NAME_LABEL)
    if not isinstance(node_name, str):
        return NotManaged(
            f"locust-k8s-operator pod without a {names.OPERATOR_POD_NAME_LABEL} label"
        )
    if node_name.endswith("-worker"):
        return NotManaged("locust-k8s-operator worker pod: only the master runs the exporter")
    if not node_name.endswith("-master"):
        return NotManaged(f"locust-k8s-operator pod {node_name!r} is neither master nor worker")

    # The operator names the Locust container after the node: "<test>-master".
    master = _find_master(pod, annotations, preferred=node_name)
    if isinstance(master, NotManaged):
        return master
    if names.EXPORTER_CONTAINER_ANNOTATION in annotations:
        return _exporter_by_annotation(pod, annotations, "locust-k8s-operator", master)
    exporter = _exporter_named(pod, names.OPERATOR_EXPORTER_CONTAINER)
    missing = f"no {names.OPERATOR_EXPORTER_CONTAINER} container (OpenTelemetry mode?)"
    return _managed(pod, "locust-k8s-operator", master, exporter, missing)


def _classify_official_pod(pod: Any, component: str, annotations: JsonObject) -> Classification:
    if component == "worker":
        return NotManaged(
            "locustio/k8s-operator worker pod: the master's end decides the test, "
            "so only the master is finished"
        )
    if component != "master":
        return NotManaged(f"locustio/k8s-operator pod of component {component[:40]!r}, not master")
    master = _find_master(pod, annotations, preferred=names.OFFICIAL_MASTER_CONTAINER)
    if isinstance(master, NotManaged):
        return master
    return _exporter_by_annotation_or_search(
        pod, annotations, "locustio/k8s-operator", master, "the operator runs no exporter"
    )


def _classify_annotated_pod(pod: Any, annotations: JsonObject) -> Classification:
    master = _find_master(pod, annotations, preferred=None)
    if isinstance(master, NotManaged):
        return master
    return _exporter_by_annotation_or_search(
        pod,
        annotations,
        "annotation",
        master,
        "no container serves port 9646 or runs locust_exporter",
    )


def _exporter_by_annotation_or_search(
    pod: Any, annotations: JsonObject, origin: str, master: JsonObject, missing: str
) -> Classification:
    if names.EXPORTER_CONTAINER_ANNOTATION in annotations:
        return _exporter_by_annotation(pod, annotations, origin, master)
    return _managed(pod, origin, master, _find_exporter(pod), missing)


def _exporter_by_annotation(
    pod: Any, annotations: JsonObject, origin: str, master: JsonObject
) -> Classification:
    """The exporter the annotation names; a name that is not in the pod is the user's mistake."""
    exporter_name = annotations.get(names.EXPORTER_CONTAINER_ANNOTATION)
    exporter = _exporter_named(pod, exporter_name)
    if exporter is None:
        shown = str(exporter_name)[:60]
        return NotManaged(
            f"{names.EXPORTER_CONTAINER_ANNOTATION} names {shown!r}, "
            "which is not a container or native sidecar of this pod"
        )
    return _managed(pod, origin, master, exporter, "")


def _managed(
    pod: Any, origin: str, master: JsonObject, exporter: JsonObject | None, missing: str
) -> Classification:
    """The managed master; ``missing`` says why there is no exporter when ``exporter`` is None."""
    master_name = podview.text(master, "name")
    if master_name is None:
        return NotManaged("a container has no name")
    warnings: list[SettingWarning] = []
    options = read_options(master)
    if exporter is None:
        return LocustMaster(
            origin=origin,
            master_container=master_name,
            exporter=None,
            locust_web_port=web_port(options, warnings),
            warnings=_with_no_numbers(options, warnings),
            reason=(
                f"Locust master ({origin}): master container {master_name}, {missing}: "
                "no exporter to end, the finisher keeps the final numbers and the verdict"
            ),
        )
    exporter_name = podview.text(exporter, "name")
    if exporter_name is None:
        return NotManaged("a container has no name")
    if master_name == exporter_name:
        return NotManaged(f"the master and the exporter are the same container ({master_name})")
    sidecar = podview.is_native_sidecar(exporter)
    if not sidecar:
        too_old = _exporter_without_quit(exporter)
        if too_old is not None:
            return NotManaged(too_old)
    return LocustMaster(
        origin=origin,
        master_container=master_name,
        exporter=Exporter(
            name=exporter_name, native_sidecar=sidecar, port=_exporter_port(exporter, warnings)
        ),
        locust_web_port=web_port(options, warnings),
        warnings=_with_no_numbers(options, warnings),
        reason=(
            f"Locust master ({origin}): master container {master_name}, exporter "
            f"{exporter_name} as a {'native sidecar' if sidecar else 'regular container'}"
        ),
    )


def _with_no_numbers(
    master: MasterOptions, warnings: list[SettingWarning]
) -> tuple[SettingWarning, ...]:
    """``warnings``, and last why the master will serve no numbers, if it will not."""
    headless = no_numbers(master)
    return (*warnings, headless) if headless is not None else tuple(warnings)


def _find_master(
    pod: Any, annotations: JsonObject, preferred: str | None
) -> JsonObject | NotManaged:
    named = annotations.get(names.MASTER_CONTAINER_ANNOTATION)
    regular = podview.containers(pod)
    if isinstance(named, str):
        for container in regular:
            if container.get("name") == named:
                return container
        return NotManaged(
            f"{names.MASTER_CONTAINER_ANNOTATION} names {named!r}, which is not a container"
        )
    if preferred is not None:
        for container in regular:
            if container.get("name") == preferred:
                return container
    words = [set(podview.command_tokens(c)) for c in regular]  # once per container
    masters = [c for c, w in zip(regular, words, strict=True) if "--master" in w]
    workers = [c for c, w in zip(regular, words, strict=True) if "--worker" in w]
    if not masters:
        if workers:
            return NotManaged("Locust worker pod (its command carries --worker)")
        return NotManaged("no container runs Locust with --master")
    if len(masters) > 1:
        listed = ", ".join(str(c.get("name")) for c in masters)
        return NotManaged(
            f"several containers carry --master ({listed}); "
            f"name one with {names.MASTER_CONTAINER_ANNOTATION}"
        )
    return masters[0]


def _exporter_named(pod: Any, name: Any) -> JsonObject | None:
    for container in podview.containers(pod):
        if container.get("name") == name:
            return container
    for container in podview.init_containers(pod):
        if container.get("name") == name and podview.is_native_sidecar(container):
            return container
    return None


def _find_exporter(pod: Any) -> JsonObject | None:
    candidates = podview.containers(pod) + [
        c for c in podview.init_containers(pod) if podview.is_native_sidecar(c)
    ]
    for container in candidates:
        image = podview.text(container, "image") or ""
        runs_exporter = any("locust_exporter" in word for word in podview.command_tokens(container))
        if (
            names.EXPORTER_DEFAULT_PORT in podview.container_ports(container)
            or "locust_exporter" in image
            or "locust-exporter" in image
            or runs_exporter
        ):
            return container
    return None


def _exporter_without_quit(exporter: JsonObject) -> str | None:
    image = podview.text(exporter, "image") or ""
    if "locust_exporter" not in image and "locust-exporter" not in image:
        return None
    tag = image.rsplit("/", 1)[-1].partition(":")[2].partition("@")[0]
    match = _SEMVER_TAG.match(tag)
    if match is None:
        return None
    version = tuple(int(part) for part in match.groups())
    if version >= _FIRST_EXPORTER_WITH_QUIT:
        return None
    return (
        f"exporter image {image} predates /quitquitquit (added in v0.5.0); "
        "upgrade the exporter image"
    )


def _exporter_port(exporter: JsonObject, warnings: list[SettingWarning]) -> int:
    ports = podview.container_ports(exporter)
    fallback = ports[0] if len(ports) == 1 else names.EXPORTER_DEFAULT_PORT
    # The exporter's listen address may be set through its documented env variable.
    for variable in podview.objects(exporter, "env"):
        if variable.get("name") == "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS":
            address = podview.text(variable, "value") or ""
            port = podview.parse_port(address.rpartition(":")[2])
            if port is not None:
                return port
            warnings.append(
                ignored(
                    "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS",
                    address,
                    "has no usable port",
                    f"using {fallback}",
                )
            )
    return fallback
