"""The fault campaign's switch: off unless asked, one worker only, and the supervisor knows."""

import os

import pytest

from app.finisher.faults import FAULT_ENV, Fault, InjectedFaultError, inject, read_fault
from app.finisher.handoff import Inbox, Known, Reporter


def test_no_fault_unless_a_known_phase_and_kind_are_asked_for() -> None:
    assert read_fault({}) is None
    assert read_fault({FAULT_ENV: "ttl"}) is None
    assert read_fault({FAULT_ENV: "ttl:explode"}) is None
    assert read_fault({FAULT_ENV: "ttl:oom"}) == Fault("ttl", "oom")


def test_a_fault_fires_in_its_phase_once_and_the_supervisor_hears_of_it() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    worker_known, supervisor_known = Known(), Known()
    reporter = Reporter(write_fd)
    fault = Fault("test", "crash")
    inject(fault, "start", worker_known, reporter)  # another phase: nothing
    with pytest.raises(InjectedFaultError):
        inject(fault, "test", worker_known, reporter)
    Inbox(read_fd, supervisor_known).read()
    assert supervisor_known.faults_fired == 1
    # A worker forked after it starts from what the supervisor knows: no second fault.
    inject(fault, "test", supervisor_known, reporter)
    os.close(read_fd)
    os.close(write_fd)
