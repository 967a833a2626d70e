"""SIGTERM is not an HTTP error: the finisher's guarded reads must let it through."""

import argparse

import pytest

from app.finisher.config import add_arguments, resolve
from app.finisher.http import Endpoint
from app.finisher.run import Finisher, TerminatedError


@pytest.fixture
def finisher() -> Finisher:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return Finisher(resolve(parser.parse_args([]), {}))


def test_a_sigterm_during_an_exporter_read_ends_the_wait(
    finisher: Finisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: Endpoint, path: str, *args: object, **caps: object) -> int:
        raise TerminatedError  # what the SIGTERM handler raises, wherever we are

    monkeypatch.setattr(Endpoint, "stream", interrupted)
    with pytest.raises(TerminatedError):
        finisher._read_exporter()


def test_a_broken_exporter_answer_is_still_no_answer(
    finisher: Finisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Endpoint, path: str, *args: object, **caps: object) -> int:
        raise ValueError("garbled status line")

    monkeypatch.setattr(Endpoint, "stream", broken)
    assert finisher._read_exporter() is None
