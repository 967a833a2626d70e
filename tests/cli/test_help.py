"""Every command's ``--help`` is shown: a user's first look at a command must never crash."""

import argparse

import pytest

from app.cli.parser import build_parser


def commands() -> list[str]:
    parser = build_parser()
    found = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(found.choices)


@pytest.mark.parametrize("command", commands())
def test_every_commands_help_is_shown(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        build_parser().parse_args([command, "--help"])
    assert ended.value.code == 0
    assert capsys.readouterr().out.startswith("usage: locust-finisher ")
