"""Follow the cluster-wide configuration file (a mounted ConfigMap) while serving.

The webhook reads the current configuration once per review from memory; this module swaps
that object when the file changes. Swapping one reference is atomic, so an admission in
flight sees either the old or the new configuration, never a mix, and none is dropped.
Whatever goes wrong in parsing a file becomes one :class:`ConfigError`: at start that is one
line and exit 2, on a reload a log line and the last good configuration, never a dead loop.
"""

import asyncio
import hashlib
import logging
from pathlib import Path

import yaml

from app.core.cluster_config import ConfigError, InjectionConfig, parse_cluster_config

log = logging.getLogger(__name__)


class ConfigFile:
    """The configuration in ``path`` applied over the command-line defaults ``base``."""

    def __init__(self, path: Path, base: InjectionConfig) -> None:
        self.path = path
        self.base = base
        self._digest = b""
        self._current = self._load(initial=True)

    def current(self) -> InjectionConfig:
        """The configuration in force now."""
        return self._current

    def _load(self, *, initial: bool = False) -> InjectionConfig:
        content = self.path.read_bytes()
        self._digest = hashlib.sha256(content).digest()
        try:
            return parse_cluster_config(yaml.safe_load(content), self.base)
        except Exception as error:  # any refusal, even a bug's, is one line: never a dead reload
            message = f"{self.path}: {(str(error).splitlines() or [type(error).__name__])[0]}"
            if initial:
                raise ConfigError(message) from None
            raise ConfigError(message) from error

    def reload_if_changed(self) -> bool:
        """Re-read the file if its content changed; True if a new configuration is in force."""
        try:
            if hashlib.sha256(self.path.read_bytes()).digest() == self._digest:
                return False
            self._current = self._load()
        except (OSError, ConfigError) as error:
            log.error("configuration not reloaded, the previous one stays in force: %s", error)
            return False
        log.info("configuration reloaded from %s: %s", self.path, self._current.defaults.describe())
        return True

    async def follow(self, interval_seconds: float = 5.0) -> None:
        """Reload whenever the file changes, until cancelled."""
        while True:
            await asyncio.sleep(interval_seconds)
            self.reload_if_changed()
