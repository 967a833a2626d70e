"""The plain finish the supervisor falls back on when its workers keep failing.

No stats, no priming, no scrape ledger: whatever made the workers fail (memory, a bug in
reading Locust) stays out of it. It waits for the master to go (bounded by the
master-start timeout when none was ever seen), keeps the exporter up for the TTL counted
from the master's exit, ends it, and writes a summary from what the workers reported.
"""

import logging
import time
from collections.abc import Callable

from app.core.exporter_outcome import ExporterOutcome, describe
from app.core.finish_plan import plain_ttl
from app.core.summary import Summary, decode_summary
from app.core.timestamps import format_time
from app.finisher.config import FinisherConfig
from app.finisher.exporter_end import LEFT_RUNNING_NOTE, end_exporter
from app.finisher.handoff import Known, note_once
from app.finisher.master import find_in_time, known_master, wait_for_exit
from app.finisher.summary_file import write_summary

log = logging.getLogger(__name__)

Pause = Callable[[float], bool]


def _master_gone_at(
    config: FinisherConfig, known: Known, pause: Pause, stop: Callable[[], bool]
) -> float:
    """When the master exited, watching it (or for it) if need be."""
    if known.master_exited_at is not None:
        return known.master_exited_at
    if known.gave_up_at is not None:
        return known.gave_up_at
    master = known_master(known) or find_in_time(config, known, pause, time.monotonic, stop)
    if master is None:
        if not stop():
            known.note("no Locust master process appeared: the exporter was ended after the TTL")
    elif wait_for_exit(master, pause, stop):
        known.master_finished_at = format_time(time.time())
    return time.monotonic()


def finish_plainly(
    config: FinisherConfig, known: Known, pause: Pause, stop: Callable[[], bool]
) -> None:
    """Wait for the master, the TTL, end the exporter, write the summary; never raises."""
    try:
        if known.exporter is None and not stop():
            known.note("the finisher fell back to a plain TTL: no final-scrape wait")
            exited = _master_gone_at(config, known, pause, stop)
            end = exited + plain_ttl(config.settings)
            while not stop() and time.monotonic() < end:
                pause(min(end - time.monotonic(), 1.0))
            if not stop():
                known.exporter, known.exporter_detail = end_exporter(config, pause)
                if known.exporter is ExporterOutcome.LEFT_RUNNING:
                    known.note(LEFT_RUNNING_NOTE)
        if stop():
            known.note("the pod is terminating: stopped early")
            if known.exporter is None:
                known.exporter = ExporterOutcome.POD_TERMINATING
    except Exception as error:
        log.exception("the plain finish failed")
        known.note(f"finisher error: {type(error).__name__}")
    write_known_summary(config, known)


def write_known_summary(config: FinisherConfig, known: Known) -> None:
    """The last summary a worker reported, with what happened since."""
    summary: Summary = decode_summary(known.summary) or {}
    summary.pop("version", None)
    if known.master_finished_at:
        summary["masterFinishedAt"] = known.master_finished_at
    if "requests" not in summary:
        known.note("Locust's stats were never reachable: no totals")
    notes = list(summary.get("notes", []))
    for note in known.notes:
        note_once(notes, note)
    summary["notes"] = notes
    outcome = known.exporter or ExporterOutcome.NOT_ENDED
    summary["exporter"] = describe(outcome, known.exporter_detail)
    write_summary(config.termination_log, summary)
