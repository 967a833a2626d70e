"""Locust's artifacts kept after the pod: what the finisher sends, what the controller keeps.

Locust's artifacts are its HTML report, final stats, failures and exceptions. The finisher
reads them while the stopped master still serves, and hands them to the controller (it has
no API rights of its own); the controller checks who sent them (a TokenReview of the pod's
projected token) and keeps them in one ConfigMap owned by the pod's Job, so they go when the
Job goes. Both ends and the readers (``wait --report-dir``, ``report``) share the rules
here: the files, their order of sacrifice when they do not fit, the caller's claims, the
ConfigMap's shape. No I/O.
"""

import base64
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from app.core import names, podview

if TYPE_CHECKING:
    from app.core.admission_record import Admission

RECEIVER_PORT: Final = 8081
RECEIVER_PATH: Final = "/v1/reports"

# The files, as the readers write them. Locust's URL for each is the finisher's business.
REPORT_HTML: Final = "report.html"
STATS_JSON: Final = "stats.json"
FAILURES_CSV: Final = "failures.csv"
EXCEPTIONS_JSON: Final = "exceptions.json"
FILES: Final = (REPORT_HTML, STATS_JSON, FAILURES_CSV, EXCEPTIONS_JSON)
# When they do not all fit, the HTML report goes first: it is the largest (a megabyte of
# script before any numbers), and the stats it shows are also kept as JSON.
SACRIFICE_ORDER: Final = (REPORT_HTML, EXCEPTIONS_JSON, FAILURES_CSV, STATS_JSON)
# The finisher's own notes on what it could not read, sent beside the files.
LEFT_OUT_PART: Final = "left-out.json"

# A ConfigMap holds at most 1 MiB; the rest of this room is its metadata.
CONFIGMAP_BUDGET: Final = 900 * 1024
# A request carries the files compressed, up to twice what a ConfigMap could keep, so the
# controller, not the finisher, decides what is left out (:func:`choose`); anything larger
# is refused. The finisher only makes its request fit (:func:`fit_request`).
REQUEST_LIMIT: Final = 2 * CONFIGMAP_BUDGET
# Of a request, the files may take all but this: the finisher's left-out notes go beside them.
NOTES_ROOM: Final = 16 * 1024
REQUEST_FILES_LIMIT: Final = REQUEST_LIMIT - NOTES_ROOM
# A reader never inflates one file beyond this (a ConfigMap's gzip could be a bomb).
INFLATED_LIMIT: Final = 256 * 1024 * 1024
# The finisher's notes name each file it did not send at most once, in a line or two: a few
# hundred bytes. Anything bigger, longer or deeper is not a finisher's, and is refused before
# it is parsed (600,000 notes once cost the controller 250 MiB).
LEFT_OUT_LIMIT: Final = 8 * 1024
LEFT_OUT_ENTRIES: Final = len(FILES)
REASON_LIMIT: Final = 200
# One part for each file, and one for the notes.
PARTS_LIMIT: Final = len(FILES) + 1

GZIP_MAGIC: Final = b"\x1f\x8b"
SERVICE_ACCOUNT_PREFIX: Final = "system:serviceaccount:"
POD_NAME_CLAIM: Final = "authentication.kubernetes.io/pod-name"
POD_UID_CLAIM: Final = "authentication.kubernetes.io/pod-uid"

_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_NAME_LIMIT = 253


def receiver_url(
    namespace: str, installation: str = names.INSTALLATION, port: int = RECEIVER_PORT
) -> str:
    """Where the finisher sends the artifacts: the installation's controller Service."""
    return f"http://{installation}-controller.{namespace}.svc:{port}{RECEIVER_PATH}"


def data_key(file: str) -> str:
    """The ConfigMap key of a file (its gzip)."""
    return f"{file}.gz"


@dataclass(frozen=True)
class LeftOut:
    """A file that is not kept, and why (one line)."""

    file: str
    reason: str

    def document(self) -> dict[str, str]:
        """As JSON."""
        return {"file": self.file, "reason": self.reason}


def encode_left_out(left_out: Iterable[LeftOut]) -> str:
    """Compact JSON of what is left out."""
    return json.dumps([entry.document() for entry in left_out], separators=(",", ":"))


def decode_left_out(text: str | None) -> list[LeftOut]:
    """What is left out, from :func:`encode_left_out`'s JSON; nothing if it is not that."""
    try:
        document = json.loads(text or "[]")
    except (ValueError, RecursionError):  # a finisher reads this from the controller's answer
        return []
    if not isinstance(document, list):
        return []
    return [
        LeftOut(str(entry.get("file", ""))[:64], str(entry.get("reason", ""))[:REASON_LIMIT])
        for entry in document
        if isinstance(entry, dict)
    ]


def json_depth(text: str) -> int:
    """How deep ``text``'s arrays and objects nest, strings skipped: checked before parsing."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def read_left_out(raw: bytes, sent: Iterable[str]) -> list[LeftOut]:
    """The notes of a request's ``left-out.json``: one for each of :data:`FILES` not ``sent``.

    Strict where :func:`decode_left_out` is lenient: these come from a caller, not from our
    own ConfigMap, and the answer repeats them.

    Raises:
        ValueError: (one line) for anything :func:`encode_left_out` does not write.
    """
    if len(raw) > LEFT_OUT_LIMIT:
        raise ValueError(f"{LEFT_OUT_PART} is larger than {LEFT_OUT_LIMIT} bytes")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ValueError(f"{LEFT_OUT_PART} is not UTF-8") from None
    if json_depth(text) > 2:
        raise ValueError(f"{LEFT_OUT_PART} nests deeper than a list of objects")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{LEFT_OUT_PART} is not JSON: {str(error)[:60]}") from None
    if not isinstance(document, list) or len(document) > LEFT_OUT_ENTRIES:
        raise ValueError(f"{LEFT_OUT_PART} is not a list of at most {LEFT_OUT_ENTRIES} notes")
    named = set(sent)
    notes: list[LeftOut] = []
    for entry in document:
        if not isinstance(entry, dict) or set(entry) != {"file", "reason"}:
            raise ValueError(f"{LEFT_OUT_PART}: each note is {{file, reason}}")
        file, reason = entry["file"], entry["reason"]
        if not isinstance(reason, str) or file not in FILES or file in named:
            raise ValueError(f"{LEFT_OUT_PART}: a note on {str(file)[:40]!r} is not ours")
        named.add(file)
        notes.append(LeftOut(file, reason[:REASON_LIMIT]))
    return notes


def _sacrifice(sizes: Mapping[str, int], limit: int, room: str) -> list[LeftOut]:
    """What to leave out of files of ``sizes``, in :data:`SACRIFICE_ORDER`, to fit ``limit``."""
    total = sum(sizes.values())
    left_out: list[LeftOut] = []
    order = [f for f in SACRIFICE_ORDER if f in sizes] + [
        f for f in sizes if f not in SACRIFICE_ORDER
    ]
    for file in order:
        if total <= limit:
            break
        total -= sizes[file]
        left_out.append(LeftOut(file, f"{sizes[file]} bytes compressed, and {room} {limit} in all"))
    return left_out


def choose(sizes: Mapping[str, int], budget: int = CONFIGMAP_BUDGET) -> list[LeftOut]:
    """The controller's decision: what to leave out of the ConfigMap so the rest fit ``budget``.

    ``sizes`` are compressed bytes. Only the controller calls it, so the budget is decided
    once, by the end that writes the ConfigMap.
    """
    return _sacrifice(sizes, budget, "the kept files may take")


def fit_request(sizes: Mapping[str, int], limit: int = REQUEST_FILES_LIMIT) -> list[LeftOut]:
    """What the finisher cannot send at all: one request may carry ``limit`` bytes of files.

    A bound on the request's size, not the ConfigMap's budget: what fits is sent whole, and
    the controller chooses from it.
    """
    return _sacrifice(sizes, limit, "one hand-over may carry")


# ----------------------------------------------------------------- who is calling


class RefusedError(Exception):
    """Artifacts the controller does not keep: the HTTP status and one line why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Caller:
    """The pod an artifacts request's token was issued to."""

    namespace: str
    service_account: str
    pod_name: str
    pod_uid: str


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header.

    Raises:
        RefusedError: 401 when there is none.
    """
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise RefusedError(401, "no bearer token")
    return token


def token_review(token: str) -> dict[str, Any]:
    """The TokenReview asking the API server whether ``token`` is a pod's, for our audience."""
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token, "audiences": [names.REPORT_AUDIENCE]},
    }


def _claim(extra: Mapping[str, Any], key: str) -> str:
    values = extra.get(key)
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return ""


def caller_of(review: Mapping[str, Any]) -> Caller:
    """The pod a reviewed token belongs to.

    Raises:
        RefusedError: 401 unless the token is authenticated, for our audience, a service
            account's and bound to a pod.
    """
    status = podview.mapping(review, "status")
    if status.get("authenticated") is not True:
        error = str(status.get("error") or "not authenticated")[:120]
        raise RefusedError(401, f"the token is not valid: {error}")
    audiences = status.get("audiences")
    if not isinstance(audiences, list) or names.REPORT_AUDIENCE not in audiences:
        raise RefusedError(401, f"the token is not for the audience {names.REPORT_AUDIENCE}")
    user = podview.mapping(status, "user")
    username = str(user.get("username") or "")
    namespace, _, account = username.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
    if not username.startswith(SERVICE_ACCOUNT_PREFIX) or not namespace or not account:
        raise RefusedError(401, "the token is not a service account's")
    extra = podview.mapping(user, "extra")
    pod_name, pod_uid = _claim(extra, POD_NAME_CLAIM), _claim(extra, POD_UID_CLAIM)
    if not pod_name or not pod_uid:
        raise RefusedError(401, "the token is not bound to a pod (no pod-name/pod-uid claims)")
    return Caller(namespace, account, pod_name, pod_uid)


def check_pod(pod: Mapping[str, Any] | None, caller: Caller, key: bytes) -> "Admission":
    """That ``pod`` (as read from the API) is the caller's, and one a Job made that we admitted.

    The record says that the Job controller created the pod for the Job its ownerReference
    names; the receiver still reads that Job before it keeps anything in its name.

    Raises:
        RefusedError: 403 otherwise.
    """
    # Here, not at the top: the finisher shares this module, and the record's HMAC would load
    # OpenSSL (megabytes of its 64 MiB) into every test pod for nothing.
    from app.core.admission_record import RecordError, admitted

    where = f"{caller.namespace}/{caller.pod_name}"
    if pod is None:
        raise RefusedError(403, f"pod {where} does not exist")
    metadata = podview.mapping(pod, "metadata")
    if metadata.get("uid") != caller.pod_uid:
        raise RefusedError(403, f"pod {where} is not the one the token was issued to")
    if podview.mapping(metadata, "labels").get(names.MANAGED_LABEL) != "true":
        raise RefusedError(403, f"pod {where} is not managed by locust-finisher")
    try:
        record = admitted(pod, key)
    except RecordError as error:
        raise RefusedError(403, f"pod {where}: {error}") from None
    if not record.made_by_job_controller:
        raise RefusedError(403, f"pod {where} was not made by a Job: its report is not kept")
    return record


# ----------------------------------------------------------------- the ConfigMap


def configmap_name(pod_name: str, pod_uid: str) -> str:
    """The ConfigMap's name: ``<pod>-report``, shortened with the uid when too long."""
    name = f"{pod_name}-report"
    if len(name) <= _NAME_LIMIT:
        return name
    suffix = f"-{pod_uid[:8]}-report"
    return pod_name[: _NAME_LIMIT - len(suffix)].rstrip("-.") + suffix


def _label_value(text: str) -> str | None:
    return text if len(text) <= 63 and _LABEL_VALUE.fullmatch(text) else None


def owner_reference(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The pod's controller (its Job) as the ConfigMap's owner; the pod itself without one."""
    metadata = podview.mapping(pod, "metadata")
    for ref in podview.objects(metadata, "ownerReferences"):
        if ref.get("controller") is True and ref.get("uid") and ref.get("name"):
            return {
                "apiVersion": str(ref.get("apiVersion") or "batch/v1"),
                "kind": str(ref.get("kind") or "Job"),
                "name": str(ref["name"]),
                "uid": str(ref["uid"]),
            }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": str(metadata.get("name") or ""),
        "uid": str(metadata.get("uid") or ""),
    }


def job_name(pod: Mapping[str, Any]) -> str | None:
    """The name of the pod's Job, if a Job controls it."""
    owner = owner_reference(pod)
    return owner["name"] if owner["kind"] == "Job" else None


def artifacts_configmap(
    pod: Mapping[str, Any],
    files: Mapping[str, bytes],
    left_out: Iterable[LeftOut],
    kept_at: str,
) -> dict[str, Any]:
    """The ConfigMap that keeps the artifacts ``files`` (gzip, as sent) of ``pod`` next to it."""
    metadata = podview.mapping(pod, "metadata")
    pod_name, pod_uid = str(metadata.get("name") or ""), str(metadata.get("uid") or "")
    labels = {names.REPORT_OF_LABEL: pod_uid}
    for label, value in (
        (names.REPORT_JOB_LABEL, job_name(pod)),
        (names.REPORT_POD_LABEL, pod_name),
    ):
        fit = _label_value(value or "")
        if fit:
            labels[label] = fit
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(pod_name, pod_uid),
            "namespace": str(metadata.get("namespace") or ""),
            "labels": labels,
            "annotations": {
                names.REPORT_LEFT_OUT_ANNOTATION: encode_left_out(left_out),
                names.REPORT_KEPT_AT_ANNOTATION: kept_at,
            },
            "ownerReferences": [owner_reference(pod)],
        },
        "binaryData": {
            data_key(file): base64.b64encode(data).decode() for file, data in files.items()
        },
    }


def artifacts_selector(pod_uid: str | None = None, *, pod_name: str | None = None) -> str:
    """The label selector of a pod's artifacts ConfigMap, by its uid or (pod gone) its name."""
    if pod_uid:
        return f"{names.REPORT_OF_LABEL}={pod_uid}"
    return f"{names.REPORT_POD_LABEL}={pod_name}"


@dataclass(frozen=True)
class KeptFiles:
    """Kept artifacts, inflated: file name to content, and what was left out."""

    files: dict[str, bytes]
    left_out: list[LeftOut]
    kept_at: str = ""


def inflate(data: bytes, limit: int = INFLATED_LIMIT) -> bytes:
    """One gzip member, at most ``limit`` bytes of it.

    Raises:
        ValueError: when it is not gzip or inflates beyond ``limit``.
    """
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as error:
        raise ValueError(f"not gzip: {error}") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"larger than {limit} bytes inflated")
    return out


def kept_files(configmap: Mapping[str, Any]) -> KeptFiles:
    """An artifacts ConfigMap's files (a file that does not inflate counts as left out)."""
    metadata = podview.mapping(configmap, "metadata")
    annotations = podview.mapping(metadata, "annotations")
    left_out = decode_left_out(annotations.get(names.REPORT_LEFT_OUT_ANNOTATION))
    binary = podview.mapping(configmap, "binaryData")
    files: dict[str, bytes] = {}
    for file in FILES:
        encoded = binary.get(data_key(file))
        if not isinstance(encoded, str):
            continue
        try:
            files[file] = inflate(base64.b64decode(encoded, validate=True))
        except ValueError as error:
            left_out.append(LeftOut(file, f"kept, but unreadable: {error}"))
    kept_at = str(annotations.get(names.REPORT_KEPT_AT_ANNOTATION) or "")
    return KeptFiles(files, left_out, kept_at)


# ----------------------------------------------------------------- the request body


def multipart_pieces(
    boundary: str, parts: Mapping[str, tuple[str, bytes | Iterable[bytes]]]
) -> list[bytes]:
    """A ``multipart/form-data`` body of ``parts`` (name to content type and content).

    In pieces, the contents among them as they are, so a sender need not copy them all into
    one buffer; ``b"".join`` makes the body. A content may itself be given in pieces (the
    finisher keeps each file as it compressed it): they follow one another in the part, the
    same bytes on the wire as their join.
    """
    pieces: list[bytes] = []
    for part, (content_type, content) in parts.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{part}"; '
            f'filename="{part}"\r\nContent-Type: {content_type}\r\n\r\n'
        )
        pieces.append(head.encode())
        if isinstance(content, bytes):
            pieces.append(content)
        else:
            pieces += content
        pieces.append(b"\r\n")
    pieces.append(f"--{boundary}--\r\n".encode())
    return pieces
