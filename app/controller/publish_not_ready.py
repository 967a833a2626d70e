"""Letting a pod's Services send traffic to it while it cannot become Ready.

A finisher whose image cannot be pulled waits forever, and a pod with a waiting container is
never Ready. A Service lists only Ready pods unless it publishes not-ready addresses, so the
master's Service (locust-k8s-operator's ``<test>-master``) has no endpoint, the workers never
reach the master, and a test that expects workers never starts. Setting the Service's
``publishNotReadyAddresses`` is the one change that lets it start; it is all the controller
changes on a Service, with an annotation that says why and a label naming the pod, and it is
set back once the test has ended (see docs/design.md).

Only the Services of the pod's own test are touched: those whose controller is the pod's Job
or the Job's own controller (the operator's LocustTest); where neither the Job nor the Service
has an owner (both made by hand, or by a tool that sets none), a Service without one. Anyone
who creates pods can make one whose labels a Service selects; no one but the Job controller
makes a pod for a Job, and only such a pod gets here.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core import names, podview
from app.core.pod_facts import PodFacts
from app.kube.client import KubeClient, KubeError, path_of

log = logging.getLogger(__name__)


@dataclass
class ServicesSeen:
    """The Services that select a pod, by what they needed."""

    published: list[str] = field(default_factory=list)  # changed by us
    already: list[str] = field(default_factory=list)  # published not-ready addresses before


def selects(service: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a Service's selector selects a pod with ``labels``.

    A Service without a selector (its endpoints managed by hand) selects no pod.
    """
    selector = podview.mapping(podview.mapping(service, "spec"), "selector")
    return bool(selector) and all(labels.get(str(k)) == v for k, v in selector.items())


async def publish_not_ready(
    client: KubeClient, facts: PodFacts, test_uids: frozenset[str]
) -> ServicesSeen:
    """Set ``publishNotReadyAddresses`` on the Services of the pod's test that select it.

    ``test_uids`` are the uids a Service's controller may have: the pod's Job and the Job's
    own controller; with ``""`` among them (a Job without an owner), none at all.
    """
    labels = dict(facts.labels)
    why = f"set by locust-finisher for pod {facts.name}: its finisher's image cannot be pulled"
    seen = ServicesSeen()
    async for page in client.list_pages(path_of("services", facts.namespace)):
        for service in page.get("items", []):
            name = podview.text(podview.mapping(service, "metadata"), "name")
            if not name or not selects(service, labels):
                continue
            if (podview.text(podview.controller_reference(service), "uid") or "") not in test_uids:
                log.info(
                    "Service %s/%s selects %s but is not its test's",
                    facts.namespace,
                    name,
                    facts.name,
                )
                continue
            if podview.mapping(service, "spec").get("publishNotReadyAddresses") is True:
                # Ours from an earlier attempt (a crash, a stale view) is still ours.
                ours = names.FALLBACK_ANNOTATION in podview.annotations(service)
                (seen.published if ours else seen.already).append(name)
                continue
            patch = {
                "metadata": {
                    "annotations": {names.FALLBACK_ANNOTATION: f"publishNotReadyAddresses {why}"},
                    "labels": {names.PUBLISHED_FOR_LABEL: facts.uid},
                },
                "spec": {"publishNotReadyAddresses": True},
            }
            try:
                await client.merge_patch(path_of("services", facts.namespace, name), patch)
            except KubeError as error:
                if error.status != 404:  # deleted since the list: nothing to route
                    raise
                log.info("Service %s/%s gone before it was changed", facts.namespace, name)
                continue
            seen.published.append(name)
    return seen


async def set_back(client: KubeClient, facts: PodFacts) -> list[str]:
    """Undo :func:`publish_not_ready` on the Services changed for the pod; their names."""
    selector = f"{names.PUBLISHED_FOR_LABEL}={facts.uid}"
    patch = {
        "metadata": {
            "annotations": {names.FALLBACK_ANNOTATION: None},
            "labels": {names.PUBLISHED_FOR_LABEL: None},
        },
        "spec": {"publishNotReadyAddresses": False},
    }
    done: list[str] = []
    path = path_of("services", facts.namespace)
    async for page in client.list_pages(path, labelSelector=selector):
        for service in page.get("items", []):
            name = podview.text(podview.mapping(service, "metadata"), "name")
            if not name:
                continue
            try:
                await client.merge_patch(path_of("services", facts.namespace, name), patch)
            except KubeError as error:
                if error.status != 404:
                    raise
                continue
            done.append(name)
    return done
