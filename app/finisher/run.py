"""The finisher's worker: end the exporter once the test is over and scraped.

The sequence (see docs/design.md for the reasoning):

1. find the Locust master process (for at most the master-start timeout);
2. while it runs, keep Locust's latest totals; when Locust reports ``stopped``, prime the
   exporter (one read of its /metrics makes it fetch and keep the final numbers) and note
   whether anyone else scraped it during the test;
3. after the master exits, keep the exporter up until a scrape by someone else collected
   the final numbers, when that is awaited (up to max-wait; a TTL the user set is a floor);
   else for the TTL (30 s unless set);
4. end the exporter (``/quitquitquit``; a native sidecar is left to kubelet), write the
   summary to the termination log.

It runs in a process forked by the supervisor (:mod:`app.finisher.supervisor`), which
restarts it if it is killed, so it tells the supervisor what it learns (:mod:`handoff`) and
a new worker starts from there: a master that already exited is not waited for again, and
the exporter's deadlines stay counted from the master's real exit.
"""

import logging
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from app.core.exporter_outcome import ExporterOutcome, describe
from app.core.finish_plan import ExporterDeadline, waits_for_scrape
from app.core.priming import (
    ExporterReading,
    Settling,
    Unconfirmable,
    explain,
    reading_fault,
    unconfirmable,
)
from app.core.run_metadata import locust_version
from app.core.scrapes import ScrapeLedger, completed_scrapes
from app.core.summary import (
    ArtifactsEntry,
    FinalScrape,
    Summary,
    decode_summary,
    encode_summary,
    summarize_stats,
)
from app.core.timestamps import format_time
from app.finisher import faults
from app.finisher.artifacts import ArtifactKeeper
from app.finisher.config import FinisherConfig
from app.finisher.exporter_end import LEFT_RUNNING_NOTE, end_exporter
from app.finisher.handoff import (
    WORKER_FAILED,
    Done,
    ExporterEnded,
    GaveUp,
    Known,
    MasterExited,
    MasterFound,
    Outbox,
    ScrapeWaitDecided,
    SummarySoFar,
    WorkerFailed,
    note_once,
)
from app.finisher.http import GET_LIMIT, GET_SECONDS, ReadCapError
from app.finisher.locust_version import read_locust_version
from app.finisher.master import find_in_time, known_master
from app.finisher.processes import Process, open_pidfd, still_running
from app.finisher.stats_read import (
    STATS_LIMIT,
    STATS_SECONDS,
    StatsReader,
    StatsTooLargeError,
)
from app.finisher.summary_file import write_summary

log = logging.getLogger(__name__)

# After the stop, Locust's totals settle within a worker report interval (3 s) plus its
# stats cache (2 s); reading every second catches the last change well within --autoquit.
STOPPED_POLL_SECONDS = 1.0
# A page behind a login, or an older UI, does not say the version: not asked again and again.
VERSION_READS = 2
# /stats/requests lists this many request names and errors at most (sorted by name, not size).
LOCUST_LISTS_AT_MOST = 500


# The exporter's per-request gauges; they keep their last values once Locust is gone.
_NUMBERS_LINE = b"locust_requests_num_requests{"
# The worker is the process the kernel's OOM killer should pick in our container, never the
# supervisor; raising one's own score needs no privilege.
OOM_SCORE_ADJ = Path("/proc/self/oom_score_adj")


# A line of /metrics longer than this is none of the two we look for (both are short): only
# its end is carried to the next chunk, so a label of megabytes costs no more than this.
_LINE_LIMIT = 64 * 1024


class MetricsScan:
    """What the finisher needs of the exporter's /metrics, found as it streams in.

    Whether it holds Locust's numbers, promhttp's count of completed scrapes, and what it
    says of Locust (up, and its totals). The answer is never held: with 500 request names
    and 500 kinds of error it is megabytes, and held whole (and joined) it cost the
    container twice that (8 MiB at its 4 MiB cap).
    """

    def __init__(self) -> None:
        self.had_numbers = False
        self.counter: int | None = None
        self.reading = ExporterReading()
        self._carry = b""  # the line the last chunk ended in

    def feed(self, chunk: bytes) -> None:
        """The next bytes of the answer."""
        text = self._carry + chunk
        end = text.rfind(b"\n") + 1
        self._lines(text[:end])
        rest = text[end:]
        # A cut line must not look like one that starts there: NUL is in no metric's name.
        self._carry = rest if len(rest) <= _LINE_LIMIT else b"\0" + rest[-_LINE_LIMIT:]

    def end(self) -> None:
        """The answer is complete (its last line may have no newline)."""
        self._lines(self._carry)
        self._carry = b""

    def _lines(self, block: bytes) -> None:
        self.reading.feed(block)
        if _NUMBERS_LINE in block:
            self.had_numbers = True
        if self.counter is None and block:
            self.counter = completed_scrapes(block)


def _totals(summary: Summary) -> tuple[int, int]:
    return summary.get("requests", 0), summary.get("failures", 0)


class TerminatedError(BaseException):
    """SIGTERM or SIGINT arrived: the pod is going away.

    A BaseException, like KeyboardInterrupt: raised from the signal handler wherever the
    finisher happens to be, it must not be taken for a failed HTTP read by the
    ``except Exception`` that guards those reads (it was, once: the finisher then waited out
    its whole TTL).
    """


def utc_now() -> str:
    """Wall-clock time as Kubernetes writes it."""
    return format_time(time.time())


@dataclass
class Progress:
    """What the finisher knows so far; the summary is made from it at any moment."""

    totals: Summary | None = None  # the last stats read, summarised (never the whole read)
    inherited: Summary | None = None  # an earlier worker's summary, until we read our own
    stats_at: str | None = None
    last_state: str = ""
    primed_totals: tuple[int, int] | None = None
    master_finished_at: str | None = None
    primed: bool = False  # a read of ours made the exporter hold Locust's latest totals
    exporter_answered: bool = False  # a priming read reached it, priming it or not
    priming_fault: Unconfirmable | None = None  # why the last priming read did not prime
    settling: Settling = field(default_factory=Settling)
    unconfirmable: Unconfirmable | None = None  # decided as the master exits
    most_workers: int = 0  # Locust drops each worker that reports it stopped: keep the most
    exporter_had_data: bool | None = None
    counter_missing: bool = False  # the exporter answered without promhttp's scrape counter
    waited: bool = False
    confirmed_at: str | None = None
    exporter: ExporterOutcome = ExporterOutcome.NOT_ENDED
    exporter_detail: str = ""  # why it was left running
    ledger: ScrapeLedger = field(default_factory=ScrapeLedger)
    notes: list[str] = field(default_factory=list)
    artifacts: ArtifactsEntry | None = None  # what became of Locust's artifacts, once handed over
    locust_version: str | None = None  # read once from Locust's web UI (locust_version.py)

    def summary(self) -> Summary:
        """The summary as of now."""
        summary: Summary = {}
        notes = list(self.notes)
        if self.totals is not None:
            summary = dict(self.totals)  # type: ignore[assignment]
        elif self.inherited is not None:
            for key in _STATS_KEYS:
                if key in self.inherited:
                    summary[key] = self.inherited[key]  # type: ignore[literal-required]
        else:
            notes.append("Locust's stats were never reachable: no totals")
        if self.most_workers > summary.get("workers", 0):
            summary["workers"] = self.most_workers
        if self.master_finished_at:
            summary["masterFinishedAt"] = self.master_finished_at
        if self.stats_at:
            summary["statsAt"] = self.stats_at
        final: FinalScrape = {
            "primed": self.primed,
            "scrapedDuringTest": self.ledger.scraped_before_priming,
            "waited": self.waited,
            "confirmed": self.confirmed_at is not None,
        }
        if self.confirmed_at:
            final["confirmedAt"] = self.confirmed_at
        if self.exporter_had_data is not None:
            final["exporterHadData"] = self.exporter_had_data
        if self.unconfirmable is not None:
            final["unconfirmable"] = self.unconfirmable
        summary["finalScrape"] = final
        summary["exporter"] = describe(self.exporter, self.exporter_detail)
        if self.artifacts is not None:
            summary["report"] = self.artifacts
        if self.locust_version is not None:
            summary["run"] = {"locustVersion": self.locust_version}
        if notes:
            summary["notes"] = notes
        return summary

    def note(self, text: str) -> None:
        """Remember something the user should know (once)."""
        note_once(self.notes, text)

    def known_totals(self) -> tuple[int, int] | None:
        """Locust's (requests, failures) as last read, by this worker or an earlier one."""
        for summary in (self.totals, self.inherited):
            if summary is not None and "requests" in summary:
                return _totals(summary)
        return None


# What a restarted worker keeps of its predecessor's summary until it reads Locust itself.
_STATS_KEYS = (
    "statsAt",
    "state",
    "requests",
    "failures",
    "failRatio",
    "avgMs",
    "medianMs",
    "p95Ms",
    "p99Ms",
    "maxMs",
    "rps",
    "users",
    "workers",
    "endpoints",
    "errors",
    "leftOut",
)


class Waiter:
    """Sleeps that SIGTERM cuts short, with an optional file descriptor to wake on."""

    def wait(self, seconds: float, fd: int | None = None) -> bool:
        """Sleep up to ``seconds``; True if ``fd`` became readable."""
        poller = select.poll()
        if fd is not None:
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if poller.poll(remaining * 1000):
                return True


class Finisher:
    """One worker's run of the finisher."""

    def __init__(
        self,
        config: FinisherConfig,
        known: Known | None = None,
        outbox: Outbox | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.clock = clock
        self.known = known or Known(started_at=clock())
        self.outbox = outbox or Outbox(None)
        self.progress = Progress(notes=list(self.known.notes))
        self.progress.inherited = decode_summary(self.known.summary)
        if self.progress.inherited is not None:
            self.progress.artifacts = self.progress.inherited.get("report")
            workers = self.progress.inherited.get("workers")
            if isinstance(workers, int):
                self.progress.most_workers = workers
            inherited_run = self.progress.inherited.get("run")
            if isinstance(inherited_run, dict):
                self.progress.locust_version = locust_version(inherited_run.get("locustVersion"))
        self._sent_summary = ""
        self.keeper = ArtifactKeeper(config)
        self._artifacts_totals: tuple[int, int] | None = None
        self._metrics_given_up = False  # an exporter's answer was past its cap
        self._version_reads = 0  # Locust's page read for its version (at most VERSION_READS)
        self._reading = ExporterReading()  # what the last answer of the exporter said of Locust

    def send_summary(self) -> None:
        """Hand the supervisor the summary as of now, if it changed."""
        encoded = encode_summary(self.progress.summary())
        if encoded != self._sent_summary:
            self._sent_summary = encoded
            self.outbox.send(SummarySoFar(encoded))

    # ----------------------------------------------------------------- the exporter

    def _read_exporter(self) -> int | None:
        """One read of the exporter's /metrics; the scrape counter it reports, if any."""
        exporter = self.config.exporter
        if exporter is None:
            return None
        scan = MetricsScan()
        try:
            status = exporter.stream("/metrics", scan.feed, limit=GET_LIMIT, seconds=GET_SECONDS)
        except ReadCapError as error:
            # It answered, so it holds the totals; only its scrapes cannot be counted, as
            # when it has no counter.
            log.info("exporter's /metrics given up: %s", error)
            self._metrics_given_up = True
            self.progress.counter_missing = True
            self.progress.note(
                f"the exporter's /metrics was given up ({error}): its scrapes could not be "
                "counted, so it was ended after the TTL"
            )
            return None
        except OSError as error:
            log.info("exporter not readable: %s", error)
            return None
        except Exception as error:  # http.client errors: a broken answer is no answer
            log.info("exporter answered badly: %s", error)
            return None
        if status != 200:
            return None
        scan.end()
        self._reading = scan.reading
        if scan.had_numbers:
            self.progress.exporter_had_data = True
        elif self.progress.exporter_had_data is None:
            self.progress.exporter_had_data = False
        if scan.counter is None:
            self.progress.counter_missing = True
        return scan.counter

    def _prime(self) -> bool:
        """One read that makes the exporter fetch and keep Locust's current totals.

        A read that finds Locust gone, or totals short of Locust's last known ones, primes
        nothing: False, and the reason is kept. Others' scrapes still count from it (they
        carry the most the exporter can hold).
        """
        self._reading = ExporterReading()
        counter = self._read_exporter()
        answered = counter is not None or self.progress.counter_missing
        if answered:
            self.progress.exporter_answered = True
            if counter is not None:
                self.progress.ledger.prime(counter)
            fault = reading_fault(self._reading, self.progress.known_totals())
            self.progress.priming_fault = fault
            if fault is not None:
                log.warning("exporter not primed: %s", explain(fault))
                return False
        if counter is None and self.progress.counter_missing:
            # It answered, so it now holds the totals; only its scrapes cannot be counted.
            self.progress.primed = True
            if not self._metrics_given_up:  # else its own note says why
                self.progress.note(
                    "the exporter does not count its scrapes (no promhttp counter): "
                    "no final scrape can be confirmed, so it was ended after the TTL"
                )
            return True
        if counter is None:
            self.progress.note("could not prime the exporter: it did not answer /metrics")
            return False
        self.progress.primed = True
        log.info(
            "exporter primed: it now holds Locust's latest totals (%d scrapes by others so far)",
            self.progress.ledger.latest_external,
        )
        return True

    def _check_scrapes(self) -> bool:
        """Read the counter; False if the exporter is gone."""
        counter = self._read_exporter()
        if counter is None:
            return self.config.exporter is not None and self.config.exporter.accepts_connections()
        self.progress.ledger.record_read(counter)
        if (
            self.progress.ledger.scraped_since_priming
            and self.progress.confirmed_at is None
            and self.progress.exporter_had_data
            and self.progress.primed
            and self.progress.unconfirmable is None
        ):
            self.progress.confirmed_at = utc_now()
            log.info("final scrape confirmed: someone scraped the exporter after priming")
        return True

    def _end_exporter(self, waiter: Waiter) -> None:
        progress = self.progress
        progress.exporter, progress.exporter_detail = end_exporter(self.config, waiter.wait)
        if progress.exporter is ExporterOutcome.LEFT_RUNNING:
            progress.note(LEFT_RUNNING_NOTE)

    # ----------------------------------------------------------------- the master

    def _read_stats(self) -> dict[str, Any] | None:
        """Locust's stats as the summary needs them, parsed as they stream; None if not read."""
        reader = StatsReader()
        try:
            status = self.config.locust.stream(
                "/stats/requests",
                reader.feed,
                limit=STATS_LIMIT,
                seconds=STATS_SECONDS,
                idle=STATS_SECONDS,
            )
            return reader.document() if status == 200 else None
        except (ReadCapError, StatsTooLargeError) as error:
            log.info("Locust's stats given up: %s", error)
            self.progress.note(
                f"Locust's stats were not read ({error}): the totals are from the last "
                "read that fit, if any"
            )
        except (OSError, ValueError) as error:
            log.info("Locust's stats not read: %s", error)
        except Exception as error:  # http.client errors: a broken answer is no answer
            log.info("Locust's stats answered badly: %s", error)
        return None

    def _poll_stats(self) -> None:
        started = self.clock()
        stats = self._read_stats()
        if stats is None:
            return
        progress = self.progress
        # Keep the summary only (of a read that kept only what the summary needs).
        progress.totals = summarize_stats(stats)
        progress.settling.read(progress.totals.get("state", ""), started, self.clock())
        progress.most_workers = max(progress.most_workers, progress.totals.get("workers", 0))
        for key, what in (("stats", "request names"), ("errors", "kinds of error")):
            listed = stats.get(key)
            if isinstance(listed, list) and len(listed) >= LOCUST_LISTS_AT_MOST:
                progress.note(
                    f"Locust's web UI lists at most {LOCUST_LISTS_AT_MOST} {what}, by name: "
                    "the summary's top entries are the largest of those"
                )
        del stats
        progress.stats_at = utc_now()
        progress.last_state = progress.totals.get("state", "")
        if progress.locust_version is None and self._version_reads < VERSION_READS:
            self._version_reads += 1  # Locust answers: its page says its version
            progress.locust_version = read_locust_version(self.config.locust)
        self.send_summary()
        if progress.last_state != "stopped":
            return
        # Workers report their last samples up to one report interval (3 s) after the
        # master says "stopped", so the totals may still grow: prime again whenever they do.
        totals = _totals(progress.totals)
        if self.config.exporter is not None and totals != progress.primed_totals:
            if progress.primed_totals is not None:
                log.info("totals grew after the stop to %s; priming the exporter again", totals)
            if self._prime():
                progress.primed_totals = totals
        # After priming, which the final scrape waits on; a big report takes Locust seconds.
        if totals != self._artifacts_totals:
            self.keeper.fetch()
            self._artifacts_totals = totals

    def _watch_master(self, master: Process, waiter: Waiter) -> None:
        pidfd = open_pidfd(master)
        try:
            next_poll = self.clock()
            while True:
                if pidfd is None and not still_running(master):
                    return
                if self.clock() >= next_poll:
                    self._poll_stats()
                    faults.point(self.config, "test")
                    interval = self.config.poll_seconds
                    if self.progress.last_state == "stopped":
                        interval = min(interval, STOPPED_POLL_SECONDS)
                    next_poll = self.clock() + interval
                timeout = max(next_poll - self.clock(), 0.0)
                if pidfd is None:
                    timeout = min(timeout, 1.0)
                if waiter.wait(timeout, pidfd):
                    return
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _master_exit(self, waiter: Waiter) -> float | None:
        """When the master exited (watching it first if it runs); None if it never started."""
        known, progress = self.known, self.progress
        if known.master_exited_at is not None:
            progress.master_finished_at = known.master_finished_at
            return known.master_exited_at
        if known.gave_up_at is not None:
            return None
        master: Process | None = None
        if (earlier := known_master(known)) is not None:
            if still_running(earlier):
                master = earlier
                log.info("still watching Locust master pid %d", earlier.pid)
            else:
                progress.note("the master exited while no worker watched: TTL counted from later")
        else:
            master = find_in_time(self.config, known, waiter.wait, self.clock)
            if master is None:
                known.gave_up_at = self.clock()
                self.outbox.send(GaveUp(known.gave_up_at))
                return None
            self.outbox.send(MasterFound(master.pid, master.start_ticks))
        if master is not None:
            self._watch_master(master, waiter)
        exited = self.clock()
        progress.master_finished_at = utc_now()
        self.outbox.send(MasterExited(exited, progress.master_finished_at))
        log.info("Locust master exited")
        return exited

    def _hand_over_artifacts(self) -> None:
        if self.progress.artifacts is None:  # else an earlier worker handed them over already
            self.progress.artifacts = self.keeper.hand_over().summary()
            self.send_summary()

    # ----------------------------------------------------------------- the whole run

    def run(self, waiter: Waiter) -> None:
        """Steps 1-4 of the module docstring, from wherever an earlier worker got to."""
        progress = self.progress
        if self.known.exporter is not None:
            progress.exporter = self.known.exporter
            progress.exporter_detail = self.known.exporter_detail
            return
        inherited_exit = self.known.master_exited_at is not None
        faults.point(self.config, "start")
        exited = self._master_exit(waiter)
        if exited is not None:
            # Before anything else ends: the controller records the verdict only after the
            # pod completes, so kept artifacts are always there before the verdict.
            self._hand_over_artifacts()
        if self.config.exporter is None:
            # Nothing keeps the pod up: the summary is all there is to do.
            if exited is None:
                progress.note("no Locust master process appeared: no totals")
            progress.exporter = ExporterOutcome.NO_EXPORTER
            return
        if exited is None:
            minutes = self.config.master_start_seconds / 60
            progress.note(
                f"no Locust master process appeared within {minutes:g} min: "
                "the exporter was ended after the TTL"
            )
            exited = self.known.gave_up_at or self.clock()
            wait_for_scrape = False
        else:
            if not progress.primed:
                if not inherited_exit and progress.last_state != "stopped":
                    progress.note(
                        "the master exited without Locust reporting 'stopped': totals may be short"
                    )
                self._prime()
            progress.unconfirmable = unconfirmable(
                progress.priming_fault, progress.settling.settled
            )
            if progress.unconfirmable is not None:
                log.warning(
                    "the final scrape cannot be confirmed: %s", explain(progress.unconfirmable)
                )
            if self.known.waits_for_scrape is not None:
                wait_for_scrape = self.known.waits_for_scrape
            else:
                wait_for_scrape = waits_for_scrape(
                    self.config.settings.wait_for_scrape, progress.ledger.scraped_before_priming
                )
                self.outbox.send(ScrapeWaitDecided(wait_for_scrape))
        self.send_summary()
        deadline = ExporterDeadline(exited, self.config.settings, wait_for_scrape)
        progress.waited = wait_for_scrape
        exporter_alive = True
        while True:
            faults.point(self.config, "scrape" if wait_for_scrape else "ttl")
            # Read the counter before deciding: a scrape during Locust's autoquit window
            # ends the exporter the moment the master exits.
            if wait_for_scrape and progress.exporter_answered:
                exporter_alive = self._check_scrapes()
            reason = deadline.decide(
                self.clock(), progress.ledger.scraped_since_priming, not progress.counter_missing
            )
            if reason is not None or not exporter_alive:
                break
            pause = self.config.wait_check_seconds
            if not wait_for_scrape:
                pause = deadline.earliest_end - self.clock()
            waiter.wait(max(min(pause, deadline.latest_end - self.clock()), 0.0))
        if not wait_for_scrape and progress.exporter_answered:
            self._check_scrapes()  # report whether Prometheus happened to scrape anyway
        if progress.exporter_had_data is False:
            progress.note(
                "the exporter held no numbers from Locust (its web UI behind a login, or "
                "under --web-base-path?): a scrape could not carry the final numbers"
            )
        elif progress.unconfirmable is not None:
            progress.note(f"no final scrape could be confirmed: {explain(progress.unconfirmable)}")
        elif wait_for_scrape and progress.confirmed_at is None and not progress.counter_missing:
            progress.note(
                "no final scrape seen within max-wait: raise locust-finisher.io/max-wait "
                "or check that Prometheus scrapes this pod"
            )
        self._end_exporter(waiter)
        self.outbox.send(ExporterEnded(progress.exporter, progress.exporter_detail))

    def write_summary(self) -> None:
        """The summary to the termination log, and one line for humans."""
        encoded = write_summary(self.config.termination_log, self.progress.summary())
        self.outbox.send(Done(encoded))


def _raise_oom_score() -> None:
    try:
        OOM_SCORE_ADJ.write_text("1000")
    except OSError as error:
        log.info("could not raise the worker's OOM score: %s", error)


def run_worker(config: FinisherConfig, known: Known, outbox_fd: int | None) -> int:
    """One worker: 0 once the summary is written, :data:`WORKER_FAILED` on a bug of ours."""
    _raise_oom_score()
    finisher = Finisher(config, known, Outbox(outbox_fd))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise TerminatedError

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        finisher.run(Waiter())
    except TerminatedError:
        finisher.progress.note("the pod is terminating: stopped early")
        if finisher.progress.exporter is ExporterOutcome.NOT_ENDED:
            finisher.progress.exporter = ExporterOutcome.POD_TERMINATING
    except Exception as error:  # a bug of ours: the supervisor starts a new worker
        log.exception("unexpected error in the finisher's worker")
        finisher.outbox.send(WorkerFailed(f"{type(error).__name__}: {str(error)[:120]}"))
        return WORKER_FAILED
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    finisher.write_summary()
    return 0
