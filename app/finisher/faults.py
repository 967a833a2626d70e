"""Faults on purpose, for the fault campaign: ``LOCUST_FINISHER_FAULT=<phase>:<kind>``.

The promise that nothing of ours changes a test's verdict is proven by hurting the
finisher's worker at each phase of a real test on the real kubelet (tests/cluster): this
is how a test asks for it. Unset, as the webhook leaves it, it does nothing.

In the style of etcd's gofail: the variable is read once, with the rest of the finisher's
settings (:attr:`FinisherConfig.fault <app.finisher.config.FinisherConfig.fault>`), and the
worker names each place a fault may fire with one call, :func:`point`. The product keeps no
state for it: the supervisor disarms the fault for every worker after the first, so the next
one shows the recovery.

Phases: ``start`` (the worker has just started: before the master runs), ``test`` (the
master runs), ``ttl`` (the master has exited; the exporter outlives it for the TTL) and
``scrape`` (waiting for Prometheus's final scrape). Kinds: ``kill`` (SIGKILL, as a crash
of the interpreter), ``oom`` (allocate until the kernel's OOM killer ends the worker, under
the container's real memory limit), ``group`` (SIGKILL to the supervisor and the worker at
once: what cgroup v2's ``memory.oom.group`` does to the whole container on an OOM, which
cgroup v1 nodes, as these machines are, cannot do themselves) and ``crash`` (an unexpected
exception). Only a container's first start is hurt: a restarted one shows the recovery.
"""

import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from app.core.env_names import ENV_FAULT

if TYPE_CHECKING:
    from app.finisher.config import FinisherConfig

log = logging.getLogger(__name__)

Phase = Literal["start", "test", "ttl", "scrape"]
PHASES: Final = ("start", "test", "ttl", "scrape")
KINDS: Final = ("kill", "oom", "group", "crash")
# Made when the oom fault fires, never at import: the supervisor imports this module too.
_CHUNK_BYTES = 8 << 20


class InjectedFaultError(RuntimeError):
    """The ``crash`` kind: an exception the worker did not expect."""


@dataclass(frozen=True)
class Fault:
    """Which fault, at which phase."""

    phase: str
    kind: str


def read_fault(environ: Mapping[str, str]) -> Fault | None:
    """The fault asked for, if any; anything unrecognised asks for none."""
    phase, _, kind = environ.get(ENV_FAULT, "").partition(":")
    if phase in PHASES and kind in KINDS:
        return Fault(phase, kind)
    return None


def point(config: "FinisherConfig", phase: Phase) -> None:
    """A place a fault may fire: hurt this worker now if the armed fault is for ``phase``."""
    fault = config.fault
    if fault is None or fault.phase != phase:
        return
    log.warning("injected fault: %s during %s", fault.kind, phase)
    if fault.kind == "group":
        os.kill(os.getppid(), signal.SIGKILL)
    if fault.kind in ("kill", "group"):
        os.kill(os.getpid(), signal.SIGKILL)
    if fault.kind == "crash":
        raise InjectedFaultError(f"injected during {phase}")
    hog = []
    while True:  # until the OOM killer ends this process
        # Filled, so every page is charged to the cgroup (an untouched allocation costs nothing).
        hog.append(bytearray(b"\x01") * _CHUNK_BYTES)
