"""Serving certificates that follow their files: rotated certificates load without a restart.

uvicorn reads its certificate once at start. A webhook's certificate is rotated by
cert-manager or by re-running ``locust-finisher certs``, and Kubernetes updates a mounted
Secret by swapping a symlink, so we poll the files' contents and load the new pair into the
live SSLContext; new handshakes use it, open connections are unaffected. A half-written or
mismatched pair is not loaded: the old one stays in service until the pair is whole.
"""

import asyncio
import hashlib
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

log = logging.getLogger(__name__)


@dataclass
class CertificateFiles:
    """A certificate and key on disk, loaded into ``context``."""

    cert_file: Path
    key_file: Path
    context: ssl.SSLContext
    _fingerprint: bytes = b""
    # The loaded certificate's validity, in epoch seconds.
    _valid_from: float = 0.0
    _valid_until: float = 0.0

    def valid_now(self, now: float | None = None) -> bool:
        """Whether the certificate in service is within its validity period."""
        moment = time.time() if now is None else now
        return self._valid_from <= moment < self._valid_until

    def _note_validity(self) -> None:
        certificate = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        self._valid_from = certificate.not_valid_before_utc.timestamp()
        self._valid_until = certificate.not_valid_after_utc.timestamp()

    def fingerprint(self) -> bytes:
        """A digest of both files' current contents."""
        digest = hashlib.sha256()
        for path in (self.cert_file, self.key_file):
            digest.update(path.read_bytes())
        return digest.digest()

    def reload_if_changed(self) -> bool:
        """Load the files into the context if they changed; True if a new pair is in use."""
        try:
            current = self.fingerprint()
            if current == self._fingerprint:
                return False
            self.context.load_cert_chain(str(self.cert_file), str(self.key_file))
            self._note_validity()
        except (OSError, ssl.SSLError, ValueError) as error:
            log.warning("certificate files not (re)loaded, keeping the current pair: %s", error)
            return False
        self._fingerprint = current
        log.info("serving certificate loaded from %s", self.cert_file)
        return True

    async def follow(self, interval_seconds: float = 10.0) -> None:
        """Reload whenever the files change, until cancelled."""
        while True:
            await asyncio.sleep(interval_seconds)
            self.reload_if_changed()


# TLS 1.2 suites: Mozilla's "intermediate" profile without its DHE ones; forward secret and
# authenticated encryption only (no CBC, no SHA-1). TLS 1.3's suites are all of that kind, and
# the API server speaks both.
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


class CertificateFilesError(Exception):
    """The certificate and key cannot serve TLS; the message says why in one line."""


def _why(error: Exception) -> str:
    if isinstance(error, ssl.SSLError) and error.reason == "KEY_VALUES_MISMATCH":
        return "the key does not match the certificate"
    if isinstance(error, ssl.SSLError) and error.library == "PEM":
        return "not a PEM certificate and key"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def server_context(cert_file: Path, key_file: Path) -> CertificateFiles:
    """A TLS 1.2+ server context loaded from the files.

    Raises:
        CertificateFilesError: when the files cannot be read or do not form a pair; at start
            that is a configuration error the operator must see.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    files = CertificateFiles(cert_file, key_file, context)
    try:
        context.load_cert_chain(str(cert_file), str(key_file))
        files._fingerprint = files.fingerprint()
        files._note_validity()
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise CertificateFilesError(f"{cert_file}, {key_file}: {_why(error)}") from None
    return files
