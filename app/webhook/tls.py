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
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class CertificateFiles:
    """A certificate and key on disk, loaded into ``context``."""

    cert_file: Path
    key_file: Path
    context: ssl.SSLContext
    _fingerprint: bytes = b""

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
        except (OSError, ssl.SSLError) as error:
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


def server_context(cert_file: Path, key_file: Path) -> CertificateFiles:
    """A TLS 1.2+ server context loaded from the files.

    Raises:
        OSError, ssl.SSLError: when the files cannot be read or do not form a pair; at start
            that is a configuration error the operator must see.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    files = CertificateFiles(cert_file, key_file, context)
    context.load_cert_chain(str(cert_file), str(key_file))
    files._fingerprint = files.fingerprint()
    return files
