"""The webhook's configuration as it stands in a cluster, read from outside it.

``mutate --from-cluster`` previews a pod as this cluster's webhook would patch it, so it reads
what the webhook decides with: its ConfigMap (over the webhook's own flags, as the webhook
applies it), the finisher image its Deployment passes it, the API server's version (container
restart rules), and for each target namespace whether it is opted in and its LimitRanges and
ResourceQuotas (read as the webhook reads them). What cannot be read is said in a note, and
the preview goes on with what the webhook would use in its place; a ConfigMap that cannot be
read or parsed ends the preview, since everything else would then be a guess.
"""

import dataclasses
from dataclasses import dataclass, field

import yaml

from app.core import names, podview, precheck
from app.core.artifacts import receiver_url
from app.core.cluster_config import ConfigError, InjectionConfig, parse_cluster_config
from app.core.finisher_spec import FinisherImage
from app.core.fitting import NO_LIMITS, NamespaceLimits
from app.kube.client import KubeClient, KubeError, path_of
from app.webhook.cluster_version import server_version
from app.webhook.namespace_limits import NamespaceLimitsReader

# A person waits on these reads, not a pod's admission: more time than the webhook takes.
READ_BUDGET_SECONDS = 10.0
# Target namespaces read in one preview: a List spanning more is refused.
MAX_NAMESPACES = 20


class LiveConfigError(Exception):
    """The webhook's configuration could not be read; one line."""


@dataclass(frozen=True)
class NamespaceView:
    """What the webhook knows of one target namespace."""

    # Why the webhook never sees this namespace's pods (None: it does, or it is not known).
    not_seen: str | None = None
    limits: NamespaceLimits = NO_LIMITS
    # Why the limits could not be read (the webhook then fits nothing, and warns).
    unread: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterView:
    """The cluster's configuration, and what it says about it (the preview's header)."""

    config: InjectionConfig
    describe: str
    namespaces: dict[str, NamespaceView] = field(default_factory=dict)


async def read_cluster(
    client: KubeClient, base: InjectionConfig, install_namespace: str, image_given: bool
) -> ClusterView:
    """The webhook's configuration in the cluster, on top of ``base`` (the webhook's flags).

    Without ``image_given``, the finisher image is the one the webhook's Deployment sets.

    Raises:
        LiveConfigError: when the ConfigMap cannot be read or is refused.
    """
    where = f"ConfigMap {install_namespace}/{names.CONFIG_MAP}"
    try:
        configmap = await client.get(path_of("configmaps", install_namespace, names.CONFIG_MAP))
    except KubeError as error:
        raise LiveConfigError(
            f"{where} cannot be read ({error}); is locust-finisher installed in "
            f"{install_namespace}? (--webhook-namespace)"
        ) from None
    document = podview.text(podview.mapping(configmap, "data"), names.CONFIG_MAP_KEY) or ""
    base = dataclasses.replace(base, report_url=receiver_url(install_namespace))
    notes = []
    if not image_given:
        image, note = await _deployment_image(client, install_namespace)
        if image:
            base = dataclasses.replace(base, image=dataclasses.replace(base.image, image=image))
        else:
            notes.append(note)
    try:
        config = parse_cluster_config(yaml.safe_load(document), base)
    except (ConfigError, yaml.YAMLError) as error:
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise LiveConfigError(f"{where}, key {names.CONFIG_MAP_KEY}: {first}") from None
    try:
        version, restart_rules = await server_version(client)
        config = dataclasses.replace(config, restart_rules=config.restart_rules or restart_rules)
        notes.append(f"Kubernetes {version}")
    except KubeError as error:
        notes.append(f"the API server's version is unknown ({error}): no container restart rules")
    notes.append(f"finisher image {config.image.image}")
    return ClusterView(config, f"from the cluster ({where}; {'; '.join(notes)})")


async def _deployment_image(client: KubeClient, install_namespace: str) -> tuple[str, str]:
    """The finisher image the webhook's Deployment passes it, or why it is not known."""
    path = path_of("deployments", install_namespace, names.WEBHOOK_DEPLOYMENT, group="apps/v1")
    default = FinisherImage().image
    try:
        deployment = await client.get(path)
    except KubeError as error:
        return "", f"the webhook's Deployment cannot be read ({error}): image {default} assumed"
    pod_spec = podview.spec(podview.mapping(podview.spec(deployment), "template"))
    for container in podview.objects(pod_spec, "containers"):
        for variable in podview.objects(container, "env"):
            if podview.text(variable, "name") == names.FINISHER_IMAGE_VARIABLE:
                return podview.text(variable, "value") or "", "its FINISHER_IMAGE is not a value"
    return "", f"the webhook's Deployment sets no {names.FINISHER_IMAGE_VARIABLE}"


async def read_namespace(client: KubeClient, namespace: str) -> NamespaceView:
    """Whether the webhook sees ``namespace``'s pods, and the limits it fits the finisher in."""
    notes = []
    not_seen = None
    try:
        check = precheck.opted_in(await client.get(path_of("namespaces", None, namespace)))
        notes.append(f"namespace {namespace}: {check.reason}")
        if check.status is precheck.Status.FAILED:
            not_seen = f"namespace {namespace} is {check.reason}"
    except KubeError as error:
        notes.append(f"namespace {namespace} cannot be read ({error}): taken as opted in")
    reader = NamespaceLimitsReader(client=client, budget_seconds=READ_BUDGET_SECONDS)
    limits, unread = await reader(namespace)
    if unread is None:
        notes.append(
            f"namespace {namespace}: {len(limits.limit_ranges)} LimitRange(s), "
            f"{len(limits.quotas)} ResourceQuota(s)"
        )
    return NamespaceView(not_seen, limits, unread, tuple(notes))
