"""Run our Argo CD health checks (manifests/argocd/*.lua) as Argo CD runs them, with lupa.

Argo CD runs a health check in gopher-lua (Lua 5.1) with the object as the global ``obj``
(JSON maps as tables, lists as tables indexed from 1) and reads the table it returns:
``status`` and ``message``. Here the same script runs in lupa's Lua 5.1, with no more than
the base functions and the string, table and math libraries in its globals, so a script that
leans on anything else fails here first.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lupa import lua51

ARGOCD = Path(__file__).resolve().parent.parent / "manifests" / "argocd"
LOCUSTTEST_HEALTH = ARGOCD / "locusttest-health.lua"
JOB_HEALTH = ARGOCD / "job-health.lua"
# The health statuses Argo CD knows.
STATUSES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})

_RUNNER = """
local script, obj = ...
local chunk = assert(loadstring(script, "health"))
local env = {
  obj = obj, ipairs = ipairs, pairs = pairs, tostring = tostring, tonumber = tonumber,
  type = type, next = next, string = string, table = table, math = math,
}
setfenv(chunk, env)
return chunk()
"""


@dataclass(frozen=True)
class Health:
    """What a health check returned."""

    status: str
    message: str


def _lua_value(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({key: _lua_value(lua, item) for key, item in value.items()})
    if isinstance(value, list):
        return lua.table_from([_lua_value(lua, item) for item in value])
    return value


def health(script: Path, obj: dict[str, Any]) -> Health:
    """Run ``script`` on ``obj`` as Argo CD would; its status and message."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    runner = lua.execute(f"return function(...) {_RUNNER} end")
    answer = runner(script.read_text(encoding="utf-8"), _lua_value(lua, obj))
    status = answer["status"]
    message = answer["message"]
    if status not in STATUSES:
        raise AssertionError(f"{script.name} returned status {status!r}, not one Argo CD knows")
    return Health(str(status), "" if message is None else str(message))
