"""The key that signs admission records: made once per installation, read by both sides.

The controller makes the Secret the first time any replica starts (a second replica racing
it reads the winner's); the webhook mounts it, so its pods start once it exists. No install
path has to generate a random key, and none carries one in a manifest (docs/design.md).
"""

import base64
import logging

from app.core.admission_record import RecordError, check_key, new_key
from app.kube.client import KubeClient, KubeError, path_of

log = logging.getLogger(__name__)

SECRET_NAME = "locust-finisher-admission-key"  # noqa: S105 - a name, not a secret
SECRET_KEY = "key"  # noqa: S105 - the field the key is in


def _key_of(secret: dict[str, object]) -> bytes:
    data = secret.get("data")
    value = data.get(SECRET_KEY) if isinstance(data, dict) else None
    if not isinstance(value, str):
        raise RecordError(f"Secret {SECRET_NAME} has no {SECRET_KEY!r}")
    try:
        return check_key(base64.b64decode(value, validate=True))
    except ValueError as error:
        raise RecordError(f"Secret {SECRET_NAME}: {error}") from None


async def ensure_key(client: KubeClient, namespace: str) -> bytes:
    """The installation's signing key, from its Secret, made first if there is none.

    Raises:
        RecordError: the Secret exists but holds no usable key (an operator must fix it).
        KubeError: the API server refused or failed (the replica exits and starts again).
    """
    path = path_of("secrets", namespace, SECRET_NAME)
    try:
        return _key_of(await client.get(path))
    except KubeError as error:
        if error.status != 404:
            raise
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET_NAME,
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
        return _key_of(await client.get(path))
    log.info("made the admission key Secret %s/%s", namespace, SECRET_NAME)
    return _key_of(made)
