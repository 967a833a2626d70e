"""What the API server the webhook serves can take, asked once at start.

Container restart rules let the kubelet restart a finisher killed as a whole (cgroup v2's
group OOM kill) instead of failing the pod, but an API server before 1.34 refuses a regular
container's ``restartPolicy``: a refused pod is the one thing the webhook must never cause.
So they are added only where ``/version`` (readable by anyone authenticated) says 1.35 or
later; when it cannot be read, they are not.
"""

import asyncio
import logging

from app.core.cluster_config import takes_restart_rules
from app.kube.client import ConfigurationMissingError, KubeClient, KubeError

log = logging.getLogger(__name__)

ASK_SECONDS = 10.0


async def server_version(client: KubeClient) -> tuple[str, bool]:
    """The API server's ``gitVersion``, and whether it takes container restart rules."""
    version = await client.get("/version")
    return str(version.get("gitVersion", "(no gitVersion)"))[:40], takes_restart_rules(version)


async def _ask(kubeconfig: str | None) -> bool:
    client = await KubeClient.connect(kubeconfig)
    try:
        git_version, taken = await server_version(client)
    finally:
        await client.close()
    log.info("API server %s", git_version)
    return taken


def restart_rules_taken(kubeconfig: str | None = None) -> bool:
    """Whether to give the finisher container restart rules; False when unsure."""
    try:
        taken = asyncio.run(asyncio.wait_for(_ask(kubeconfig), ASK_SECONDS))
    except ConfigurationMissingError as error:  # outside a cluster (--dev): nothing to ask
        log.debug("no API server to ask (%s): no container restart rules", error)
        return False
    except (KubeError, TimeoutError) as error:
        log.warning("the API server's version is unknown (%s): no container restart rules", error)
        return False
    if not taken:
        log.info("the API server predates container restart rules: the finisher has none")
    return taken
