"""The webhook fuzz campaign: its generator, its judge, and the campaign against the real process.

No input may crash the webhook, stall it, or break a pod. The property tests in
tests/webhook/test_fuzz.py call the handler in-process and run a short campaign; the full
20,000-review benchmark is ``python -m bench.webhook_fuzz``. The campaign goes through
everything a hostile or broken client reaches: TLS, uvicorn's HTTP parser, the body cap,
logging, and one event loop shared with /healthz. Each input is a mutation of a captured
operator pod (tests/fixtures/pods) or of its envelope and HTTP request. :func:`judge` counts as a
defect anything a user would notice: a 5xx, a dropped connection or a dead process, an answer
slower than 2 s (the API server's timeout in our manifests: the pod would be created
unmanaged), a slow /healthz, an ``allowed: false`` (a blocked test), our fail-open path, a
status the input does not call for, or a patch that does not apply, breaks the pod, would be
patched again on reinvocation, or hands the finisher an environment it rejects (it would exit 2
and fail the test).

Every input is rebuilt from ``(seed, index)`` alone (:func:`fuzz_input`), so a reported defect
can be replayed with curl.
"""

import argparse
import base64
import contextlib
import copy
import functools
import json
import multiprocessing
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonpatch
import orjson

from app.core import finisher_spec as spec
from app.core import names, podview
from app.core.cluster_config import InjectionConfig
from app.finisher.config import ConfigurationError, add_arguments, resolve
from app.webhook.handler import MAX_BODY_BYTES, handle_review
from devcluster.processes import free_port
from testkit.fuzz_report import fuzz_report
from testkit.pod_fixtures import load_pod, pod_cases, pod_review

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK = [sys.executable, "-m", "app.cli.main", "webhook", "--dev"]  # locust-finisher webhook
STALL_SECONDS = 2.0  # the webhook's timeoutSeconds in our manifests
CLIENT_TIMEOUT = 10.0  # long enough to tell a stall from a hang
WORKERS = 4  # connections, each in its own process
HEALTHZ_EVERY = 0.1
EXAMPLES_KEPT = 3

# Where our patch may write: the four operations the README promises, nothing else.
ALLOWED_PATCH_PATHS = (
    "/spec/shareProcessNamespace",
    "/spec/containers/0",
    "/spec/imagePullSecrets",
    "/spec/volumes",
    "/metadata",
)

OK = frozenset({200})
REFUSED = frozenset({400})
EITHER = frozenset({200, 400})

# ---------------------------------------------------------------------------------------
# Hostile values


DURATIONS = [
    "9" * 32768 + "x",
    "9" * 32768,
    "1" * 400 + "s",
    "1" * 31 + "s",
    "-5s",
    "-0",
    "1e3",
    "1e3s",
    "1e309s",
    ".inf",
    "inf",
    "nan",
    "0.01ms",
    "0.0001s",
    "0.0005s",
    "1000000.5s",
    "604800s",
    "604801s",
    "168h0m1s",
    "²",
    "²s",
    "٣s",
    "\uff15s",
    "1h" * 5000,
    "",
    " ",
    "\t30s\n",
    "0",
    "0s",
    "000000000000000000000000000030s",
    "1.s",
    ".5s",
    "1..5s",
    "30S",
    "30sec",
    "1h-5m",
    "\u202e30s",
    "30\x00s",
    "🕐",
    "1_000s",
    "0x10s",
    "99999999999999999999h",
    "1h30m",
    "45s",
]
CHOICES = ["true", "false", "auto", "TRUE", " True ", "yes", "1", "", "finisher", "controller"]
CHOICES += ["CONTROLLER", "terminator", "Finisher\x00", "x" * 70000, "\uff54\uff52\uff55\uff45"]
STRINGS = ["", " ", "x" * 5000, "é", "\u202e", "\x00", "💥" * 100, "a/b", "~0~1", "-", "0"]


def wild(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value the API server could send in a field of the wrong type."""
    pick = rng.randrange(12 if depth < 2 else 9)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 1, 2**31, -(2**63), 2**63 - 1, 9646, 8089])
    if pick == 3:
        return rng.choice([0.0, -0.5, 1e300, 1.5e-300, 30.0])
    if pick in (4, 5):
        return rng.choice(STRINGS + DURATIONS[4:])
    if pick == 6:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(1, 40)))
    if pick in (7, 8):
        return rng.choice([[], {}, [None], {"": None}])
    if pick in (9, 10):
        return [wild(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    return {rng.choice(["name", "", "x", "value"]): wild(rng, depth + 1) for _ in range(2)}


OUR_ANNOTATIONS = list(names.USER_ANNOTATIONS)

# ---------------------------------------------------------------------------------------
# Pod mutations: each changes ``pod`` in place and says what it did.

Mutator = Callable[[random.Random, dict[str, Any]], str]


def _dict_at(pod: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The object at ``keys``, made (or made an object) if it is not one."""
    node = pod
    for key in keys:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    return node


def _containers(pod: dict[str, Any], key: str = "containers") -> list[Any]:
    spec = _dict_at(pod, "spec")
    found = spec.get(key)
    if not isinstance(found, list):
        found = spec[key] = []
    return found


def _some_container(rng: random.Random, pod: dict[str, Any]) -> dict[str, Any]:
    dicts = [c for c in _containers(pod) if isinstance(c, dict)]
    if not dicts:
        dicts = [{"name": "made", "image": "x"}]
        _containers(pod).append(dicts[0])
    chosen: dict[str, Any] = rng.choice(dicts)
    return chosen


def annotation_values(rng: random.Random, pod: dict[str, Any]) -> str:
    annotations = _dict_at(pod, "metadata", "annotations")
    done = []
    for key in rng.sample(OUR_ANNOTATIONS, rng.randrange(1, 4)):
        if key in (names.TTL_ANNOTATION, names.MAX_WAIT_ANNOTATION):
            value = rng.choice(DURATIONS)
        elif key in (names.MASTER_CONTAINER_ANNOTATION, names.EXPORTER_CONTAINER_ANNOTATION):
            present = [c.get("name") for c in _containers(pod) if isinstance(c, dict)]
            options = [n for n in present if isinstance(n, str)] + STRINGS
            value = rng.choice(options)
        else:
            value = rng.choice(CHOICES)
        annotations[key] = value
        done.append(f"{key}={value[:20]!r}{'...' if len(value) > 20 else ''}")
    return "annotations " + ", ".join(done)


def annotation_types(rng: random.Random, pod: dict[str, Any]) -> str:
    annotations = _dict_at(pod, "metadata", "annotations")
    keys = rng.sample(OUR_ANNOTATIONS, rng.randrange(1, 4))
    for key in keys:
        annotations[key] = wild(rng)
    return "wrong-typed annotations " + ", ".join(keys)


def metadata_shapes(rng: random.Random, pod: dict[str, Any]) -> str:
    metadata = _dict_at(pod, "metadata")
    choice = rng.randrange(9)
    if choice == 0:
        pod["metadata"] = wild(rng)
        return "metadata is a wild value"
    if choice == 1:
        del pod["metadata"]
        return "no metadata"
    if choice == 2:
        metadata[rng.choice(["labels", "annotations"])] = wild(rng)
        return "labels or annotations wrong-typed"
    labels = _dict_at(pod, "metadata", "labels")
    if choice == 3:
        labels[names.OPERATOR_POD_NAME_LABEL] = rng.choice(
            ["-master", "x-master-worker", "-worker-master", "m" * 70000 + "-master", wild(rng)]
        )
        return "odd performance-test-pod-name label"
    if choice == 4:
        labels[names.OPERATOR_MANAGED_BY_LABEL] = rng.choice(
            ["Locust-K8s-Operator", "", wild(rng), "locust-k8s-operator "]
        )
        return "odd managed-by label"
    if choice == 5:
        _dict_at(pod, "metadata", "annotations")[names.STATUS_ANNOTATION] = rng.choice(
            ["", "{", "{}", '{"version":"0.0.1"}', wild(rng)]
        )
        return "a status annotation set by the user"
    if choice == 6:
        _dict_at(pod, "metadata", "annotations")[names.MIRROR_POD_ANNOTATION] = "x"
        return "a mirror-pod annotation"
    if choice == 7:
        labels[names.MANAGED_LABEL] = wild(rng)
        return "our managed label preset"
    metadata["name"] = rng.choice([*STRINGS, "n" * 100000])
    metadata["generateName"] = wild(rng)
    return "odd name and generateName"


MASTER_ARGS = [
    ["--master"],
    ["--master", "--worker"],
    ["sh", "-c", "locust --master --web-port ²"],
    ["--master", "--web-port"],
    ["--master", "--web-port=99999999999999999999"],
    ["--master", "-P", "-1"],
    ["--master", "--web-port", "²"],
    ["--master", "--web-port", "٣٠٠٠"],
    ["--master", "--web-port", "0"],
    ["--master", "--web-port", "70000"],
    ["--master", "--web-port=", "-P"],
    ["--master"] * 20000,
    ["--worker"],
    [],
]


def odd_containers(rng: random.Random, pod: dict[str, Any]) -> str:
    done = []
    for _ in range(rng.randrange(1, 4)):
        choice = rng.randrange(16)
        target = _some_container(rng, pod)
        if choice == 0:
            _containers(pod).append(copy.deepcopy(target))
            done.append(f"duplicate container {str(target.get('name'))[:20]}")
        elif choice == 1:
            _containers(pod, "initContainers").append(copy.deepcopy(target))
            done.append("a container copied into initContainers")
        elif choice == 2:
            key = rng.choice(["containers", "initContainers", "ephemeralContainers"])
            _containers(pod, key).append({"name": names.FINISHER_CONTAINER, "image": "x"})
            done.append(f"a container named {names.FINISHER_CONTAINER} in {key}")
        elif choice == 3:
            target.pop("name", None)
            done.append("a container without a name")
        elif choice == 4:
            target.pop("image", None)
            done.append("a container without an image")
        elif choice == 5:
            target["name"] = wild(rng)
            done.append("a wrong-typed container name")
        elif choice == 6:
            _dict_at(pod, "spec")["containers"] = rng.choice([[], {}, "x", None, [1, None, []]])
            done.append("containers not a list of objects")
        elif choice == 7:
            _containers(pod).insert(rng.randrange(2), wild(rng))
            done.append("a wild value among the containers")
        elif choice == 8:
            target[rng.choice(["args", "command"])] = copy.copy(rng.choice(MASTER_ARGS))
            done.append(f"odd args on {str(target.get('name'))[:20]}")
        elif choice == 9:
            target[rng.choice(["args", "command"])] = wild(rng)
            done.append("wrong-typed args or command")
        elif choice == 10:
            target["ports"] = rng.choice(
                [
                    [{"containerPort": "9646"}],
                    [{"containerPort": -1}],
                    [{"containerPort": 2**63 - 1}],
                    [{"containerPort": 9646}, {"containerPort": 9646}],
                    wild(rng),
                ]
            )
            done.append("odd ports")
        elif choice == 11:
            value = rng.choice([":²", ":99999999999999999999", ":70000", ":", ":0", 12, ":٣٠"])
            exporters = [
                c
                for c in _containers(pod)
                if isinstance(c, dict) and "exporter" in str(c.get("name"))
            ]
            target = rng.choice(exporters or [target])
            target["env"] = [{"name": "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS", "value": value}]
            done.append(f"exporter listen address {value!r}")
        elif choice == 12:
            target["image"] = rng.choice(
                [
                    "containersol/locust_exporter:v0.4.3",
                    "containersol/locust_exporter:v99999999999999999999.0.0",
                    "containersol/locust_exporter:v\u0663.\u0660.\u0660",
                    "containersol/locust_exporter",
                    "containersol/locust_exporter:@sha256:",
                    "locust-exporter:" + "9" * 5000,
                    wild(rng),
                ]
            )
            done.append("odd exporter image")
        elif choice == 13:
            sidecar = copy.deepcopy(target)
            sidecar["restartPolicy"] = rng.choice(["Always", "always", wild(rng)])
            _containers(pod, "initContainers").append(sidecar)
            if rng.random() < 0.5 and target in _containers(pod):
                _containers(pod).remove(target)
            done.append("a container moved to initContainers as a sidecar")
        elif choice == 14:
            model = copy.deepcopy(target)
            # Up to a little over the body cap: a bigger body only tests the client.
            fits = 4 * 1024 * 1024 // len(_dumps(model))
            for number in range(min(rng.choice([50, 500, 3000]), fits)):
                _containers(pod).append({**model, "name": f"c{number}"})
            done.append("hundreds of containers")
        else:
            target["name"] = rng.choice(["m" * 70000, "é", "a b", "\n", "locust-finisher "])
            done.append("an odd container name")
    return "; ".join(done)


def spec_shapes(rng: random.Random, pod: dict[str, Any]) -> str:
    choice = rng.randrange(7)
    if choice == 0:
        pod["spec"] = wild(rng)
        return "spec is a wild value"
    if choice == 1:
        pod.pop("spec", None)
        return "no spec"
    spec = _dict_at(pod, "spec")
    if choice == 2:
        spec["shareProcessNamespace"] = rng.choice([True, False, "true", None, 1, wild(rng)])
        return f"shareProcessNamespace {spec['shareProcessNamespace']!r}"[:80]
    if choice == 3:
        spec["hostPID"] = rng.choice([True, "yes", 1])
        spec["shareProcessNamespace"] = rng.choice([True, None, False])
        return "hostPID with shareProcessNamespace"
    if choice == 4:
        spec["os"] = rng.choice([{"name": "windows"}, "windows", {"name": 1}, wild(rng)])
        return "odd os"
    if choice == 5:
        spec["imagePullSecrets"] = rng.choice(["x", [1, None, {"name": 5}], {}, wild(rng)])
        return "odd imagePullSecrets"
    pod["kind"] = rng.choice(["Pod", "Deployment", None, 1])
    return f"object kind {pod['kind']!r}"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node[:50]):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


def _parent(pod: dict[str, Any], path: tuple[Any, ...]) -> Any:
    node: Any = pod
    for key in path[:-1]:
        node = node[key]
    return node


def type_confusion(rng: random.Random, pod: dict[str, Any]) -> str:
    paths = list(_paths(pod))
    done = []
    for path in rng.sample(paths, min(len(paths), rng.randrange(1, 4))):
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _parent(pod, path)[path[-1]] = wild(rng)
            done.append("…/" * (len(path) > 3) + "/".join(map(str, path[-3:])))
    return "wild value at " + ", ".join(done)


def deletion(rng: random.Random, pod: dict[str, Any]) -> str:
    paths = list(_paths(pod))
    done = []
    for path in rng.sample(paths, min(len(paths), rng.randrange(1, 4))):
        with contextlib.suppress(KeyError, IndexError, TypeError):
            del _parent(pod, path)[path[-1]]
            done.append("…/" * (len(path) > 3) + "/".join(map(str, path[-3:])))
    return "deleted " + ", ".join(done)


POD_MUTATORS: list[Mutator] = [
    annotation_values,
    annotation_types,
    metadata_shapes,
    odd_containers,
    spec_shapes,
    type_confusion,
    deletion,
]

# ---------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class FuzzInput:
    """One HTTP request, what it is, and which statuses a correct webhook answers it with."""

    index: int
    family: str
    description: str
    body: bytes
    expect: frozenset[int] = OK
    content_type: str | None = "application/json"
    method: str = "POST"
    path: str = "/mutate"
    chunked: bool = False
    pod: Any = None  # the object under review, when a patch must be checked against it
    uid: str | None = None


@functools.cache
def _fixtures() -> list[tuple[str, bytes]]:
    return [(case, orjson.dumps(load_pod(case))) for case in pod_cases()]


def _fixture_pod(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A captured pod, fresh to mutate (YAML is parsed once: it took most of the time).

    Mostly masters: a worker is skipped early, before most of what a mutation can break.
    """
    fixtures = _fixtures()
    masters = [fixture for fixture in fixtures if "master" in fixture[0]]
    case, stored = rng.choice(masters if rng.random() < 0.75 else fixtures)
    pod: dict[str, Any] = orjson.loads(stored)
    return case, pod


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _pod_input(
    index: int, family: str, rng: random.Random, mutators: list[Mutator], extra: float
) -> FuzzInput:
    case, pod = _fixture_pod(rng)
    done = [rng.choice(mutators)(rng, pod)]
    if rng.random() < extra:
        done.append(rng.choice(POD_MUTATORS)(rng, pod))
    uid = f"fuzz-{index}"
    body = _dumps(pod_review(pod, "fuzz", uid))
    # Thousands of copied containers can outgrow the cap: then the cap's 400 is right.
    expect = OK if len(body) <= MAX_BODY_BYTES else REFUSED
    return FuzzInput(
        index, family, f"{case}: " + "; ".join(done), body, expect, pod=pod, uid=uid
    )  # fmt: skip


def _envelope(index: int, rng: random.Random) -> FuzzInput:
    pod = _fixture_pod(rng)[1]
    review = pod_review(pod, "fuzz", f"fuzz-{index}")
    request = review["request"]
    options: list[tuple[str, Callable[[], None], frozenset[int]]] = [
        ("apiVersion v1beta1", lambda: review.update(apiVersion="admission.k8s.io/v1beta1"),
         REFUSED),
        ("no apiVersion", lambda: review.pop("apiVersion"), REFUSED),
        ("apiVersion wild", lambda: review.update(apiVersion=wild(rng)), REFUSED),
        ("kind Pod", lambda: review.update(kind="Pod"), REFUSED),
        ("kind wild", lambda: review.update(kind=wild(rng)), REFUSED),
        ("no request", lambda: review.pop("request"), REFUSED),
        ("request wild", lambda: review.update(request=rng.choice([None, [], "x", 1])),
         REFUSED),
        ("no uid", lambda: request.pop("uid"), REFUSED),
        ("uid empty", lambda: request.update(uid=""), REFUSED),
        ("uid wild", lambda: request.update(uid=rng.choice([1, None, [], {}])), REFUSED),
        ("uid huge", lambda: request.update(uid="u" * 100000), OK),
        ("request.kind Deployment", lambda: request.update(kind={"kind": "Deployment"}), OK),
        ("request.kind wild", lambda: request.update(kind=wild(rng)), EITHER),
        ("resource pods/status", lambda: request.update(subResource="status"), OK),
        ("resource wild", lambda: request.update(resource=wild(rng)), EITHER),
        ("operation UPDATE", lambda: request.update(operation="UPDATE"), OK),
        ("operation wild", lambda: request.update(operation=wild(rng)), EITHER),
        ("object null", lambda: request.update(object=None), OK),
        ("object wild", lambda: request.update(object=rng.choice([[], "x", 1, True])), REFUSED),
        ("namespace wild", lambda: request.update(namespace=wild(rng)), EITHER),
        ("dryRun true", lambda: request.update(dryRun=True), OK),
        ("dryRun wild", lambda: request.update(dryRun=wild(rng)), EITHER),
        ("extra fields", lambda: request.update(userInfo=wild(rng), options=wild(rng)), OK),
    ]  # fmt: skip
    what, change, expect = rng.choice(options)
    change()
    # An envelope pydantic may accept (EITHER) can still carry a pod: check its patch too.
    kept = request.get("object") if isinstance(request, dict) else None
    uid = request.get("uid") if isinstance(request, dict) else None
    return FuzzInput(
        index, "envelope", what, _dumps(review), expect,
        pod=kept if isinstance(kept, dict) else None,
        uid=uid if isinstance(uid, str) else None,
    )  # fmt: skip


def _not_json(index: int, rng: random.Random) -> FuzzInput:
    whole = _dumps(pod_review(_fixture_pod(rng)[1], "fuzz", f"fuzz-{index}"))
    options: list[tuple[str, bytes]] = [
        ("empty body", b""),
        ("truncated", whole[: rng.randrange(1, len(whole))]),
        ("trailing garbage", whole + b"}"),
        ("random bytes", rng.randbytes(rng.randrange(1, 3000))),
        ("NaN literal", whole.replace(b'"uid":', b'"nan":NaN,"uid":', 1)),
        ("byte order mark", b"\xef\xbb\xbf" + whole),
        ("UTF-16", whole.decode().encode("utf-16")),
        ("latin-1 bytes", whole.replace(b'"fuzz"', b'"\xe9\xff"', 1)),
        ("lone surrogate", whole.replace(b'"fuzz"', b'"\\ud800"', 1)),
        ("nesting 100k deep", b"[" * 100000 + b"]" * 100000),
        ("a number 32k digits long", b"9" * 32768),
        ("1e400", b"[1e400]"),
        ("single quotes", whole.replace(b'"', b"'")),
        ("JSON lines", whole + b"\n" + whole),
    ]
    what, body = rng.choice(options)
    return FuzzInput(index, "invalid-json", what, body, REFUSED)


def _content_type(index: int, rng: random.Random) -> FuzzInput:
    pod = _fixture_pod(rng)[1]
    uid = f"fuzz-{index}"
    options: list[tuple[str | None, frozenset[int]]] = [
        (None, REFUSED),
        ("", REFUSED),
        ("text/plain", REFUSED),
        ("application/json-patch+json", REFUSED),
        ("application/x-www-form-urlencoded", REFUSED),
        ("multipart/form-data; boundary=x", REFUSED),
        ("application/jsonx", REFUSED),
        ("application/yaml", REFUSED),
        ("application/json; charset=utf-8", OK),
        ("Application/JSON", OK),
        ("application/json ;", OK),
        ("application/json; " + "x" * 8000, OK),
    ]
    content_type, expect = rng.choice(options)
    return FuzzInput(
        index, "content-type", f"Content-Type {content_type!r}"[:80],
        _dumps(pod_review(pod, "fuzz", uid)), expect, content_type, pod=pod, uid=uid,
    )  # fmt: skip


def _padded(pod: dict[str, Any], uid: str, size: int, key: str) -> bytes:
    """The review of ``pod`` grown to exactly ``size`` bytes by one annotation's value."""
    annotations = _dict_at(pod, "metadata", "annotations")
    annotations[key] = ""
    bare = len(_dumps(pod_review(pod, "fuzz", uid)))
    annotations[key] = "9" * max(0, size - bare)
    return _dumps(pod_review(pod, "fuzz", uid))


def _huge(index: int, rng: random.Random) -> FuzzInput:
    pod = _fixture_pod(rng)[1]
    uid = f"fuzz-{index}"
    choice = rng.randrange(6)
    if choice == 0:
        size = MAX_BODY_BYTES - rng.randrange(0, 2000)
        body = _padded(pod, uid, size, "fuzz.io/padding")
        return FuzzInput(index, "huge-body", f"{size} bytes, at the cap", body, pod=pod, uid=uid)
    if choice == 1:
        size = MAX_BODY_BYTES - rng.randrange(0, 2000)
        body = _padded(pod, uid, size, names.TTL_ANNOTATION)
        what = f"a ttl of {size // 1024} KiB of digits"
        return FuzzInput(index, "huge-body", what, body, pod=pod, uid=uid)
    if choice in (2, 3):
        size = MAX_BODY_BYTES + rng.randrange(1, 2000)
        chunked = choice == 3
        body = _padded(pod, uid, size, "fuzz.io/padding")
        what = f"{size} bytes, over the cap" + (", chunked" if chunked else "")
        return FuzzInput(index, "huge-body", what, body, REFUSED, chunked=chunked)
    if choice == 4:
        env = [{"name": f"V{n}", "value": "x" * 40} for n in range(rng.choice([1000, 40000]))]
        _some_container(rng, pod)["env"] = env
        body = _dumps(pod_review(pod, "fuzz", uid))
        expect = OK if len(body) <= MAX_BODY_BYTES else REFUSED
        what = f"{len(env)} env entries, {len(body)} bytes"
        return FuzzInput(index, "huge-body", what, body, expect, pod=pod, uid=uid)
    body = _dumps(pod_review(pod, "fuzz", uid))
    return FuzzInput(
        index, "huge-body", f"a {len(body)}-byte review sent chunked", body,
        chunked=True, pod=pod, uid=uid,
    )  # fmt: skip


def _unsendable(index: int, rng: random.Random) -> FuzzInput:
    """JSON the API server never sends: either answer is fine, as long as it is an answer."""
    pod = _fixture_pod(rng)[1]
    uid = f"fuzz-{index}"
    body = _dumps(pod_review(pod, "fuzz", uid))
    marker = b'"namespace":"fuzz"'
    options = [
        ("a 32k-digit number", b'"namespace":"fuzz","x":' + b"9" * 32768),
        ("a 64-bit overflow", b'"namespace":"fuzz","x":18446744073709551616'),
        ("nesting 2000 deep", b'"namespace":"fuzz","x":' + b"[" * 2000 + b"]" * 2000),
        ("duplicate keys", b'"namespace":"fuzz","object":null'),
        ("escaped NUL", b'"namespace":"fu\\u0000zz"'),
    ]
    what, replacement = rng.choice(options)
    body = body.replace(marker, replacement)
    # Parsed leniently, each is still a review of the same pod, so its patch is checked too.
    return FuzzInput(index, "unsendable-json", what, body, EITHER, pod=pod, uid=uid)


def _http(index: int, rng: random.Random) -> FuzzInput:
    options: list[tuple[str, str, frozenset[int]]] = [
        ("GET", "/mutate", frozenset({405})),
        ("PUT", "/mutate", frozenset({405})),
        ("POST", "/mutate/", frozenset({404, 307})),
        ("POST", "/healthz", frozenset({405})),
        ("POST", "/" + "x" * 4000, frozenset({404})),
        ("DELETE", "/metrics", frozenset({405})),
    ]
    method, path, expect = rng.choice(options)
    return FuzzInput(
        index, "http", f"{method} {path[:30]}", b"{}", expect, method=method, path=path
    )


def _fixture(index: int, rng: random.Random) -> FuzzInput:
    case, pod = _fixture_pod(rng)
    uid = f"fuzz-{index}"
    return FuzzInput(
        index, "fixture", f"{case}, unchanged", _dumps(pod_review(pod, "fuzz", uid)),
        pod=pod, uid=uid,
    )  # fmt: skip


def _pod_family(mutator: Mutator) -> Callable[[int, random.Random], FuzzInput]:
    def make(index: int, rng: random.Random) -> FuzzInput:
        return _pod_input(index, mutator.__name__.replace("_", "-"), rng, [mutator], 0.3)

    return make


# Families take turns in this order, so any run of len(SCHEDULE) inputs covers all of them.
SCHEDULE: list[Callable[[int, random.Random], FuzzInput]] = [
    *[_pod_family(annotation_values)] * 8,
    *[_pod_family(annotation_types)] * 3,
    *[_pod_family(metadata_shapes)] * 3,
    *[_pod_family(odd_containers)] * 8,
    *[_pod_family(spec_shapes)] * 3,
    *[_pod_family(type_confusion)] * 6,
    *[_pod_family(deletion)] * 3,
    *[_envelope] * 4,
    *[_not_json] * 2,
    *[_content_type] * 2,
    *[_unsendable] * 2,
    _huge,
    _http,
    _fixture,
]


def fuzz_input(seed: int, index: int) -> FuzzInput:
    """Input number ``index`` of the campaign ``seed``: the same on every run."""
    rng = random.Random(f"{seed}:{index}")
    return SCHEDULE[index % len(SCHEDULE)](index, rng)


# ---------------------------------------------------------------------------------------
# Judging an answer


def pod_problems(pod: Any) -> set[str]:
    """What the API server (or the finisher) would refuse in a pod; tolerant of any shape."""
    if not isinstance(pod, dict):
        return {"pod is not an object"}
    problems = set()
    spec = podview.spec(pod)
    seen: Counter[str] = Counter()
    for key in ("initContainers", "containers", "ephemeralContainers"):
        entries = podview.objects(spec, key)
        names_here = [c.get("name") for c in entries]
        seen.update(n for n in names_here if isinstance(n, str))
        nameless = sum(not isinstance(n, str) or not n for n in names_here)
        if nameless:
            problems.add(f"{nameless} of {key} without a name")
        if key != "ephemeralContainers":
            imageless = sum(not isinstance(c.get("image"), str) for c in entries)
            if imageless:
                problems.add(f"{imageless} of {key} without an image")
    problems |= {f"duplicate container name {n[:40]!r}" for n, count in seen.items() if count > 1}
    if spec.get("hostPID") is True and spec.get("shareProcessNamespace") is True:
        problems.add("shareProcessNamespace together with hostPID")
    for section, written in (
        ("labels", podview.labels(pod)),
        ("annotations", podview.annotations(pod)),
    ):
        wrong = [k for k, v in written.items() if not isinstance(v, str)]
        problems |= {f"{section} {k[:40]!r} is not a string" for k in wrong}
    return problems


_FINISHER_FLAGS = argparse.ArgumentParser(add_help=False)
add_arguments(_FINISHER_FLAGS)


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 1 <= int(text) <= 65535


def _finisher_rejects(pod: dict[str, Any]) -> str | None:
    """Why the injected finisher would not use the environment the patch gave it as given.

    It would exit 2 (before 0.2), or warn and fall back to a default: either way the webhook
    should have said so at admission, where the user sees it.
    """
    for container in pod["spec"]["containers"]:
        if isinstance(container, dict) and container.get("name") == names.FINISHER_CONTAINER:
            env: dict[str, str] = {}
            for entry in container.get("env", []):
                if isinstance(entry.get("name"), str) and isinstance(entry.get("value"), str):
                    env[entry["name"]] = entry["value"]
                elif not isinstance(entry.get("valueFrom"), dict):
                    return f"an env entry of the finisher is neither text nor valueFrom: {entry}"
            for key, value in env.items():
                if value == spec.EXPORTER_NONE:  # a master without an exporter
                    continue
                if key.endswith("_URL") and not _is_port(urlsplit(value).netloc.rpartition(":")[2]):
                    return f"{key}={value[:60]!r}: not a port from 1 to 65535"
            try:
                config = resolve(_FINISHER_FLAGS.parse_args([]), env)
            except ConfigurationError as error:
                return f"the finisher rejects its env: {error}"
            if config.warnings:
                return f"the finisher ignores part of its env: {config.warnings[0]}"
            return None
    return None


def patch_problem(sent: FuzzInput, ops: Any) -> str | None:
    """What is wrong with a patch our webhook returned for ``sent``'s pod, if anything."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        return "the patch is not a list of operations"
    for op in ops:
        path = str(op.get("path"))
        if op.get("op") != "add" or not path.startswith(ALLOWED_PATCH_PATHS):
            return f"unexpected operation {op.get('op')} {path[:60]}"
    try:
        patched = jsonpatch.apply_patch(copy.deepcopy(sent.pod), ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        return f"the patch does not apply: {error}"
    new = pod_problems(patched) - pod_problems(sent.pod)
    if new:
        return "the patched pod is invalid: " + "; ".join(sorted(new))
    rejected = _finisher_rejects(patched)
    if rejected:
        return rejected
    again = json.loads(handle_review(_dumps(pod_review(patched)), InjectionConfig()).body)
    if "patch" in again.get("response", {}):
        return "not idempotent: a reinvocation patches the pod again"
    return None


@dataclass
class Tally:
    """What the campaign saw; ``defects`` holds everything that fails it."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    healthz: list[float] = field(default_factory=list)
    patches_checked: int = 0
    defects: dict[str, list[str]] = field(default_factory=dict)
    defect_counts: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    peak_rss_kib: int = 0

    def merge(self, other: "Tally") -> None:
        """Add another worker's counts to these."""
        self.sent += other.sent
        self.statuses += other.statuses
        self.families += other.families
        self.decisions += other.decisions
        self.latencies += other.latencies
        self.slowest = max(self.slowest, other.slowest)
        self.patches_checked += other.patches_checked
        self.defect_counts += other.defect_counts
        for kind, examples in other.defects.items():
            kept = self.defects.setdefault(kind, [])
            kept += examples[: EXAMPLES_KEPT - len(kept)]

    def defect(self, kind: str, example: str) -> None:
        self.defect_counts[kind] += 1
        kept = self.defects.setdefault(kind, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(example[:400])


def judge(sent: FuzzInput, status: int, body: bytes, seconds: float, tally: Tally) -> None:
    """Count one answer and record what is wrong with it."""
    where = f"#{sent.index} {sent.family}: {sent.description}"
    tally.statuses[status] += 1
    tally.latencies.append(seconds)
    if seconds > tally.slowest[0]:
        tally.slowest = (seconds, where)
    if seconds > STALL_SECONDS:
        tally.defect("stall (> 2 s)", f"{where} took {seconds:.1f} s")
    if status >= 500:
        tally.defect("5xx", f"{where} -> {status} {body[:200]!r}")
        return
    if status not in sent.expect:
        tally.defect("unexpected status", f"{where} -> {status} {body[:200]!r}")
    if status == 400:
        try:
            message = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):
            tally.defect("400 without a one-line error", f"{where} -> {body[:200]!r}")
        else:
            if not isinstance(message, str) or "\n" in message or len(message) > 1000:
                tally.defect("400 without a one-line error", f"{where} -> {body[:200]!r}")
    if status != 200 or sent.path != "/mutate":
        return
    try:
        response = json.loads(body)["response"]
    except (ValueError, KeyError, TypeError):
        tally.defect("200 without an AdmissionReview", f"{where} -> {body[:200]!r}")
        return
    reason = str(response.get("auditAnnotations", {}).get("reason", ""))
    tally.decisions[str(response.get("auditAnnotations", {}).get("decision"))] += 1
    if sent.uid is not None and response.get("uid") != sent.uid:
        tally.defect("wrong uid", f"{where} -> uid {str(response.get('uid'))[:40]!r}")
    if response.get("allowed") is not True:
        tally.defect("allowed: false", f"{where} -> {reason}")
    if reason.startswith("internal error"):
        tally.defect("fail-open (internal error)", f"{where} -> {reason}")
    if "patch" in response:
        if sent.pod is None:
            tally.defect("bad patch", f"{where}: a patch for a review that carries no pod")
            return
        tally.patches_checked += 1
        problem = patch_problem(sent, json.loads(base64.b64decode(response["patch"])))
        if problem:
            tally.defect("bad patch", f"{where}: {problem}")


# ---------------------------------------------------------------------------------------
# The campaign


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]


def _send(client: httpx.Client, base: str, sent: FuzzInput, tally: Tally) -> None:
    headers = {} if sent.content_type is None else {"Content-Type": sent.content_type}
    content: bytes | Iterator[bytes] = _chunks(sent.body) if sent.chunked else sent.body
    started = time.perf_counter()
    try:
        answer = client.request(sent.method, base + sent.path, content=content, headers=headers)
    except httpx.TimeoutException:
        tally.defect("timeout", f"#{sent.index} {sent.family}: {sent.description}")
        return
    except httpx.TransportError as error:
        # The server may answer an over-cap body early and close while we still write it.
        if sent.expect == REFUSED and len(sent.body) > MAX_BODY_BYTES:
            tally.statuses[-1] += 1
            return
        tally.defect("connection error", f"#{sent.index} {sent.family}: {error!r}")
        return
    judge(sent, answer.status_code, answer.content, time.perf_counter() - started, tally)


def _client() -> httpx.Client:
    # verify=False: the --dev webhook's certificate is signed by a throwaway CA.
    return httpx.Client(verify=False, timeout=CLIENT_TIMEOUT)


def _worker(base: str, seed: int, indexes: range, deadline: float) -> Tally:
    """Send ``indexes`` one after another on one connection (one process per connection).

    Each worker is its own process, so building and judging inputs never delays the clock
    of a request in flight, as coroutines sharing one event loop would.
    """
    tally = Tally()
    with _client() as client:
        for index in indexes:
            if time.monotonic() > deadline:
                tally.defect("time budget exhausted", f"stopped before input #{index}")
                break
            try:
                sent = fuzz_input(seed, index)
                tally.sent += 1
                tally.families[sent.family] += 1
                _send(client, base, sent, tally)
            except Exception as error:  # a bug of this script's: say so, and go on
                tally.defect("harness error", f"#{index}: {error!r}")
    return tally


def _watch_healthz(base: str, tally: Tally, stop: threading.Event) -> None:
    with _client() as client:
        while not stop.wait(HEALTHZ_EVERY):
            started = time.perf_counter()
            try:
                status = client.get(base + "/healthz").status_code
            except httpx.HTTPError as error:
                status = 0
                tally.defect("/healthz failed", repr(error))
            seconds = time.perf_counter() - started
            tally.healthz.append(seconds)
            if status != 200 or seconds > STALL_SECONDS:
                tally.defect("/healthz slow or failing", f"{status} after {seconds:.2f} s")


def _campaign(base: str, seed: int, reviews: int, budget: float) -> Tally:
    tally = Tally()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_healthz, args=(base, tally, stop))
    watcher.start()
    deadline = time.monotonic() + budget
    spawn = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(WORKERS, mp_context=spawn) as pool:
            shares = [
                pool.submit(_worker, base, seed, range(k, reviews, WORKERS), deadline)
                for k in range(WORKERS)
            ]
            for share in shares:
                tally.merge(share.result())
    finally:
        stop.set()
        watcher.join()
    return tally


def _serving(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", verify=False, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _peak_rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _log_errors(logged: str, tally: Tally) -> None:
    """Each traceback in the webhook's log, as the line that raised and the exception."""
    raised = ""
    for line in logged.splitlines():
        if line.startswith("  File "):
            raised = line.strip()
        elif line and not line.startswith((" ", "Traceback")) and raised:
            tally.defect("a traceback in the webhook's log", f"{line} ({raised})")
            raised = ""


def run_campaign(reviews: int, seed: int, budget: float = 900.0) -> Tally:
    """Start ``locust-finisher webhook --dev``, send it ``reviews`` inputs, and tally."""
    tally = Tally()
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="webhook-fuzz-") as scratch:
        log_path = Path(scratch) / "webhook.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [*WEBHOOK, "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            deadline = time.monotonic() + 30
            while not _serving(base):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the webhook did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            started = time.perf_counter()
            tally = _campaign(base, seed, reviews, budget)
            tally.wall_seconds = time.perf_counter() - started
            tally.peak_rss_kib = _peak_rss_kib(server.pid)
            if server.poll() is not None:
                tally.defect("the webhook process died", f"exit {server.returncode}")
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                tally.defect("the webhook ignored SIGTERM", "killed after 15 s")
        _log_errors(log_path.read_text(errors="replace"), tally)
    return tally


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def report(tally: Tally, seed: int) -> str:
    """The figures, as a Markdown table and a list of defects."""
    connection = tally.defect_counts["connection error"] + tally.defect_counts["timeout"]
    bad_patches = tally.defect_counts["bad patch"]
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items()) if s >= 0)
    early = tally.statuses[-1]
    if early:
        statuses += f", closed early on an over-cap body: {early}"
    rows = [
        ("inputs sent", f"{tally.sent} (seed {seed})"),
        ("responses by status", statuses),
        ("5xx", str(tally.defect_counts["5xx"])),
        ("connection errors / timeouts", f"{tally.defect_counts['connection error']} / "
         f"{tally.defect_counts['timeout']}"),
        ("crashes (webhook process died)", str(tally.defect_counts["the webhook process died"])),
        ("reviews answered allowed: false", str(tally.defect_counts["allowed: false"])),
        ("fail-open answers (internal error)",
         str(tally.defect_counts["fail-open (internal error)"])),
        ("patches checked / bad", f"{tally.patches_checked} / {bad_patches}"),
        ("decisions", ", ".join(f"{d}: {n}" for d, n in sorted(tally.decisions.items()))),
        ("/mutate latency p50 / p99 / max",
         f"{_quantile(tally.latencies, 0.5) * 1000:.1f} / "
         f"{_quantile(tally.latencies, 0.99) * 1000:.1f} / {tally.slowest[0] * 1000:.0f} ms"),
        ("slowest input", tally.slowest[1][:100]),
        ("/healthz checks, p99 / max",
         f"{len(tally.healthz)}, {_quantile(tally.healthz, 0.99) * 1000:.1f} / "
         f"{max(tally.healthz, default=0) * 1000:.0f} ms"),
        ("webhook peak RSS", f"{tally.peak_rss_kib / 1024:.0f} MiB"),
        ("wall time", f"{tally.wall_seconds:.0f} s"),
    ]  # fmt: skip
    return fuzz_report(
        rows,
        f"connection problems: {connection}; inputs per family: {dict(tally.families)}",
        tally.defects,
        tally.defect_counts,
    )
