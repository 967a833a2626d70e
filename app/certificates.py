"""A small certificate authority for the webhook, dev set-ups and the local test cluster.

Webhook certificates are the classic pain of admission webhooks; for clusters without
cert-manager, ``locust-finisher certs`` mints a CA and a serving certificate for the
webhook Service's DNS names. Keys are written with mode 0600 and never committed.
"""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key."""

    cert_pem: bytes
    key_pem: bytes


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# One lifetime for every certificate we make (the CA and the serving certificate, by `certs`
# and by the chart's selfSignedCertificate.validityDays): nothing renews them but a re-run,
# so a year would take the webhook down (fail open) on an anniversary nobody remembers.
VALIDITY_DAYS = 3650


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    # Back-dated a little so a peer whose clock lags slightly still accepts it.
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def new_ca(common_name: str = "locust-finisher CA", days: int = VALIDITY_DAYS) -> KeyPair:
    """A self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(days)
    subject = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def issue(
    ca: KeyPair,
    common_name: str,
    dns_names: list[str] | tuple[str, ...] = (),
    ip_addresses: list[str] | tuple[str, ...] = (),
    *,
    client: bool = False,
    organization: str | None = None,
    days: int = VALIDITY_DAYS,
) -> KeyPair:
    """A leaf certificate signed by ``ca``: a server certificate, or a client one.

    For a client certificate the API server reads the user from the CN and the groups from O.
    """
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key must be an EC key made by new_ca()")
    key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(days)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    alternative_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alternative_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternative_names), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def write_pair(directory: Path, stem: str, pair: KeyPair) -> tuple[Path, Path]:
    """Write ``<stem>.crt`` and ``<stem>.key`` (mode 0600) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(pair.cert_pem)
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(pair.key_pem)
    return cert_path, key_path


def read_pair(directory: Path, stem: str) -> KeyPair | None:
    """The pair written by :func:`write_pair`, if both files exist."""
    cert_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    if cert_path.is_file() and key_path.is_file():
        return KeyPair(cert_path.read_bytes(), key_path.read_bytes())
    return None


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The names the API server may use to reach an in-cluster Service."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
