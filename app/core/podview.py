"""Tolerant reads from a pod kept as a plain dict.

The webhook sees whatever the API server (or a fuzzer, or a user's YAML) hands it. These
helpers never raise on a wrong shape: a field of the wrong type reads as absent, so the
classifier can explain a skip instead of crashing. We never turn a pod into a typed model,
because that would drop fields the model does not know.

Decoded JSON and YAML are plain dicts and lists, so the checks are ``isinstance(x, dict)``:
several times faster on the webhook's hot path than testing against ``Mapping``.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

JsonObject = Mapping[str, Any]
_EMPTY: JsonObject = MappingProxyType({})


def mapping(obj: Any, key: str) -> JsonObject:
    """``obj[key]`` if both are JSON objects, else an empty mapping."""
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, dict):
            return value
    return _EMPTY


def text(obj: Any, key: str) -> str | None:
    """``obj[key]`` if it is a string."""
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, str):
            return value
    return None


def display_name(pod: Any) -> str | None:
    """The pod's name for messages: its name, or its generateName before it has one."""
    metadata = mapping(pod, "metadata")
    return text(metadata, "name") or text(metadata, "generateName")


def objects(obj: Any, key: str) -> list[JsonObject]:
    """The JSON objects in the list ``obj[key]``; anything else in it is ignored."""
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []


def controller_reference(obj: Any) -> JsonObject:
    """The object's controller ownerReference (its Job, its LocustTest); empty without one."""
    for owner in objects(mapping(obj, "metadata"), "ownerReferences"):
        if owner.get("controller") is True:
            return owner
    return {}


def labels(pod: Any) -> JsonObject:
    """The pod's labels."""
    return mapping(mapping(pod, "metadata"), "labels")


def annotations(pod: Any) -> JsonObject:
    """The pod's annotations."""
    return mapping(mapping(pod, "metadata"), "annotations")


def spec(pod: Any) -> JsonObject:
    """The pod's spec."""
    return mapping(pod, "spec")


def containers(pod: Any) -> list[JsonObject]:
    """The pod's regular containers."""
    return objects(spec(pod), "containers")


def init_containers(pod: Any) -> list[JsonObject]:
    """The pod's init containers, native sidecars included."""
    return objects(spec(pod), "initContainers")


def is_native_sidecar(container: JsonObject) -> bool:
    """A KEP-753 sidecar: an init container that kubelet keeps running (1.29+)."""
    return container.get("restartPolicy") == "Always"


def command_tokens(container: JsonObject) -> list[str]:
    """Every whitespace-separated word of a container's command and args.

    Splitting catches ``sh -c "locust --master ..."`` as well as exec-form arguments.
    """
    parts: list[str] = []
    for key in ("command", "args"):
        words = container.get(key)
        if isinstance(words, list):
            parts.extend(word for word in words if isinstance(word, str))
    return " ".join(parts).split()


def parse_port(text: str) -> int | None:
    """A TCP port (1-65535) written in ASCII digits, else None.

    ``str.isdigit`` alone also accepts digits ``int`` refuses ("²"), and an unbounded
    number would reach the finisher's URLs and the status annotation's encoder.
    """
    if not (0 < len(text) <= 5 and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number < 65536 else None


def container_ports(container: JsonObject) -> list[int]:
    """The containerPort numbers a container declares (1-65535; others are not ports)."""
    return [
        port["containerPort"]
        for port in objects(container, "ports")
        if type(port.get("containerPort")) is int and 0 < port["containerPort"] < 65536
    ]


def all_container_names(pod: Any) -> set[str]:
    """Names of the regular, init and ephemeral containers: they share one namespace."""
    found = set()
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in objects(spec(pod), key):
            name = text(container, "name")
            if name is not None:
                found.add(name)
    return found
