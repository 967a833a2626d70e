"""The worker-to-supervisor messages: typed at both ends, and nothing misspelt gets through."""

import os

import pytest

from app.core.exporter_outcome import ExporterOutcome
from app.finisher.handoff import (
    Done,
    ExporterEnded,
    HandoffError,
    Inbox,
    Known,
    MasterExited,
    MasterFound,
    Outbox,
    decode,
    encode,
)


def test_each_message_comes_back_as_it_was_sent() -> None:
    for message in (
        MasterFound(42, 7),
        MasterExited(12.5, "2026-01-01T00:00:00Z"),
        ExporterEnded(ExporterOutcome.LEFT_RUNNING, "HTTP 500"),
        Done("{}"),
        Done(),
    ):
        assert decode(encode(message)) == message
    ended = decode(encode(ExporterEnded(ExporterOutcome.QUIT)))
    assert isinstance(ended, ExporterEnded)
    assert ended.outcome is ExporterOutcome.QUIT


@pytest.mark.parametrize(
    "line",
    [
        b'{"kind":"MasterExited","at":12.5,"finishedAt":"t"}',  # misspelt: finished_at
        b'{"kind":"MasterExited","at":12.5}',  # a field missing
        b'{"kind":"MasterExitted","at":12.5,"finished_at":"t"}',  # an unknown kind
        b'{"at":12.5,"finished_at":"t"}',  # no kind
        b'{"kind":"MasterFound","pid":"42","start_ticks":7}',  # a wrong type
        b'{"kind":"ExporterEnded","outcome":"exploded","detail":""}',  # not an outcome
    ],
)
def test_a_message_that_is_not_exactly_ours_is_refused(line: bytes) -> None:
    with pytest.raises(HandoffError):
        decode(line)


def test_a_misspelt_field_is_refused_by_the_supervisor_and_said() -> None:
    read_fd, write_fd = os.pipe()
    known = Known()
    inbox = Inbox(read_fd, known)
    # What the old receiver dropped without a word: the master's exit, misspelt.
    os.write(write_fd, b'{"kind":"MasterExited","at":12.5,"finishedAt":"t"}\n')
    Outbox(write_fd).send(MasterFound(42, 7))
    os.close(write_fd)
    assert inbox.read()
    os.close(read_fd)
    assert known.master_exited_at is None
    assert known.master == (42, 7), "the next message still gets through"
    assert any("refused" in note and "finishedAt" in note for note in known.notes)
