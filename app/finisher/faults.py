"""Faults on purpose, for the fault campaign: ``LOCUST_FINISHER_FAULT=<phase>:<kind>``.

The promise that nothing of ours changes a test's verdict is proven by hurting the
finisher's worker at each phase of a real test on the real kubelet (tests/cluster): this
is how a test asks for it. Unset, as the webhook leaves it, it does nothing.

Phases: ``start`` (the worker has just started: before the master runs), ``test`` (the
master runs), ``ttl`` (the master has exited; the exporter outlives it for the TTL) and
``scrape`` (waiting for Prometheus's final scrape). Kinds: ``kill`` (SIGKILL, as a crash
of the interpreter), ``oom`` (allocate until the kernel's OOM killer ends the worker, under
the container's real memory limit) and ``crash`` (an unexpected exception). A fault fires
in one worker only, so the next one shows the recovery.
"""

import logging
import os
import signal
from dataclasses import dataclass
from typing import Final

from app.finisher.handoff import Known, Reporter

log = logging.getLogger(__name__)

FAULT_ENV: Final = "LOCUST_FINISHER_FAULT"
PHASES: Final = ("start", "test", "ttl", "scrape")
KINDS: Final = ("kill", "oom", "crash")
# Filled, so every page is charged to the cgroup (an untouched allocation costs nothing).
_CHUNK = b"\x01" * (8 << 20)


class InjectedFaultError(RuntimeError):
    """The ``crash`` kind: an exception the worker did not expect."""


@dataclass(frozen=True)
class Fault:
    """Which fault, at which phase."""

    phase: str
    kind: str


def read_fault(environ: dict[str, str] | os._Environ[str]) -> Fault | None:
    """The fault asked for, if any; anything unrecognised asks for none."""
    phase, _, kind = environ.get(FAULT_ENV, "").partition(":")
    if phase in PHASES and kind in KINDS:
        return Fault(phase, kind)
    return None


def inject(fault: Fault | None, phase: str, known: Known, reporter: Reporter) -> None:
    """Hurt this worker now, if ``fault`` is for ``phase`` and no worker has fired it yet."""
    if fault is None or fault.phase != phase or known.faults_fired:
        return
    known.faults_fired += 1
    reporter.send(faultFired=True)
    log.warning("injected fault: %s during %s", fault.kind, phase)
    if fault.kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault.kind == "crash":
        raise InjectedFaultError(f"injected during {phase}")
    hog = []
    while True:  # until the OOM killer ends this process
        hog.append(bytearray(_CHUNK))  # a copy: new pages, each written
