"""Lease-based leader election, as client-go does it, plus release on shutdown.

Only the leader acts, so two replicas never annotate or quit the same pod at once. Timing
follows controller-runtime's defaults (lease 15 s, renew deadline 10 s, retry 2 s). Expiry
is judged by our own clock from when we last saw the lease change, never by comparing
clocks with another replica. On SIGTERM the leader hands the lease back (empty holder), so
a successor takes over at once instead of after the lease duration.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from app.core.timestamps import format_time
from app.kube.client import KubeClient, KubeError, path_of

log = logging.getLogger(__name__)

LEASE_GROUP = "coordination.k8s.io/v1"


class LeadershipLostError(Exception):
    """The lease could not be renewed in time: stop acting."""


def micro_time(now: float | None = None) -> str:
    """A Kubernetes MicroTime."""
    return format_time(now if now is not None else time.time(), fraction_digits=6)


@dataclass(frozen=True)
class ElectionTiming:
    """How long a lease lasts, how long a leader keeps trying to renew, how often to try."""

    lease_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_seconds: float = 2.0


class LeaseElector:
    """Acquire, hold and release one Lease."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        timing: ElectionTiming = ElectionTiming(),
    ) -> None:
        self.client = client
        self.path = path_of("leases", namespace, name, group=LEASE_GROUP)
        self.collection = path_of("leases", namespace, group=LEASE_GROUP)
        self.name = name
        self.identity = identity
        self.timing = timing
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.leading = False

    def _spec(self, previous: dict[str, Any] | None, now: float) -> dict[str, Any]:
        transitions = int((previous or {}).get("leaseTransitions") or 0)
        acquired = (previous or {}).get("acquireTime")
        if (previous or {}).get("holderIdentity") != self.identity:
            transitions += 1 if previous else 0
            acquired = micro_time(now)
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.timing.lease_seconds),
            "acquireTime": acquired,
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True if we hold the lease afterwards."""
        now = time.time()
        try:
            lease = await self.client.get(self.path)
        except KubeError as error:
            if error.status != 404:
                log.warning("lease %s not readable: %s", self.name, error)
                return False
            try:
                await self.client.create(
                    self.collection,
                    {
                        "apiVersion": LEASE_GROUP,
                        "kind": "Lease",
                        "metadata": {"name": self.name},
                        "spec": self._spec(None, now),
                    },
                )
            except KubeError:
                return False
            return True

        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        expired = time.monotonic() - self._observed_at > float(
            spec.get("leaseDurationSeconds") or self.timing.lease_seconds
        )
        if holder and holder != self.identity and not expired:
            return False
        lease["spec"] = self._spec(spec, now)
        try:
            await self.client.replace(self.path, lease)  # resourceVersion guards against races
        except KubeError as error:
            if error.status != 409:
                log.warning("lease %s not updated: %s", self.name, error)
            return False
        return True

    async def acquire(self) -> None:
        """Return once we lead."""
        log.info("waiting to lead (lease %s, identity %s)", self.name, self.identity)
        while True:
            if await self.try_acquire_or_renew():
                break
            await asyncio.sleep(self.timing.retry_seconds)
        self.leading = True
        log.info("leading as %s", self.identity)

    async def hold(self) -> None:
        """Renew every retry period; raise :class:`LeadershipLostError` if renewals keep failing."""
        last_renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.timing.retry_seconds)
            if await self.try_acquire_or_renew():
                last_renewed = time.monotonic()
            elif time.monotonic() - last_renewed > self.timing.renew_deadline_seconds:
                self.leading = False
                raise LeadershipLostError(
                    f"lease {self.name} not renewed for {self.timing.renew_deadline_seconds:g}s"
                )

    async def release(self) -> None:
        """Hand the lease back so a successor need not wait for it to expire."""
        if not self.leading:
            return
        self.leading = False
        try:
            lease = await self.client.get(self.path)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            spec["holderIdentity"] = ""
            spec["leaseDurationSeconds"] = 1
            lease["spec"] = spec
            await self.client.replace(self.path, lease)
            log.info("released lease %s", self.name)
        except KubeError as error:
            log.warning("lease %s not released: %s", self.name, error)
