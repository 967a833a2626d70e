import argparse

import pytest

from app.core import names
from app.core.classify import LocustMaster, classify_pod
from app.core.cluster_config import ConfigError, InjectionConfig, parse_cluster_config
from app.core.finisher_spec import finisher_env
from app.core.setting_codecs import SettingError
from app.core.settings import (
    DEFAULT_SETTINGS,
    MAX_WAIT,
    SETTINGS,
    STRATEGY,
    TTL,
    WAIT_FOR_SCRAPE,
    FinishSettings,
    Setting,
    Strategy,
    WaitForScrape,
    read_settings,
    resolve_settings,
)
from app.finisher.config import ConfigurationError, add_arguments, resolve
from testkit.pod_fixtures import load_pod


def test_annotations_override_the_cluster_defaults() -> None:
    settings, warnings = resolve_settings(
        {
            names.TTL_ANNOTATION: "2m",
            names.WAIT_FOR_SCRAPE_ANNOTATION: "TRUE",
            names.MAX_WAIT_ANNOTATION: "10m",
            names.STRATEGY_ANNOTATION: "controller",
        },
        FinishSettings(),
    )
    assert warnings == []
    assert settings == FinishSettings(120, WaitForScrape.TRUE, 600, Strategy.CONTROLLER)


def test_no_annotations_means_the_defaults() -> None:
    defaults = FinishSettings(ttl_seconds=10, wait_for_scrape=WaitForScrape.FALSE)
    assert resolve_settings({}, defaults) == (defaults, [])


def test_each_bad_value_falls_back_to_its_default_with_one_short_warning() -> None:
    defaults = FinishSettings(ttl_seconds=45)
    settings, warnings = resolve_settings(
        {names.TTL_ANNOTATION: "x" * 500, names.STRATEGY_ANNOTATION: 7}, defaults
    )
    assert settings == defaults
    assert len(warnings) == 2
    assert warnings[0].text.startswith(names.TTL_ANNOTATION)
    assert "using the default 45s" in warnings[0].text
    assert "a non-string" in warnings[1].text
    assert all(len(w.text) <= 120 for w in warnings)


# ---------------------------------------------------------------- one codec, every source

SOME_SETTINGS = [
    FinishSettings(),
    FinishSettings(90, WaitForScrape.TRUE, 3725, Strategy.FINISHER),
    FinishSettings(0.5, WaitForScrape.FALSE, 0, Strategy.FINISHER),
]


@pytest.mark.parametrize("settings", SOME_SETTINGS)
def test_what_the_webhook_writes_in_the_env_the_finisher_reads_back(
    settings: FinishSettings,
) -> None:
    master = classify_pod(load_pod("operator-go-2.2-master"))
    assert isinstance(master, LocustMaster)
    env = finisher_env(master, settings)
    config = resolve(_finisher_flags(), env)
    assert config.settings == settings
    assert config.exporter is not None
    assert master.exporter is not None
    assert config.exporter.port == master.exporter.port


@pytest.mark.parametrize("settings", SOME_SETTINGS)
def test_every_source_reads_what_describe_writes(settings: FinishSettings) -> None:
    described = settings.describe()
    as_annotations = {s.annotation: described[s.key] for s in SETTINGS}
    assert resolve_settings(as_annotations, FinishSettings()) == (settings, [])
    config = parse_cluster_config(described, InjectionConfig())
    assert config.defaults == settings
    assert read_settings(described, lambda s: s.key)[0] == settings


def test_the_old_word_terminator_still_means_the_finisher_everywhere() -> None:
    settings, warnings = resolve_settings(
        {names.STRATEGY_ANNOTATION: "terminator"}, FinishSettings()
    )
    assert (settings.strategy, warnings) == (Strategy.FINISHER, [])
    config = parse_cluster_config({"strategy": "terminator"}, InjectionConfig())
    assert config.defaults.strategy is Strategy.FINISHER
    assert STRATEGY.parse(" Terminator ") is Strategy.FINISHER


@pytest.mark.parametrize(
    ("setting", "value"),
    [(TTL, "soon"), (TTL, -1), (TTL, True), (MAX_WAIT, float("inf")), (WAIT_FOR_SCRAPE, "maybe")],
)
def test_a_bad_value_is_one_error_naming_what_is_accepted(setting: Setting, value: object) -> None:
    with pytest.raises(SettingError) as caught:
        setting.parse(value)
    assert str(caught.value).endswith(setting.expected)


def test_each_source_chooses_its_policy_for_the_same_bad_value() -> None:
    # An annotation and the finisher's env warn and fall back (a pod must never fail on our
    # configuration); the ConfigMap and a flag typed at a terminal refuse.
    _, warnings = resolve_settings({names.TTL_ANNOTATION: "soon"}, FinishSettings())
    assert [w.text for w in warnings] == [
        f"{names.TTL_ANNOTATION}: 'soon' is not {TTL.expected}; using the default auto"
    ]
    with pytest.raises(ConfigError, match="ttl: 'soon' is not auto or a duration"):
        parse_cluster_config({"ttl": "soon"}, InjectionConfig())
    config = resolve(_finisher_flags(), {str(TTL.env): "soon"})
    assert config.settings.ttl_seconds == DEFAULT_SETTINGS.ttl_seconds
    assert config.warnings == (
        f"ttl (env {TTL.env}): 'soon' is not {TTL.expected}; using the default auto",
    )
    with pytest.raises(ConfigurationError, match="--ttl: 'soon' is not auto or a duration"):
        resolve(_finisher_flags("--ttl", "soon"), {}, strict_flags=True)


def _finisher_flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))
