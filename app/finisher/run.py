"""``locust-finisher finish``: end the exporter once the test is over and scraped.

The sequence (see docs/design.md for the reasoning):

1. say "ready" for the postStart gate, then find the Locust master process;
2. while it runs, keep Locust's latest stats; when Locust reports ``stopped``, prime the
   exporter (one read of its /metrics makes it fetch and keep the final numbers) and note
   whether anyone else scraped it during the test;
3. after the master exits, keep the exporter up for the TTL, and for a final scrape by
   someone else when that is asked for, up to max-wait;
4. end the exporter (``/quitquitquit``; a native sidecar is left to kubelet), write the
   summary to the termination log, exit 0.

Nothing the user's test does makes it exit non-zero; SIGTERM ends it within a second,
writing what it knows.
"""

import contextlib
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from app.core.finish_plan import ExporterDeadline, waits_for_scrape
from app.core.scrapes import ScrapeLedger, completed_scrapes
from app.core.summary import FinalScrape, Summary, encode_summary, headline, summarize_stats
from app.core.timestamps import format_time
from app.finisher.config import FinisherConfig
from app.finisher.processes import Process, find_master, open_pidfd, still_running
from app.finisher.readiness import announce_ready

log = logging.getLogger(__name__)

QUIT_ATTEMPTS = 3
# After the stop, Locust's totals settle within a worker report interval (3 s) plus its
# stats cache (2 s); reading every second catches the last change well within --autoquit.
STOPPED_POLL_SECONDS = 1.0


def _totals(stats: dict[str, Any]) -> tuple[int, int]:
    """(requests, failures) of a /stats/requests document's aggregated row."""
    summary = summarize_stats(stats, top=0)
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

    stats: dict[str, Any] | None = None
    stats_at: str | None = None
    last_state: str = ""
    primed_totals: tuple[int, int] | None = None
    master_finished_at: str | None = None
    primed: bool = False
    waited: bool = False
    confirmed_at: str | None = None
    exporter: str = "not ended"
    ledger: ScrapeLedger = field(default_factory=ScrapeLedger)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> Summary:
        """The summary as of now."""
        summary: Summary = summarize_stats(self.stats) if self.stats is not None else {}
        notes = list(self.notes)
        if self.stats is None:
            notes.append("Locust's stats were never reachable: no totals")
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
        summary["finalScrape"] = final
        summary["exporter"] = self.exporter
        if notes:
            summary["notes"] = notes
        return summary

    def note(self, text: str) -> None:
        """Remember something the user should know (once)."""
        if text not in self.notes:
            self.notes.append(text)


class Waiter:
    """Sleeps that SIGTERM cuts short, with an optional file descriptor to wake on."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener

    def wait(self, seconds: float, fd: int | None = None) -> bool:
        """Sleep up to ``seconds``; True if ``fd`` became readable."""
        poller = select.poll()
        if fd is not None:
            poller.register(fd, select.POLLIN)
        poller.register(self.listener.fileno(), select.POLLIN)
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            events = poller.poll(remaining * 1000)
            for ready_fd, _ in events:
                if ready_fd == fd:
                    return True
                # A postStart probe connected: accept and close, so the backlog stays empty.
                with contextlib.suppress(OSError):
                    self.listener.accept()[0].close()


class Finisher:
    """One run of the finisher."""

    def __init__(self, config: FinisherConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.progress = Progress()

    # ----------------------------------------------------------------- the exporter

    def _read_exporter(self) -> int | None:
        """One read of the exporter's /metrics; the scrape counter it reports, if any."""
        try:
            status, body = self.config.exporter.get("/metrics")
        except OSError as error:
            log.info("exporter not readable: %s", error)
            return None
        except Exception as error:  # http.client errors: a broken answer is no answer
            log.info("exporter answered badly: %s", error)
            return None
        if status != 200:
            return None
        return completed_scrapes(body.decode(errors="replace"))

    def _prime(self) -> bool:
        """One read that makes the exporter fetch and keep Locust's current totals."""
        counter = self._read_exporter()
        if counter is None:
            self.progress.note("could not prime the exporter: it did not answer /metrics")
            return False
        self.progress.ledger.prime(counter)
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
            return self.config.exporter.accepts_connections()
        self.progress.ledger.record_read(counter)
        if self.progress.ledger.scraped_since_priming and self.progress.confirmed_at is None:
            self.progress.confirmed_at = utc_now()
            log.info("final scrape confirmed: someone scraped the exporter after priming")
        return True

    def _end_exporter(self, waiter: Waiter) -> None:
        if self.config.exporter_sidecar:
            self.progress.exporter = "left to kubelet (native sidecar)"
            return
        for attempt in range(1, QUIT_ATTEMPTS + 1):
            outcome, detail = self.config.exporter.quit()
            if outcome == "gone":
                self.progress.exporter = "quit" if attempt > 1 else "already gone"
                return
            if outcome == "quit":
                for _ in range(20):
                    if not self.config.exporter.accepts_connections(timeout=0.2):
                        self.progress.exporter = "quit"
                        return
                    waiter.wait(0.05)
            log.warning("exporter did not stop (attempt %d): %s", attempt, detail)
            waiter.wait(0.5 * attempt)
        self.progress.exporter = f"left running: {detail}"
        self.progress.note("the exporter would not stop; the controller's fallback may end it")

    # ----------------------------------------------------------------- the master

    def _find_master(self, waiter: Waiter) -> Process:
        announced = False
        while True:
            master = find_master(self.config.master_pattern)
            if master is not None:
                log.info("watching Locust master pid %d: %s", master.pid, master.command_line[:200])
                return master
            if not announced:
                log.info("waiting for the Locust master process to appear")
                announced = True
            waiter.wait(0.5)

    def _poll_stats(self) -> None:
        stats = self.config.locust.get_json("/stats/requests")
        if stats is None:
            return
        progress = self.progress
        progress.stats = stats
        progress.stats_at = utc_now()
        progress.last_state = str(stats.get("state", ""))
        if progress.last_state != "stopped":
            return
        # Workers report their last samples up to one report interval (3 s) after the
        # master says "stopped", so the totals may still grow: prime again whenever they do.
        totals = _totals(stats)
        if totals != progress.primed_totals:
            if progress.primed_totals is not None:
                log.info("totals grew after the stop to %s; priming the exporter again", totals)
            if self._prime():
                progress.primed_totals = totals

    def _watch_master(self, master: Process, waiter: Waiter) -> None:
        pidfd = open_pidfd(master)
        try:
            next_poll = self.clock()
            while True:
                if pidfd is None and not still_running(master):
                    return
                if self.clock() >= next_poll:
                    self._poll_stats()
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

    # ----------------------------------------------------------------- the whole run

    def run(self, waiter: Waiter) -> None:
        """Steps 1-4 of the module docstring (readiness is announced by the caller)."""
        progress = self.progress
        master = self._find_master(waiter)
        self._watch_master(master, waiter)
        exited = self.clock()
        progress.master_finished_at = utc_now()
        log.info("Locust master exited")
        if not progress.primed:
            progress.note(
                "the master exited without Locust reporting 'stopped': totals may be short"
            )
            self._prime()
        wait_for_scrape = waits_for_scrape(
            self.config.settings.wait_for_scrape, progress.ledger.scraped_before_priming
        )
        deadline = ExporterDeadline(exited, self.config.settings, wait_for_scrape)
        progress.waited = wait_for_scrape
        exporter_alive = True
        while True:
            reason = deadline.decide(self.clock(), progress.ledger.scraped_since_priming)
            if reason is not None or not exporter_alive:
                break
            if wait_for_scrape and progress.primed:
                exporter_alive = self._check_scrapes()
            pause = self.config.wait_check_seconds
            if not wait_for_scrape:
                pause = deadline.earliest_end - self.clock()
            waiter.wait(max(min(pause, deadline.latest_end - self.clock()), 0.0))
        if not wait_for_scrape and progress.primed:
            self._check_scrapes()  # report whether Prometheus happened to scrape anyway
        if wait_for_scrape and progress.confirmed_at is None:
            progress.note(
                "no final scrape seen within max-wait: raise locust-finisher.io/max-wait "
                "or check that Prometheus scrapes this pod"
            )
        self._end_exporter(waiter)

    def write_summary(self) -> None:
        """The summary to the termination log, and one line for humans."""
        summary = self.progress.summary()
        encoded = encode_summary(summary)
        try:
            self.config.termination_log.write_text(encoded)
        except OSError as error:
            log.warning("summary not written to %s: %s", self.config.termination_log, error)
        final = summary["finalScrape"]
        scrape = (
            f"final scrape confirmed at {final['confirmedAt']}"
            if final["confirmed"]
            else "final scrape not confirmed"
        )
        print(
            f"locust-finisher: {headline(summary) if 'requests' in summary else 'no totals'}; "
            f"{scrape}; exporter {summary['exporter']}",
            flush=True,
        )


def run_finisher(config: FinisherConfig) -> int:
    """Run until done or SIGTERM; always exit 0 (the user's verdict is the master's)."""
    finisher = Finisher(config)
    listener = announce_ready()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise TerminatedError

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    described = config.settings.describe()
    log.info(
        "ready: ttl %s, wait-for-scrape %s, max-wait %s, exporter %s:%d%s",
        described["ttl"],
        described["waitForScrape"],
        described["maxWait"],
        config.exporter.host,
        config.exporter.port,
        " (native sidecar)" if config.exporter_sidecar else "",
    )
    try:
        finisher.run(Waiter(listener))
    except TerminatedError:
        finisher.progress.note("the pod is terminating: stopped early")
        if finisher.progress.exporter == "not ended":
            finisher.progress.exporter = "left to kubelet (pod terminating)"
    except Exception as error:  # a bug of ours must not fail the user's pod
        log.exception("unexpected error; the exporter is left as it is")
        finisher.progress.note(f"finisher error: {type(error).__name__}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        finisher.write_summary()
        listener.close()
    return 0
