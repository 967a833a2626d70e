"""What the webhook could not use reaches a person: the status annotation, and from it, Events.

An admission warning goes to the pod's creator, for a Job's pod the Job controller; so the
same warnings are kept in the status annotation, where the controller finds them.
"""

import dataclasses
import json
import logging
from typing import Any

import orjson
import pytest

from app.cli.main import main
from app.core import names
from app.core.classify import LocustMaster, classify_pod
from app.core.cluster_config import InjectionConfig
from app.core.inject import mutate_pod
from app.core.injection_status import InjectionStatus, read_status
from app.core.reconcile import AnnounceVerdict, AnnounceWarnings, plan
from app.core.setting_warnings import (
    MAX_GIVEN,
    MAX_WARNINGS,
    SettingWarning,
    WarningReason,
    read_warnings,
)
from app.core.settings import DEFAULT_SETTINGS
from app.webhook.handler import handle_review
from testkit.pod_fixtures import POD_FIXTURES, load_pod, pod_review
from tests.unit.test_reconcile import EXIT, facts

IGNORED = WarningReason.SETTING_IGNORED
NO_NUMBERS = WarningReason.NO_NUMBERS


def status_of(pod: dict[str, Any]) -> InjectionStatus:
    mutation = mutate_pod(pod, InjectionConfig())
    assert mutation.status is not None, mutation.reason
    status = read_status({names.STATUS_ANNOTATION: mutation.status})
    assert status is not None
    return status


def test_each_bad_annotation_is_in_the_status_with_its_value_and_what_was_used() -> None:
    pod = load_pod("annotated-master-bad-values")
    status = status_of(pod)
    described = [(w.reason, w.setting, w.given, w.instead) for w in status.warnings]
    assert described == [
        (IGNORED, names.TTL_ANNOTATION, "soon", "using the default auto"),
        (IGNORED, names.WAIT_FOR_SCRAPE_ANNOTATION, "maybe", "using the default auto"),
        (IGNORED, names.MAX_WAIT_ANNOTATION, "-5m", "using the default 5m"),
    ]
    # One source: the admission warnings are these very lines.
    assert mutate_pod(pod, InjectionConfig()).warnings == [w.text for w in status.warnings]


def test_a_pod_without_warnings_has_a_status_as_before_them() -> None:
    mutation = mutate_pod(load_pod("annotated-master"), InjectionConfig())
    assert mutation.warnings == []
    assert mutation.status is not None
    assert "warnings" not in json.loads(mutation.status)


def test_a_bad_port_of_the_master_is_in_the_status_too() -> None:
    pod = load_pod("annotated-master")
    pod["spec"]["containers"][0]["args"][-1] = "http"
    [warning] = status_of(pod).warnings
    assert (warning.setting, warning.given, warning.instead) == ("--web-port", "http", "using 8089")


def test_the_status_keeps_what_another_version_wrote_and_drops_what_it_cannot_name() -> None:
    good = SettingWarning(IGNORED, names.TTL_ANNOTATION, "soon", "is not a duration", "auto")
    written: list[Any] = [
        good.encode(),
        {**good.encode(), "reason": "SomethingNew"},  # a later version's: no Event to name
        {**good.encode(), "given": 5},
        {"reason": "SettingIgnored"},
        "text",
        {**good.encode(), "given": "x" * 10_000, "problem": "p" * 10_000},
    ]
    found = read_warnings(written)
    assert found[0] == good
    assert len(found) == 2
    assert len(found[1].given) == MAX_GIVEN
    assert len(found[1].text) < 500
    assert read_warnings("not a list") == ()
    assert len(read_warnings([good.encode()] * 1000)) == MAX_WARNINGS


def headless_master(**container: Any) -> dict[str, Any]:
    pod = load_pod("annotated-master")
    master = pod["spec"]["containers"][0]
    master["args"] = ["-f", "/mnt/locustfile.py", "--master", "--run-time", "1m"]
    master.update(container)
    return pod


@pytest.mark.parametrize(
    ("container", "setting", "given"),
    [
        ({"args": ["-f", "l.py", "--master", "--headless", "-t", "1m"]}, "--headless", ""),
        ({"command": ["sh", "-c", "locust --master --headless -t 1m"]}, "--headless", ""),
        ({"args": ["--master", "--no-web"]}, "--no-web", ""),
        ({"env": [{"name": "LOCUST_HEADLESS", "value": "true"}]}, "LOCUST_HEADLESS", "true"),
        ({"args": ["--master", "--web-host", "10.0.0.9"]}, "--web-host", "10.0.0.9"),
        (
            {"env": [{"name": "LOCUST_WEB_HOST", "value": "$(POD_IP)"}]},
            "LOCUST_WEB_HOST",
            "$(POD_IP)",
        ),
    ],
    ids=["args", "shell", "locust-0.x", "env", "web-host", "web-host-env"],
)
def test_a_master_that_will_serve_no_numbers_is_warned_about(
    container: dict[str, Any], setting: str, given: str
) -> None:
    pod = headless_master(**container)
    [warning] = status_of(pod).warnings
    assert (warning.reason, warning.setting, warning.given) == (NO_NUMBERS, setting, given)
    [said] = mutate_pod(pod, InjectionConfig()).warnings
    assert said.startswith(f"{setting}: ")
    assert "no numbers" in said
    assert len(said) <= 120, "kubectl shows it whole"


def test_mutate_shows_a_headless_master_what_to_use_instead(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["mutate", "-f", str(POD_FIXTURES / "headless-master.yaml"), "-o", "patch"]) == 0
    printed = capsys.readouterr().err.splitlines()
    assert (
        "headless-master: warning: --headless: turns off Locust's web UI, so no numbers or "
        "checks; use --autostart --autoquit 10 instead"
    ) in printed


@pytest.mark.parametrize(
    "container",
    [
        {"args": ["--master", "--autostart", "--autoquit", "10"]},
        {"env": [{"name": "LOCUST_HEADLESS", "value": "false"}]},
        {"args": ["--master", "--web-host", "0.0.0.0"]},
        {"env": [{"name": "LOCUST_WEB_HOST", "value": "*"}]},
    ],
    ids=["autostart", "env-false", "all-addresses", "env-all"],
)
def test_a_master_with_its_web_ui_gets_no_such_warning(container: dict[str, Any]) -> None:
    assert status_of(headless_master(**container)).warnings == ()


def test_the_web_port_may_come_from_locusts_environment_and_the_command_line_wins() -> None:
    env = [{"name": "LOCUST_WEB_PORT", "value": "8123"}]
    found = classify_pod(headless_master(env=env))
    assert isinstance(found, LocustMaster)
    assert found.locust_web_port == 8123
    both = headless_master(env=env, args=["--master", "--web-port", "8090"])
    found = classify_pod(both)
    assert isinstance(found, LocustMaster)
    assert found.locust_web_port == 8090


# ---------------------------------------------------------------- the controller says them


WARNINGS = (
    SettingWarning(IGNORED, names.MAX_WAIT_ANNOTATION, "-5m", "is not a duration", "using 5m"),
    SettingWarning(NO_NUMBERS, "--headless", "", "no web UI", "use --autostart"),
)


def test_the_warnings_are_events_as_soon_as_the_pod_is_seen() -> None:
    decided = plan(facts(master=None, warnings=WARNINGS), EXIT)
    [announce] = decided.actions
    assert isinstance(announce, AnnounceWarnings)
    said = [(e.reason, e.type, e.message) for e in announce.events]
    assert said == [
        (
            "SettingIgnored",
            "Warning",
            "locust-finisher.io/max-wait: '-5m' is not a duration; using 5m",
        ),
        ("NoNumbers", "Warning", "--headless: no web UI; use --autostart"),
    ]
    assert len({e.key for e in announce.events}) == 2, "each its own Event"
    assert announce.note == "SettingIgnored, NoNumbers"


def test_the_warnings_come_before_whatever_else_is_due() -> None:
    decided = plan(facts(warnings=WARNINGS, finisher_waiting=None, has_finisher=False), EXIT + 60)
    assert [type(a) for a in decided.actions][:2] == [AnnounceWarnings, AnnounceVerdict]


def test_once_said_the_warnings_are_not_said_again() -> None:
    said = facts(master=None, warnings=WARNINGS, warned=True)
    assert plan(said, EXIT).actions == []
    assert plan(facts(master=None), EXIT).actions == [], "nothing to say"
    later = dataclasses.replace(said, master=facts().master, has_finisher=False)
    assert not any(isinstance(a, AnnounceWarnings) for a in plan(later, EXIT + 60).actions)


def test_a_pod_without_warnings_reads_as_one_with_nothing_to_say() -> None:
    status = InjectionStatus(DEFAULT_SETTINGS, "m", None, False)
    read = read_status({names.STATUS_ANNOTATION: status.encode()})
    assert read is not None
    assert read.warnings == ()


def test_the_webhook_logs_the_warnings_in_one_warning_line_naming_the_pod(
    caplog: pytest.LogCaptureFixture,
) -> None:
    review = orjson.dumps(pod_review(load_pod("annotated-master-bad-values")))
    with caplog.at_level(logging.WARNING, logger="app.webhook.handler"):
        handle_review(review, InjectionConfig())
    [line] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert (getattr(line, "namespace", None), getattr(line, "pod", None)) == (
        "golden",
        "annotated-master-bad-values",
    )
    for annotation in (names.TTL_ANNOTATION, names.WAIT_FOR_SCRAPE_ANNOTATION):
        assert f"{annotation}: '" in line.getMessage()
    assert "max-wait: '-5m' is not a duration like 45s or 2m; using the default 5m" in (
        line.getMessage()
    )


def test_the_exporters_settings_on_a_master_without_one_do_not_apply() -> None:
    pod = load_pod("operator-official-0.1.6-master")
    pod["metadata"].setdefault("annotations", {}).update(
        {names.TTL_ANNOTATION: "45s", names.MAX_WAIT_ANNOTATION: "soon", "other": "x"}
    )
    said = [(w.setting, w.given, w.problem) for w in status_of(pod).warnings]
    assert said == [
        (names.MAX_WAIT_ANNOTATION, "soon", "is not a duration like 45s or 2m"),
        (names.TTL_ANNOTATION, "45s", "does not apply: the master has no exporter"),
    ], "one warning each"
    with_exporter = load_pod("annotated-master")
    with_exporter["metadata"]["annotations"][names.TTL_ANNOTATION] = "45s"
    assert status_of(with_exporter).warnings == ()
