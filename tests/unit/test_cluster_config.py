import pytest

from app.core.cluster_config import ConfigError, InjectionConfig, parse_cluster_config
from app.core.settings import Strategy, WaitForScrape


def test_every_key_is_applied() -> None:
    config = parse_cluster_config(
        {
            "ttl": "1m",
            "waitForScrape": True,
            "maxWait": 600,
            "strategy": "controller",
            "finisherImage": "registry.local/lf:1",
            "finisherImagePullPolicy": "Always",
        },
        InjectionConfig(),
    )
    assert config.defaults.ttl_seconds == 60
    assert config.defaults.wait_for_scrape is WaitForScrape.TRUE
    assert config.defaults.max_wait_seconds == 600
    assert config.defaults.strategy is Strategy.CONTROLLER
    assert (config.image.image, config.image.pull_policy) == ("registry.local/lf:1", "Always")


def test_an_empty_document_keeps_the_base() -> None:
    assert parse_cluster_config(None, InjectionConfig()) == InjectionConfig()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"tll": "1m"}, "unknown key 'tll'"),
        ({"ttl": "soon"}, "ttl:"),
        ({"ttl": -1}, "ttl: -1 is not auto or a duration"),
        ({"strategy": "magic"}, "strategy: 'magic' is not one of"),
        ({"finisherImage": ""}, "finisherImage"),
        ({"finisherImagePullPolicy": "Sometimes"}, "finisherImagePullPolicy"),
        ([1], "mapping"),
    ],
)
def test_a_bad_document_names_the_key(document: object, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        parse_cluster_config(document, InjectionConfig())
    assert message in str(caught.value)


def test_unknown_keys_of_mixed_types_are_one_refusal_not_a_crash() -> None:
    # YAML reads `1:` as a number: sorting it with a string key raised a TypeError, which
    # the webhook's start and its reload loop did not expect.
    with pytest.raises(ConfigError, match="unknown key"):
        parse_cluster_config({1: "x", "tll": "1m"}, InjectionConfig())


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 10**400, "1000000.5s", "9" * 400])
def test_a_ttl_the_finisher_could_not_use_is_refused_where_it_is_set(value: object) -> None:
    with pytest.raises(ConfigError, match="ttl:"):
        parse_cluster_config({"ttl": value}, InjectionConfig())


def test_notifications_name_the_clusters_secret_and_refuse_anything_else() -> None:
    base = InjectionConfig()
    assert parse_cluster_config({"notifications": {"secret": "hook"}}, base).notify_secret == "hook"
    assert parse_cluster_config({"notifications": None}, base).notify_secret == ""
    assert parse_cluster_config({}, base).notify_secret == ""
    for bad in ({"secret": "Bad_Name"}, {"url": "https://x"}, "hook", {"secret": 7}):
        with pytest.raises(ConfigError, match="notifications"):
            parse_cluster_config({"notifications": bad}, base)
