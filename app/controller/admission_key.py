"""The key that signs admission records: made once per installation, read by both sides.

The controller makes the Secret the first time any replica starts (a second replica racing
it reads the winner's); the webhook mounts it, so its pods start once it exists. No install
path has to generate a random key, and none carries one in a manifest (docs/design.md).
"""

import base64
import logging

from app.core.admission_record import RecordError, check_key, new_key
from app.core.names import INSTALLATION
from app.kube.client import KubeClient, KubeError, path_of

log = logging.getLogger(__name__)

SECRET_KEY = "key"  # noqa: S105 - the field the key is in


def key_secret_name(installation: str) -> str:
    """The Secret that holds an installation's signing key."""
    return f"{installation}-admission-key"


def lease_name(installation: str) -> str:
    """The Lease an installation's controller replicas elect a leader with."""
    return f"{installation}-controller"


SECRET_NAME = key_secret_name(INSTALLATION)


def _key_of(secret: dict[str, object], name: str) -> bytes:
    data = secret.get("data")
    value = data.get(SECRET_KEY) if isinstance(data, dict) else None
    if not isinstance(value, str):
        raise RecordError(f"Secret {name} has no {SECRET_KEY!r}")
    try:
        return check_key(base64.b64decode(value, validate=True))
    except ValueError as error:
        raise RecordError(f"Secret {name}: {error}") from None


async def ensure_key(client: KubeClient, namespace: str, name: str) -> bytes:
    """The installation's signing key, from its Secret, made first if there is none.

    Raises:
        RecordError: the Secret exists but holds no usable key (an operator must fix it).
        KubeError: the API server refused or failed (the replica exits and starts again).
    """
    path = path_of("secrets", namespace, name)
    try:
        return _key_of(await client.get(path), name)
    except KubeError as error:
        if error.status != 404:
            raise
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "locust-finisher"},
        },
        "type": "Opaque",
        "stringData": {SECRET_KEY: new_key()},
    }
    try:
        made = await client.create(path_of("secrets", namespace), body)
    except KubeError as error:
        if error.status != 409:  # the other replica made it first
            raise
        return _key_of(await client.get(path), name)
    log.info("made the admission key Secret %s/%s", namespace, name)
    return _key_of(made, name)
