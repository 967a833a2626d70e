"""Volumes and environment for the process kubelet, resolved from the API like a kubelet does.

Supported volume sources: configMap, secret, emptyDir, downwardAPI, projected (service
account token, configMap, secret, downwardAPI) and hostPath; anything else fails the pod's
containers with CreateContainerConfigError. A missing ConfigMap or Secret is retried, as
kubelet retries a failed mount.
"""

import base64
import os
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devcluster.api import ApiError, AsyncApiClient, resource_path


class VolumeNotReadyError(Exception):
    """Something a volume needs does not exist yet; try again later."""


class VolumeUnsupportedError(Exception):
    """The pod uses something this kubelet cannot provide."""


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """A downward-API ``fieldRef`` value."""
    metadata = pod.get("metadata", {})
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
        "status.podIP": pod.get("status", {}).get("podIP", ""),
        "status.hostIP": pod.get("status", {}).get("hostIP", ""),
    }
    if path in simple:
        return str(simple[path])
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if keyed:
        return str(metadata.get(keyed.group(1), {}).get(keyed.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        entries = metadata.get(path.split(".")[1], {})
        return "\n".join(f'{key}="{value}"' for key, value in sorted(entries.items()))
    raise VolumeUnsupportedError(f"fieldRef {path} is not supported by the process kubelet")


async def _object(api: AsyncApiClient, plural: str, namespace: str, name: str) -> dict[str, Any]:
    try:
        return await api.get(resource_path("v1", plural, namespace, name))
    except ApiError as error:
        if error.status == 404:
            raise VolumeNotReadyError(f"{plural[:-1]} {namespace}/{name} not found") from None
        raise


def _data_of(kind: str, obj: Mapping[str, Any]) -> dict[str, bytes]:
    if kind == "secret":
        return {key: base64.b64decode(value) for key, value in obj.get("data", {}).items()}
    data = {key: str(value).encode() for key, value in obj.get("data", {}).items()}
    for key, value in obj.get("binaryData", {}).items():
        data[key] = base64.b64decode(value)
    return data


Files = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)


def write_atomically(directory: Path, files: Files) -> bool:
    """Publish ``files`` in ``directory`` the way kubelet's AtomicWriter does; True if changed.

    The content lives in a fresh ``..<stamp>`` directory; ``..data`` is a symlink to it that is
    swapped in one rename, and each top-level name is a symlink through ``..data``. A reader
    (the webhook following its certificate or configuration) never sees half an update.
    """
    current = directory / "..data"
    if current.is_symlink():
        old = directory / os.readlink(current)
        if all(
            (old / name).is_file() and (old / name).read_bytes() == content
            for name, (content, _) in files.items()
        ) and _listing(old) == set(files):
            return False
    stamp = directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    stamp.mkdir()
    stamp.chmod(0o755)
    for relative, (content, mode) in files.items():
        target = stamp / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.parent.chmod(0o755)
        target.write_bytes(content)
        target.chmod(mode)
    staged = directory / "..data_tmp"
    staged.unlink(missing_ok=True)
    staged.symlink_to(stamp.name)
    previous = os.readlink(current) if current.is_symlink() else None
    staged.rename(current)
    for top in {relative.split("/", 1)[0] for relative in files}:
        link = directory / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    if previous:
        shutil.rmtree(directory / previous, ignore_errors=True)
    return True


def _listing(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


async def _keyed_source(
    api: AsyncApiClient,
    kind: str,
    source: Mapping[str, Any],
    namespace: str,
    files: Files,
    default_mode: int,
) -> None:
    name = (
        source.get("name") if kind == "configMap" else source.get("secretName", source.get("name"))
    )
    try:
        obj = await _object(
            api, "configmaps" if kind == "configMap" else "secrets", namespace, str(name)
        )
    except VolumeNotReadyError:
        if source.get("optional"):
            return
        raise
    data = _data_of("secret" if kind == "secret" else "configMap", obj)
    items = source.get("items")
    mode = source.get("defaultMode", default_mode)
    if items:
        for item in items:
            if item["key"] in data:
                files[item["path"]] = (data[item["key"]], item.get("mode", mode))
    else:
        for key, content in data.items():
            files[key] = (content, mode)


async def _token(api: AsyncApiClient, pod: Mapping[str, Any], source: Mapping[str, Any]) -> bytes:
    metadata = pod["metadata"]
    account = pod["spec"].get("serviceAccountName") or "default"
    request: dict[str, Any] = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "expirationSeconds": source.get("expirationSeconds", 3607),
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": metadata["name"],
                "uid": metadata["uid"],
            },
        },
    }
    if source.get("audience"):
        request["spec"]["audiences"] = [source["audience"]]
    path = resource_path("v1", "serviceaccounts", metadata["namespace"], account) + "/token"
    try:
        answer = await api.create(path, request)
    except ApiError as error:
        raise VolumeNotReadyError(f"token for service account {account}: {error}") from None
    return str(answer["status"]["token"]).encode()


def _downward(
    pod: Mapping[str, Any], items: list[Mapping[str, Any]], files: Files, mode: int
) -> None:
    for item in items:
        if "fieldRef" not in item:
            raise VolumeUnsupportedError("downwardAPI resourceFieldRef is not supported")
        value = field_value(pod, item["fieldRef"]["fieldPath"])
        files[item["path"]] = (value.encode(), item.get("mode", mode))


async def materialize_volumes(
    api: AsyncApiClient, pod: Mapping[str, Any], pod_dir: Path, refresh: bool = False
) -> dict[str, Path]:
    """Write every volume of ``pod`` under ``pod_dir``; return volume name -> host path.

    With ``refresh``, only ConfigMap, Secret and downward API content is brought up to date
    (as kubelet does periodically); tokens are kept.
    """
    namespace = pod["metadata"]["namespace"]
    paths: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes", []) or []:
        name = volume["name"]
        directory = pod_dir / "volumes" / name
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        files: Files = {}
        if "configMap" in volume:
            await _keyed_source(api, "configMap", volume["configMap"], namespace, files, 0o644)
        elif "secret" in volume:
            await _keyed_source(api, "secret", volume["secret"], namespace, files, 0o644)
        elif "emptyDir" in volume:
            directory.chmod(0o777)
        elif "downwardAPI" in volume:
            source = volume["downwardAPI"]
            _downward(pod, source.get("items", []), files, source.get("defaultMode", 0o644))
        elif "projected" in volume:
            projected = volume["projected"]
            mode = projected.get("defaultMode", 0o644)
            for source in projected.get("sources", []):
                if "serviceAccountToken" in source:
                    token_source = source["serviceAccountToken"]
                    existing = directory / token_source["path"]
                    if refresh and existing.exists():
                        files[token_source["path"]] = (existing.read_bytes(), mode)
                    else:
                        files[token_source["path"]] = (await _token(api, pod, token_source), mode)
                elif "configMap" in source:
                    await _keyed_source(
                        api, "configMap", source["configMap"], namespace, files, mode
                    )
                elif "secret" in source:
                    await _keyed_source(api, "secret", source["secret"], namespace, files, mode)
                elif "downwardAPI" in source:
                    _downward(pod, source["downwardAPI"].get("items", []), files, mode)
                else:
                    raise VolumeUnsupportedError(
                        f"projected source {sorted(source)} in volume {name}"
                    )
        elif "hostPath" in volume:
            directory = Path(volume["hostPath"]["path"])
        else:
            kinds = sorted(set(volume) - {"name"})
            raise VolumeUnsupportedError(f"volume {name} of type {kinds} is not supported")
        if files or ("emptyDir" not in volume and "hostPath" not in volume):
            write_atomically(directory, files)
        paths[name] = directory
    return paths


_VARIABLE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names are replaced, ``$$`` escapes ``$``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VARIABLE.sub(substitute, text)


async def container_env(
    api: AsyncApiClient,
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    base: Mapping[str, str],
) -> dict[str, str]:
    """The environment of ``container``: image env, service variables, envFrom, then env."""
    namespace = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom", []) or []:
        prefix = source.get("prefix", "")
        for kind in ("configMapRef", "secretRef"):
            if kind in source:
                plural = "configmaps" if kind == "configMapRef" else "secrets"
                try:
                    obj = await _object(api, plural, namespace, source[kind]["name"])
                except VolumeNotReadyError:
                    if source[kind].get("optional"):
                        continue
                    raise
                data = _data_of("secret" if kind == "secretRef" else "configMap", obj)
                env.update({prefix + key: value.decode() for key, value in data.items()})
    for variable in container.get("env", []) or []:
        name = variable["name"]
        if "value" in variable:
            env[name] = expand(str(variable["value"]), env)
            continue
        reference = variable.get("valueFrom", {})
        if "fieldRef" in reference:
            env[name] = field_value(pod, reference["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in reference or "secretKeyRef" in reference:
            kind = "configMapKeyRef" if "configMapKeyRef" in reference else "secretKeyRef"
            key_ref = reference[kind]
            plural = "configmaps" if kind == "configMapKeyRef" else "secrets"
            try:
                obj = await _object(api, plural, namespace, key_ref["name"])
                env[name] = _data_of("secret" if plural == "secrets" else "configMap", obj)[
                    key_ref["key"]
                ].decode()
            except (VolumeNotReadyError, KeyError):
                if not key_ref.get("optional"):
                    raise VolumeNotReadyError(
                        f"{kind} {key_ref['name']}/{key_ref['key']}"
                    ) from None
        elif "resourceFieldRef" in reference:
            env[name] = "0"
        else:
            env[name] = ""
    return env
