"""The postStart gate is per pod, even where pods share the node's network (hostNetwork)."""

import argparse
import os
from pathlib import Path

import pytest

from app.core import env_names
from app.core.summary import decode_summary
from app.finisher import readiness, run
from app.finisher.config import FinisherConfig, add_arguments, resolve
from app.finisher.fallback import write_known_summary
from app.finisher.handoff import Done, Known, Outbox
from app.finisher.supervisor import supervise


def test_each_container_has_its_own_gate_in_a_shared_network_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Two finisher containers of two hostNetwork pods: one network namespace, two mount
    # namespaces (played here by two links).
    monkeypatch.delenv(env_names.ENV_READY_SOCKET, raising=False)
    pod_a, pod_b = f"{tmp_path}/a", f"{tmp_path}/b"
    os.symlink("mnt:[4026532001]", pod_a)
    os.symlink("mnt:[4026532002]", pod_b)
    monkeypatch.setattr(readiness, "NAMESPACE_LINK", pod_a)
    first = readiness.announce_ready()
    try:
        monkeypatch.setattr(readiness, "NAMESPACE_LINK", pod_b)
        # With one name for all, pod B's hook was answered by pod A's finisher, and pod B's
        # finisher could not listen at all.
        assert readiness.await_ready(0.2) is False, "pod B's gate is not answered by pod A"
        second = readiness.announce_ready()
        try:
            assert readiness.await_ready(1.0) is True
        finally:
            second.close()
    finally:
        first.close()


def test_the_hook_and_the_finisher_of_one_container_agree_on_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(env_names.ENV_READY_SOCKET, raising=False)
    name = readiness.socket_name()
    assert name.startswith(readiness.DEFAULT_NAME + ".")
    assert name == readiness.socket_name()


def test_a_gate_that_cannot_listen_still_lets_the_finisher_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def worker(config: FinisherConfig, known: Known, fd: int) -> int:
        write_known_summary(config, known)
        Outbox(fd).send(Done())
        return 0

    monkeypatch.setattr(run, "run_worker", worker)
    monkeypatch.setenv(env_names.ENV_READY_SOCKET, f"test-taken-{os.getpid()}")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = resolve(parser.parse_args(["--termination-log", str(tmp_path / "log")]), {})
    taken = readiness.announce_ready()  # another pod's finisher, before the fix
    try:
        assert supervise(config) == 0
    finally:
        taken.close()
    summary = decode_summary((tmp_path / "log").read_text())
    assert summary is not None
    assert any("the readiness gate could not listen" in note for note in summary["notes"])
