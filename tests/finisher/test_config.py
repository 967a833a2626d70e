"""A bad value never fails the pod: the env's become warnings and defaults; flags are refused."""

import argparse

import pytest

from app.core import env_names
from app.core.cluster_config import InjectionConfig, parse_cluster_config
from app.core.env_names import ENV_MASTER_START_TIMEOUT
from app.core.settings import DEFAULT_SETTINGS, MAX_WAIT, SETTINGS, TTL, WAIT_FOR_SCRAPE
from app.finisher.config import (
    DEFAULT_MASTER_START_SECONDS,
    ConfigurationError,
    add_arguments,
    resolve,
)
from app.finisher.http import Endpoint


def flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_every_bad_env_value_is_a_warning_and_its_default() -> None:
    config = resolve(
        flags(),
        {
            str(TTL.env): "9" * 400,
            str(WAIT_FOR_SCRAPE.env): "maybe",
            str(MAX_WAIT.env): "1000000.5s",
            env_names.ENV_EXPORTER_URL: "http://localhost:99999",
            env_names.ENV_LOCUST_URL: "http://localhost:\u00b2",
            env_names.ENV_EXPORTER_SIDECAR: "sometimes",
            ENV_MASTER_START_TIMEOUT: "0s",
        },
    )
    assert config.settings == DEFAULT_SETTINGS
    assert config.exporter is not None
    assert (config.exporter.port, config.locust.port) == (9646, 8089)
    assert config.exporter_sidecar is False
    assert config.master_start_seconds == DEFAULT_MASTER_START_SECONDS
    assert len(config.warnings) == 7
    assert all("using the default" in warning for warning in config.warnings)
    assert all(len(warning) < 200 for warning in config.warnings), "huge values are clipped"


@pytest.mark.parametrize(
    "argv",
    [
        ["--ttl", "soon"],
        ["--exporter-url", "ftp://x"],
        ["--master-pattern", "("],
        ["--poll-interval", "0s"],
        ["--master-start-timeout", "x"],
    ],
)
def test_a_bad_flag_is_refused_when_flags_are_strict(argv: list[str]) -> None:
    with pytest.raises(ConfigurationError):
        resolve(flags(*argv), {}, strict_flags=True)
    assert resolve(flags(*argv), {}).warnings, "and a warning otherwise"


@pytest.mark.parametrize(
    "document",
    [
        {"maxWait": 0.00001},
        {"ttl": "0.01ms"},
        {"ttl": 604800, "maxWait": "167h59m59.999s"},
        {"ttl": 1.0005, "waitForScrape": True},
        {"maxWait": "1h30m"},
    ],
)
def test_what_the_configmap_accepts_the_finisher_reads_back_without_a_warning(
    document: dict[str, object],
) -> None:
    # One codec for both ends: the webhook writes the env from the settings it accepted.
    defaults = parse_cluster_config(document, InjectionConfig()).defaults
    env = {str(s.env): s.show(defaults) for s in SETTINGS if s.env}
    config = resolve(flags(), env)
    assert config.warnings == ()
    assert config.settings == defaults


def test_an_exporter_url_with_port_0_is_refused_not_sent_to_port_80() -> None:
    with pytest.raises(ValueError, match="not an http://host:port URL"):
        Endpoint.parse("http://localhost:0")
    assert Endpoint.parse("http://localhost").port == 80
