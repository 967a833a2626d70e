"""Reading a namespace's LimitRanges and ResourceQuotas for the review of a master pod.

The finisher must fit into them (app/core/fitting.py), and they are checked after our
webhook, so only the webhook can fit it. They are read once per master pod (never for other
pods), within a budget, because the pod's admission waits: the API server gives the whole
call 2 s (the chart's ``timeoutSeconds``), half of it for this. Whatever goes wrong (no
rights, an outage, a slow answer) the pod is mutated as configured, with a warning that says
why the limits were not read.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.core.fitting import NO_LIMITS, NamespaceLimits
from app.kube.client import ConfigurationMissingError, KubeClient, KubeError

log = logging.getLogger(__name__)

# How long a master pod's admission may wait for its namespace's limits.
READ_BUDGET_SECONDS = 1.0
# More than any namespace sets; the rest are not read (a LimitRange or quota past them could
# still refuse the pod, as if we had not read any).
MAX_OBJECTS = 50

LimitsReader = Callable[[str], Awaitable[tuple[NamespaceLimits, str | None]]]


class NamespaceLimitsReader:
    """Reads with the webhook's own identity (``get``/``list`` on both, cluster-wide)."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        *,
        client: KubeClient | None = None,
        budget_seconds: float = READ_BUDGET_SECONDS,
    ) -> None:
        # ``client`` and a larger budget: ``mutate --from-cluster``, whose reads wait on no pod.
        self._kubeconfig = kubeconfig
        self._client: KubeClient | None = client
        self._unusable: str | None = None
        self._budget = budget_seconds

    async def _connect(self) -> KubeClient | None:
        if self._client is None and self._unusable is None:
            try:
                self._client = await KubeClient.connect(self._kubeconfig)
            except ConfigurationMissingError as error:
                self._unusable = str(error)
                log.warning("LimitRanges and ResourceQuotas will not be read: %s", error)
        return self._client

    async def __call__(self, namespace: str) -> tuple[NamespaceLimits, str | None]:
        """The namespace's limits, or none and why they could not be read."""
        try:
            async with asyncio.timeout(self._budget):
                client = await self._connect()
                if client is None:
                    return NO_LIMITS, f"the webhook has no API access ({self._unusable})"
                ranges, quotas = await asyncio.gather(
                    client.get(f"/api/v1/namespaces/{namespace}/limitranges", limit=MAX_OBJECTS),
                    client.get(f"/api/v1/namespaces/{namespace}/resourcequotas", limit=MAX_OBJECTS),
                )
        except TimeoutError:
            return NO_LIMITS, _unread(namespace, f"no answer within {self._budget:g} s")
        except KubeError as error:
            return NO_LIMITS, _unread(namespace, str(error))
        return NamespaceLimits(_items(ranges), _items(quotas)), None


def _items(listed: dict[str, object]) -> tuple[dict[str, object], ...]:
    items = listed.get("items")
    if not isinstance(items, list):
        return ()
    return tuple(item for item in items[:MAX_OBJECTS] if isinstance(item, dict))


def _unread(namespace: str, why: str) -> str:
    return (
        f"LimitRanges and ResourceQuotas of {namespace} not read ({why}): the finisher is "
        "added as configured, and either may refuse the pod"
    )
