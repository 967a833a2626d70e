"""A restarted worker picks up where the test is, and the supervisor always ends with 0."""

import argparse
import dataclasses
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.exporter_outcome import ExporterOutcome
from app.core.summary import decode_summary
from app.finisher import run as worker_module
from app.finisher import state as state_module
from app.finisher import supervisor as supervisor_module
from app.finisher.config import FinisherConfig, add_arguments, resolve
from app.finisher.handoff import Inbox, Known, MasterExited, MasterFound, Outbox
from app.finisher.http import Endpoint
from app.finisher.run import Finisher, Waiter


def config(tmp_path: Path, **env: str) -> FinisherConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    # Nothing listens on port 9 here: the exporter is "already gone". The pattern keeps this
    # machine's own processes out.
    args = parser.parse_args(
        [
            "--termination-log",
            str(tmp_path / "termination-log"),
            "--exporter-url",
            "http://127.0.0.1:9",
            "--master-pattern",
            "^no such master$",
        ]
    )
    return resolve(args, env)


def test_the_pipe_carries_whole_messages_whatever_the_chunks() -> None:
    read_fd, write_fd = os.pipe()
    known = Known()
    inbox = Inbox(read_fd, known)
    outbox = Outbox(write_fd)
    outbox.send(MasterFound(42, 7))
    outbox.send(MasterExited(12.5, "t"))
    os.write(write_fd, b'{"kind":"ExporterEnded","outcome":"qu')
    assert inbox.read()
    assert (known.master, known.master_exited_at, known.exporter) == ((42, 7), 12.5, None)
    os.write(write_fd, b'it"}\n')
    os.close(write_fd)
    assert inbox.read()
    assert known.exporter == "quit"
    assert inbox.read() is False, "the worker's end closed"
    os.close(read_fd)


def test_a_restarted_worker_counts_the_ttl_from_the_masters_real_exit(tmp_path: Path) -> None:
    known = Known(started_at=time.monotonic())
    known.master_exited_at = time.monotonic() - 1.0
    known.master_finished_at = "2026-01-01T00:00:00Z"
    finisher = Finisher(config(tmp_path, LOCUST_FINISHER_TTL="3s"), known)
    started = time.monotonic()
    finisher.run(Waiter())
    assert 1.5 <= time.monotonic() - started < 3.0, "2 s of the TTL were left, not 3"
    assert finisher.progress.summary()["masterFinishedAt"] == "2026-01-01T00:00:00Z"
    assert finisher.progress.exporter == "already gone"


def test_a_worker_restarted_after_the_exporter_ended_only_writes_the_summary(
    tmp_path: Path,
) -> None:
    known = Known(started_at=time.monotonic(), exporter=ExporterOutcome.QUIT)
    known.summary = json.dumps({"version": 1, "requests": 7, "failures": 1})
    finisher = Finisher(config(tmp_path, LOCUST_FINISHER_TTL="1h"), known)
    started = time.monotonic()
    finisher.run(Waiter())
    finisher.write_summary()
    assert time.monotonic() - started < 1
    summary = decode_summary((tmp_path / "termination-log").read_text())
    assert summary is not None
    assert (summary["requests"], summary["exporter"]) == (7, "quit")


def test_an_exporter_without_numbers_never_confirms_a_final_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the exporter says when Locust is behind a login: no per-request numbers, and a
    # scrape counter that others (Prometheus) keep raising.
    reads = iter(range(1, 100))

    def metrics(self: object, path: str, sink: Callable[[bytes], object], **caps: float) -> int:
        count = next(reads) * 2
        sink(
            f'locust_up 0\npromhttp_metric_handler_requests_total{{code="200"}} {count}\n'.encode()
        )
        return 200

    monkeypatch.setattr(Endpoint, "stream", metrics)
    known = Known(started_at=time.monotonic())
    known.master_exited_at = time.monotonic()
    finisher = Finisher(
        config(
            tmp_path,
            LOCUST_FINISHER_TTL="0s",
            LOCUST_FINISHER_WAIT_FOR_SCRAPE="true",
            LOCUST_FINISHER_MAX_WAIT="1s",
        ),
        known,
    )
    finisher.config = dataclasses.replace(finisher.config, wait_check_seconds=0.1)
    finisher.run(Waiter())
    final = finisher.progress.summary()["finalScrape"]
    assert final["exporterHadData"] is False
    assert final["confirmed"] is False
    assert any("held no numbers from Locust" in note for note in finisher.progress.notes)


def test_workers_that_keep_dying_end_in_a_plain_ttl_and_exit_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(*args: object) -> int:
        os.kill(os.getpid(), signal.SIGKILL)
        return 0

    monkeypatch.setattr(worker_module, "run_worker", dies)
    monkeypatch.setattr(supervisor_module, "BACKOFF_SECONDS", (0.0, 0.0, 0.0))
    monkeypatch.setenv("LOCUST_FINISHER_READY_SOCKET", f"test-gate-{os.getpid()}")
    settings = config(
        tmp_path, LOCUST_FINISHER_TTL="0s", LOCUST_FINISHER_MASTER_START_TIMEOUT="0.5s"
    )
    assert supervisor_module.supervise(settings) == 0
    summary = decode_summary((tmp_path / "termination-log").read_text())
    assert summary is not None
    notes = summary["notes"]
    assert notes.count("the finisher's worker was killed by SIGKILL (out of memory?)") == 1
    assert "the finisher fell back to a plain TTL: no final-scrape wait" in notes
    assert any("no Locust master process appeared" in note for note in notes)
    assert summary["exporter"] == "already gone"


def _container(settings: FinisherConfig) -> int:
    """Run the finisher as a container would: in a process of its own; its wait status."""
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = supervisor_module.supervise(settings)
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


def test_a_container_killed_as_a_whole_resumes_from_its_kept_state_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCUST_FINISHER_READY_SOCKET", f"test-gate-{os.getpid()}")
    state = tmp_path / "state"
    state.mkdir()
    env = {
        "LOCUST_FINISHER_TTL": "0s",
        "LOCUST_FINISHER_MASTER_START_TIMEOUT": "0.5s",
        "LOCUST_FINISHER_STATE_DIR": str(state),
        # What cgroup v2 does on an OOM: SIGKILL to the supervisor and its worker at once.
        "LOCUST_FINISHER_FAULT": "start:group",
    }
    first = _container(config(tmp_path, **env))
    assert os.WIFSIGNALED(first)
    assert os.WTERMSIG(first) == signal.SIGKILL, "the container ends as with exit code 137"
    assert not (tmp_path / "termination-log").exists()

    # The kubelet starts the container again, with the same environment and volume.
    again = _container(config(tmp_path, **env))
    assert os.waitstatus_to_exitcode(again) == 0
    summary = decode_summary((tmp_path / "termination-log").read_text())
    assert summary is not None
    assert supervisor_module.RESTARTED_NOTE in summary["notes"]
    assert summary["exporter"] == "already gone"
    kept = Known()
    assert state_module.load(state, kept)
    assert (kept.container_starts, kept.done) == (3, True), "two starts, read as a third"


def test_a_container_killed_again_and_again_finishes_plainly_without_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCUST_FINISHER_READY_SOCKET", f"test-gate-{os.getpid()}")

    def never(*args: object) -> int:
        raise AssertionError("a worker was started")

    monkeypatch.setattr(worker_module, "run_worker", never)
    state = tmp_path / "state"
    state.mkdir()
    earlier = Known(container_starts=supervisor_module.MAX_CONTAINER_STARTS - 1)
    earlier.apply(MasterExited(time.monotonic(), "2026-12-07T04:00:00Z"))
    state_module.save(state, earlier)
    settings = config(tmp_path, LOCUST_FINISHER_TTL="0s", LOCUST_FINISHER_STATE_DIR=str(state))
    assert os.waitstatus_to_exitcode(_container(settings)) == 0
    summary = decode_summary((tmp_path / "termination-log").read_text())
    assert summary is not None
    assert summary["masterFinishedAt"] == "2026-12-07T04:00:00Z"
    assert "the finisher fell back to a plain TTL: no final-scrape wait" in summary["notes"]


def test_kept_state_that_is_not_ours_is_set_aside_and_said(tmp_path: Path) -> None:
    (tmp_path / state_module.STATE_FILE).write_text('{"kind":"Rumour","text":"x"}\n')
    known = Known()
    assert state_module.load(tmp_path, known) is False
    assert known.container_starts == 1
    assert any("kept state was refused" in note for note in known.notes)
    (tmp_path / state_module.STATE_FILE).write_bytes(b"x" * (state_module.MAX_STATE_BYTES + 1))
    assert state_module.load(tmp_path, known) is False
    assert "the finisher's kept state was too big: started afresh" in known.notes
