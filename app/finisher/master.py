"""Waiting for the Locust master: one wait, for the worker and for the plain fallback.

The master-start timeout counts from when the finisher started (:attr:`Known.started_at
<app.finisher.handoff.Known.started_at>`), not from when this worker did, so a restarted
worker or the fallback never waits longer in all than the timeout.
"""

import logging
from collections.abc import Callable

from app.finisher.config import FinisherConfig
from app.finisher.handoff import Known
from app.finisher.processes import Process, find_master, still_running

log = logging.getLogger(__name__)


def known_master(known: Known) -> Process | None:
    """The master an earlier worker found, if any."""
    return Process(known.master[0], (), known.master[1]) if known.master else None


def find_in_time(
    config: FinisherConfig,
    known: Known,
    pause: Callable[[float], object],
    clock: Callable[[], float],
    stop: Callable[[], bool] = lambda: False,
) -> Process | None:
    """The master, once it runs; None when none appeared within the master-start timeout."""
    give_up = known.started_at + config.master_start_seconds
    announced = False
    while not stop():
        master = find_master(config.master_pattern)
        if master is not None:
            log.info("watching Locust master pid %d: %s", master.pid, master.command_line[:200])
            return master
        if clock() >= give_up:
            return None
        if not announced:
            log.info("waiting for the Locust master process to appear")
            announced = True
        pause(min(0.5, max(give_up - clock(), 0.0)))
    return None


def wait_for_exit(
    master: Process, pause: Callable[[float], object], stop: Callable[[], bool]
) -> bool:
    """Poll until ``master`` exits (True) or ``stop`` says so (False)."""
    while not stop():
        if not still_running(master):
            return True
        pause(1.0)
    return False
