"""One logging set-up for every command: text or JSON, and the pod named on lines about it."""

import json
import logging

import pytest

from app.cli.main import build_parser
from app.logs import pod_log, setup_logging


@pytest.fixture(autouse=True)
def _restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:], root.level = handlers, level


def test_json_lines_carry_the_pod_and_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", "json")
    pod_log(logging.getLogger("app.controller.controller"), "loadtests", "t-master-x").info(
        "verdict %s recorded", "passed", extra={"action": "verdict"}
    )
    line = json.loads(capsys.readouterr().err)
    assert line["message"] == "verdict passed recorded"
    assert (line["namespace"], line["pod"], line["action"]) == (
        "loadtests",
        "t-master-x",
        "verdict",
    )
    assert (line["level"], line["logger"]) == ("info", "app.controller.controller")
    assert line["time"].endswith("Z")


def test_text_lines_name_the_pod_before_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", "text")
    pod_log(logging.getLogger("app.webhook.handler"), "loadtests", "t-master-").info("mutate: x")
    assert " INFO app.webhook.handler: loadtests/t-master-: mutate: x" in capsys.readouterr().err


def test_debug_lines_are_dropped_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", "text")
    logging.getLogger("app").debug("noise")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-format", "json", "controller"],
        ["controller", "--log-format", "json"],
    ],
)
def test_the_log_flags_work_before_and_after_the_subcommand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.log_format, args.log_level) == ("json", "info")


def test_the_subcommand_flag_wins_over_the_global_one() -> None:
    args = build_parser().parse_args(
        ["--log-level", "error", "wait", "--job", "j", "--log-level", "debug"]
    )
    assert args.log_level == "debug"
