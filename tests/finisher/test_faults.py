"""The fault campaign's switch: off unless asked, read once, fires in its phase, once."""

import argparse
from pathlib import Path

import pytest

from app.core.env_names import ENV_FAULT
from app.finisher import supervisor as supervisor_module
from app.finisher.config import FinisherConfig, add_arguments, resolve
from app.finisher.faults import Fault, InjectedFaultError, point, read_fault
from app.finisher.handoff import Done, Known, Outbox


def config(tmp_path: Path, env: dict[str, str]) -> FinisherConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return resolve(parser.parse_args(["--termination-log", str(tmp_path / "log")]), env)


def test_no_fault_unless_a_known_phase_and_kind_are_asked_for() -> None:
    assert read_fault({}) is None
    assert read_fault({ENV_FAULT: "ttl"}) is None
    assert read_fault({ENV_FAULT: "ttl:explode"}) is None
    assert read_fault({ENV_FAULT: "ttl:oom"}) == Fault("ttl", "oom")


def test_the_fault_is_read_once_with_the_rest_of_the_config(tmp_path: Path) -> None:
    assert config(tmp_path, {}).fault is None
    assert config(tmp_path, {ENV_FAULT: "test:crash"}).fault == Fault("test", "crash")


def test_a_fault_fires_in_its_phase_only(tmp_path: Path) -> None:
    armed = config(tmp_path, {ENV_FAULT: "test:crash"})
    point(armed, "start")  # another phase: nothing
    with pytest.raises(InjectedFaultError):
        point(armed, "test")


def test_only_the_first_worker_is_hurt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = tmp_path / "seen"  # workers are forked: each says what it was armed with here

    def worker(config: FinisherConfig, known: Known, fd: int) -> int:
        with seen.open("a") as out:
            out.write(f"{config.fault}\n")
        point(config, "start")  # the first worker crashes here
        Outbox(fd).send(Done())
        return 0

    monkeypatch.setattr("app.finisher.run.run_worker", worker)
    monkeypatch.setattr(supervisor_module, "BACKOFF_SECONDS", (0.0, 0.0, 0.0))
    monkeypatch.setenv("LOCUST_FINISHER_READY_SOCKET", f"test-fault-gate-{tmp_path.name}")
    assert supervisor_module.supervise(config(tmp_path, {ENV_FAULT: "start:crash"})) == 0
    assert seen.read_text().splitlines() == [str(Fault("start", "crash")), "None"]
