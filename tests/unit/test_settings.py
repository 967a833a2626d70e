from app.core import names
from app.core.settings import FinishSettings, Strategy, WaitForScrape, resolve_settings


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
    assert warnings[0].startswith(names.TTL_ANNOTATION)
    assert "using the default 45s" in warnings[0]
    assert "a non-string" in warnings[1]
    assert all(len(w) <= 120 for w in warnings)
