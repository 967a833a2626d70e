"""The status annotation: one writer, one reader, and pods written by older versions."""

import json

import pytest

from app.core import names
from app.core.injection_status import InjectionStatus, read_status
from app.core.settings import FinishSettings, Strategy, WaitForScrape

WRITTEN_BY_0_1 = (
    '{"version":"0.1.0","strategy":"terminator","ttl":"30s","waitForScrape":"auto",'
    '"maxWait":"5m","masterContainer":"t-go-22-master","exporterContainer":'
    '"locust-metrics-exporter","exporterSidecar":false,"exporterPort":9646,'
    '"locustWebPort":8089,"injected":["shareProcessNamespace","container/locust-finisher"]}'
)


def test_what_the_writer_writes_the_reader_reads() -> None:
    status = InjectionStatus(
        settings=FinishSettings(90, WaitForScrape.TRUE, 600, Strategy.CONTROLLER),
        master_container="m",
        exporter_container="e",
        exporter_sidecar=True,
        exporter_port=9700,
        locust_web_port=8090,
        injected=("shareProcessNamespace",),
        version="9.9.9",
    )
    assert read_status({names.STATUS_ANNOTATION: status.encode()}) == status


def test_a_pod_annotated_by_0_1_reads_the_same_with_the_new_word() -> None:
    status = read_status({names.STATUS_ANNOTATION: WRITTEN_BY_0_1})
    assert status is not None
    assert status.settings == FinishSettings(30, WaitForScrape.AUTO, 300, Strategy.FINISHER)
    assert (status.master_container, status.exporter_container) == (
        "t-go-22-master",
        "locust-metrics-exporter",
    )
    assert (status.exporter_port, status.locust_web_port, status.version) == (9646, 8089, "0.1.0")
    # Written again, only the word for the strategy changes.
    rewritten = json.loads(status.encode())
    assert rewritten == {**json.loads(WRITTEN_BY_0_1), "strategy": "finisher"}


def test_missing_and_unusable_fields_read_as_their_defaults() -> None:
    status = read_status(
        {
            names.STATUS_ANNOTATION: json.dumps(
                {"ttl": "soon", "exporterPort": "9646", "locustWebPort": 70000, "injected": 3}
            )
        }
    )
    assert status is not None
    assert status.settings == FinishSettings()
    assert (status.exporter_port, status.locust_web_port, status.injected) == (9646, 8089, ())
    assert status.master_container == ""


@pytest.mark.parametrize("value", [None, "", "not json", "[1, 2]", "7", 7])
def test_no_usable_status_means_not_ours(value: object) -> None:
    annotations = {} if value is None else {names.STATUS_ANNOTATION: value}
    assert read_status(annotations) is None
