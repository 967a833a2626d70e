"""The webhook's signed word on who created a pod: what the controller's trust rests on.

A pod's labels, annotations and ownerReferences are written by whoever creates it, so none of
them proves that our webhook admitted the pod or that the Job it names made it. Only the
admission request knows the creator (``request.userInfo``). The webhook writes that, with the
namespace, the controller owner and a digest of the status annotation it wrote, into
``locust-finisher.io/admission``, signed with a key kept in a Secret that only the webhook
and the controller read (HMAC-SHA256). The controller acts on a pod only when the record
verifies against the pod as it is now, and on its Job only when the record says the Job
controller created the pod for that Job (docs/design.md, SECURITY.md).

The record cannot hold the pod's name or uid: the API server sets them after admission. A
record copied onto another pod is therefore caught by what it does hold, and by the webhook,
which re-signs or removes the record of every pod it sees. What remains (a copy on a pod that
the webhook never saw, within a minute of the original) is in SECURITY.md.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.core import names, podview
from app.core.patch import PatchOp, add, pointer
from app.core.timestamps import parse_time

RECORD_ANNOTATION = names.ADMISSION_ANNOTATION
VERSION = "v1"
# The identities under which the Job controller creates pods: its own ServiceAccount when the
# controller manager runs with --use-service-account-credentials (kubeadm and most clusters),
# else the controller manager's own user.
JOB_CONTROLLERS = frozenset(
    {"system:serviceaccount:kube-system:job-controller", "system:kube-controller-manager"}
)
# How far the API server's creationTimestamp may lie from the webhook's clock: an admission
# takes milliseconds, so this is clock skew between nodes, and the window in which a copied
# record could pass on a pod the webhook never saw.
CLOCK_SLACK_SECONDS = 60.0
# A key shorter than this is refused: HMAC-SHA256 wants at least its output's size.
KEY_BYTES = 32
# A value past this is not ours (ours is about 400 bytes).
_RECORD_LIMIT = 2048


@dataclass(frozen=True)
class Admission:
    """What the webhook saw when it admitted a pod."""

    namespace: str
    creator: str
    owner_kind: str  # "" for a pod without a controller owner
    owner_uid: str
    status_digest: str
    at: int  # the webhook's clock, seconds since the epoch

    @property
    def made_by_job_controller(self) -> bool:
        """Whether the Job controller created the pod, for the Job the record names."""
        return self.creator in JOB_CONTROLLERS and self.owner_kind == "Job" and bool(self.owner_uid)


class RecordError(ValueError):
    """The pod's record is missing, malformed, unsigned by our key or about another pod."""


def check_key(raw: bytes) -> bytes:
    """``raw`` as a signing key (the Secret's ``key``, or the file it is mounted as).

    Raises:
        RecordError: it is too short to sign with.
    """
    key = raw.strip()
    if len(key) < KEY_BYTES:
        raise RecordError(f"the admission key has {len(key)} bytes; it needs {KEY_BYTES}")
    return key


def new_key() -> str:
    """A fresh key, as text a Secret holds: 48 random bytes, base64."""
    return base64.b64encode(secrets.token_bytes(48)).decode()


def digest(status: str) -> str:
    """The digest of a status annotation's value."""
    return hashlib.sha256(status.encode()).hexdigest()


def controller_owner(pod: Mapping[str, Any]) -> tuple[str, str]:
    """The kind and uid of the pod's controller ownerReference, or two empty strings."""
    owner = podview.controller_reference(pod)
    return podview.text(owner, "kind") or "", podview.text(owner, "uid") or ""


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    # base64.urlsafe_b64encode without its two Python wrappers: the same characters.
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> bytes:
    # The one-shot C HMAC: the same bytes as hmac.new(...).digest(), without its objects.
    return hmac.digest(key, f"{VERSION}.{body}".encode(), "sha256")


def sign(admission: Admission, key: bytes) -> str:
    """The annotation's value: version, the record as JSON, and its HMAC."""
    # Compact JSON (orjson writes what json.dumps with these separators writes, but UTF-8
    # where it writes \u escapes: the reader takes either, and the MAC covers the text).
    body = _b64(
        orjson.dumps(
            {
                "ns": admission.namespace,
                "creator": admission.creator,
                "ownerKind": admission.owner_kind,
                "ownerUid": admission.owner_uid,
                "status": admission.status_digest,
                "at": admission.at,
            }
        )
    )
    return f"{VERSION}.{body}.{_b64(_mac(key, body))}"


def read_record(value: str, key: bytes) -> Admission:
    """The record in an annotation's value, if our key signed it.

    Raises:
        RecordError: saying what is wrong with it.
    """
    if len(value) > _RECORD_LIMIT:
        raise RecordError("the admission record is too long to be ours")
    version, _, rest = value.partition(".")
    body, _, mac = rest.partition(".")
    if version != VERSION or not body or not mac:
        raise RecordError("the admission record is not a signed record")
    try:
        signature = _unb64(mac)
    except ValueError:
        raise RecordError("the admission record's signature is not base64") from None
    if not hmac.compare_digest(signature, _mac(key, body)):
        raise RecordError("the admission record is not signed by this installation's key")
    try:
        fields = json.loads(_unb64(body))
        return Admission(
            namespace=str(fields["ns"]),
            creator=str(fields["creator"]),
            owner_kind=str(fields["ownerKind"]),
            owner_uid=str(fields["ownerUid"]),
            status_digest=str(fields["status"]),
            at=int(fields["at"]),
        )
    except (ValueError, KeyError, TypeError):
        # Signed by our key yet unreadable: a record of a future version.
        raise RecordError("the admission record is of a form this version cannot read") from None


def admitted(pod: Mapping[str, Any], key: bytes) -> Admission:
    """The verified record of ``pod`` as it is now: signed, and about this pod.

    Raises:
        RecordError: the pod carries no record, or one that does not fit it.
    """
    annotations = podview.annotations(pod)
    value = annotations.get(RECORD_ANNOTATION)
    if not isinstance(value, str):
        raise RecordError("the pod carries no admission record")
    record = read_record(value, key)
    metadata = podview.mapping(pod, "metadata")
    if record.namespace != (podview.text(metadata, "namespace") or ""):
        raise RecordError(f"the admission record is of a pod in namespace {record.namespace}")
    if (record.owner_kind, record.owner_uid) != controller_owner(pod):
        raise RecordError("the pod's controller is not the one it was admitted with")
    status = annotations.get(names.STATUS_ANNOTATION)
    if not isinstance(status, str) or digest(status) != record.status_digest:
        raise RecordError("the pod's status annotation is not the one the webhook wrote")
    created = parse_time(podview.text(metadata, "creationTimestamp"))
    if created is None or abs(created - record.at) > CLOCK_SLACK_SECONDS:
        raise RecordError("the pod was not created when its admission record was written")
    return record


def _vouched_status(pod: Mapping[str, Any], key: bytes) -> str | None:
    """The pod's status annotation, if a record signed by ``key`` vouches for it."""
    annotations = podview.annotations(pod)
    status, value = annotations.get(names.STATUS_ANNOTATION), annotations.get(RECORD_ANNOTATION)
    if not isinstance(status, str) or not isinstance(value, str):
        return None
    try:
        record = read_record(value, key)
    except RecordError:
        return None
    return status if record.status_digest == digest(status) else None


@dataclass(frozen=True)
class Admitter:
    """Who asks the webhook, and with what key it signs."""

    namespace: str
    creator: str
    key: bytes
    now: float


def seal_op(pod: Mapping[str, Any], status: str | None, admitter: Admitter) -> PatchOp | None:
    """The op that signs the pod's record, or removes one we did not write; None: neither.

    ``status`` is the status annotation the webhook writes now, if it mutates the pod.

    A pod mutated now gets a record of this request. So does one that an earlier pass
    mutated (a reinvocation), whose status annotation our own record vouches for; the creator
    is this request's, so a record copied from another pod names whoever copied it. Any
    other pod loses a record it brought along. The annotations map exists whenever a record
    is signed (the status annotation is in it), so one ``add`` (which replaces) is enough.
    """
    status = status or _vouched_status(pod, admitter.key)
    if status is None:
        if RECORD_ANNOTATION not in podview.annotations(pod):
            return None
        return {"op": "remove", "path": pointer("metadata", "annotations", RECORD_ANNOTATION)}
    kind, uid = controller_owner(pod)
    record = Admission(
        admitter.namespace, admitter.creator, kind, uid, digest(status), int(admitter.now)
    )
    return add(sign(record, admitter.key), "metadata", "annotations", RECORD_ANNOTATION)
