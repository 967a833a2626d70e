from typing import Any

import jsonpatch

from app.core.patch import add, pointer, put_entries


def test_pointer_escapes_tilde_and_slash_as_rfc6901_says() -> None:
    assert pointer("metadata", "labels", "a/b~c") == "/metadata/labels/a~1b~0c"
    document: dict[str, Any] = {"metadata": {"labels": {}}}
    patched = jsonpatch.apply_patch(document, [add("v", "metadata", "labels", "a/b~c")])
    assert patched["metadata"]["labels"] == {"a/b~c": "v"}


def test_put_entries_adds_to_an_existing_map_without_touching_other_keys() -> None:
    pod: dict[str, Any] = {"metadata": {"labels": {"app": "x"}}}
    ops = put_entries(pod, ("metadata", "labels"), {"k/1": "v"})
    assert jsonpatch.apply_patch(pod, ops)["metadata"]["labels"] == {"app": "x", "k/1": "v"}


def test_put_entries_creates_missing_maps_in_one_op() -> None:
    pods: list[dict[str, Any]] = [{}, {"metadata": {}}, {"metadata": {"annotations": None}}]
    for pod in pods:
        ops = put_entries(pod, ("metadata", "annotations"), {"a": "1", "b": "2"})
        assert len(ops) == 1
        assert jsonpatch.apply_patch(pod, ops)["metadata"]["annotations"] == {"a": "1", "b": "2"}
