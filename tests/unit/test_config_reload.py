"""The webhook's configuration file: a bad one is refused at start and skipped on reload."""

from pathlib import Path

import pytest

from app.core.cluster_config import ConfigError, InjectionConfig
from app.webhook.config_file import ConfigFile


@pytest.mark.parametrize("bad", ["ttl: .inf\n", "1: one\ntll: 1m\n", "maxWait: [\n"])
def test_a_bad_file_is_one_error_at_start(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as caught:
        ConfigFile(path, InjectionConfig())
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize("bad", ["ttl: .inf\n", "1: one\ntll: 1m\n"])
def test_a_bad_reload_keeps_the_last_good_configuration(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("ttl: 45s\n")
    config = ConfigFile(path, InjectionConfig())
    path.write_text(bad)
    assert config.reload_if_changed() is False
    assert config.current().defaults.ttl_seconds == 45
    path.write_text("ttl: 50s\n")
    assert config.reload_if_changed() is True, "a later good file still takes effect"
    assert config.current().defaults.ttl_seconds == 50
