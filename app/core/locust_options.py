"""The few Locust options of a master container: whether it serves its numbers, and its load.

The finisher reads Locust's final numbers from the master's web UI on ``localhost`` (and
``wait`` its live ones through the pod proxy); the checks and the summary are made from them.
Locust reads each option from the command line first, then from its ``LOCUST_*`` environment
variable (ConfigArgParse), so both are read here, in that order. A config file's content is
not in the pod, so an option set only there is not seen. The load the test was asked for
(users, spawn rate, run time) is read here too, for the run's metadata (app/core/run_metadata.py).
"""

import math
from dataclasses import dataclass

from app.core import names, podview
from app.core.durations import parse_duration
from app.core.podview import JsonObject
from app.core.setting_warnings import SettingWarning, WarningReason, ignored

# What keeps the web UI, and so the numbers, and still starts and ends the test on its own.
AUTOSTART = "--autostart --autoquit 10"
# ConfigArgParse's words for a flag set through the environment.
_TRUE = frozenset({"true", "yes", "1", "on"})
# Addresses Locust may bind its web UI to that ``localhost`` in the pod still reaches.
_LOCAL = frozenset(
    {"", "*", "0.0.0.0", "::", "[::]", "localhost", "127.0.0.1", "::1", "[::1]"}  # noqa: S104 - Locust's
)


# The only variables read here: a master's env can hold hundreds of others, each review.
_READ = frozenset(
    {
        "LOCUST_WEB_PORT",
        "LOCUST_HEADLESS",
        "LOCUST_WEB_HOST",
        "LOCUST_USERS",
        "LOCUST_SPAWN_RATE",
        "LOCUST_RUN_TIME",
    }
)


def _env(container: JsonObject) -> dict[str, str]:
    """The container's plain values of the variables read here; the last of a name wins.

    A value from a reference (ConfigMap, Secret) is not in the pod, so it is not seen.
    """
    env = container.get("env")
    if not isinstance(env, list):
        return {}
    try:
        # One comprehension over what may be hundreds of entries; decoded JSON has .get on
        # its objects only, so anything else in the list sends us to the careful loop.
        named = [variable for variable in env if variable.get("name") in _READ]
    except (AttributeError, TypeError):  # a non-object entry, or an unhashable name
        named = podview.objects(container, "env")
    found = {}
    for variable in named:
        name = variable.get("name")
        if isinstance(name, str) and name in _READ:
            value = variable.get("value")
            if isinstance(value, str):
                found[name] = value
    return found


@dataclass(frozen=True)
class MasterOptions:
    """The master's command line and the variables read here, read once per pod."""

    tokens: list[str]
    env: dict[str, str]


def read_options(master: JsonObject) -> MasterOptions:
    """Read the master container's options once (its env may hold hundreds of variables)."""
    return MasterOptions(podview.command_tokens(master), _env(master))


def _option(tokens: list[str], *flags: str) -> list[str]:
    """The values given to ``flags`` on the command line, in order (``-P 8090``, ``--x=y``)."""
    values = [tokens[i + 1] for i, token in enumerate(tokens[:-1]) if token in flags]
    prefixes = tuple(f"{flag}=" for flag in flags if flag.startswith("--"))
    joined = [token for token in tokens if token.startswith(prefixes)]  # one pass, seldom any
    for prefix in prefixes if joined else ():
        values += [token[len(prefix) :] for token in joined if token.startswith(prefix)]
    return values


def web_port(master: MasterOptions, warnings: list[SettingWarning]) -> int:
    """The port of the master's web UI: ``--web-port``/``-P``, else ``LOCUST_WEB_PORT``."""
    given = [("--web-port", v) for v in _option(master.tokens, "--web-port", "-P")]
    env = master.env.get("LOCUST_WEB_PORT")
    if env is not None:
        given.append(("LOCUST_WEB_PORT", env))
    for setting, value in given:
        port = podview.parse_port(value.strip())
        if port is not None:
            return port
        default = names.LOCUST_DEFAULT_WEB_PORT
        warnings.append(ignored(setting, value, "is not a port (1-65535)", f"using {default}"))
    return names.LOCUST_DEFAULT_WEB_PORT


def no_numbers(master: MasterOptions) -> SettingWarning | None:
    """Why the master will serve no numbers the finisher can read, if it will not."""
    tokens, env = master.tokens, master.env
    for flag in ("--headless", "--no-web"):  # --no-web: Locust before 1.0
        if flag in tokens:
            return _no_numbers(flag, "", _NO_UI, _USE_AUTOSTART)
    headless = env.get("LOCUST_HEADLESS")
    if headless is not None and headless.strip().lower() in _TRUE:
        return _no_numbers("LOCUST_HEADLESS", headless, _NO_UI, _USE_AUTOSTART)
    hosts = [("--web-host", v) for v in _option(tokens, "--web-host")]
    if "LOCUST_WEB_HOST" in env:
        hosts.append(("LOCUST_WEB_HOST", env["LOCUST_WEB_HOST"]))
    if hosts:
        setting, host = hosts[0]  # the command line wins over the environment
        if host.strip().lower() not in _LOCAL:
            return _no_numbers(
                setting,
                host,
                "is not reachable from the finisher, so no numbers or checks",
                "bind it to 0.0.0.0",
            )
    return None


_NO_UI = "turns off Locust's web UI, so no numbers or checks"
_USE_AUTOSTART = f"use {AUTOSTART} instead"


def _no_numbers(setting: str, given: str, problem: str, instead: str) -> SettingWarning:
    return SettingWarning(WarningReason.NO_NUMBERS, setting, given, problem, instead)


# Beyond any real test; a larger value is not one Locust was given on purpose.
MAX_USERS = 10_000_000
MAX_SPAWN_RATE = 1_000_000.0


def _given(master: MasterOptions, flags: tuple[str, ...], variable: str) -> str | None:
    """The option's value as Locust takes it: the command line's first, else the variable's."""
    values = _option(master.tokens, *flags)
    if values:
        return values[0].strip()
    value = master.env.get(variable)
    return None if value is None else value.strip()


def users(master: MasterOptions) -> int | None:
    """The users asked for (``-u``/``--users``, ``LOCUST_USERS``); None if not given or bad."""
    value = _given(master, ("-u", "--users"), "LOCUST_USERS")
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 8:
        return None
    count = int(value)
    return count if count <= MAX_USERS else None


def spawn_rate(master: MasterOptions) -> float | None:
    """Users started per second (``-r``/``--spawn-rate``, ``LOCUST_SPAWN_RATE``)."""
    value = _given(master, ("-r", "--spawn-rate"), "LOCUST_SPAWN_RATE")
    if value is None or len(value) > 16:
        return None
    try:
        rate = float(value)
    except ValueError:
        return None
    return rate if math.isfinite(rate) and 0 <= rate <= MAX_SPAWN_RATE else None


def run_time_seconds(master: MasterOptions) -> float | None:
    """How long the test was asked to run (``-t``/``--run-time``, ``LOCUST_RUN_TIME``).

    Locust's form (``90``, ``20s``, ``1h30m``) is a subset of ours (app/core/durations.py).
    """
    value = _given(master, ("-t", "--run-time"), "LOCUST_RUN_TIME")
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        return None
