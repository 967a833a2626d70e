import base64
import ssl
from pathlib import Path

from cryptography import x509

from tests.conftest import run_cli


def san(path: Path) -> list[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in names]


def test_writes_a_ca_and_a_serving_certificate_for_the_service(tmp_path: Path) -> None:
    result = run_cli("certs", "--dir", str(tmp_path), "--namespace", "lf", "--ip", "127.0.0.1")
    assert result.returncode == 0, result.stderr
    ca_bundle = result.stdout.strip().splitlines()[-1].removeprefix("caBundle: ")
    assert base64.b64decode(ca_bundle) == (tmp_path / "ca.crt").read_bytes()
    assert "locust-finisher-webhook.lf.svc" in san(tmp_path / "tls.crt")
    assert "127.0.0.1" in san(tmp_path / "tls.crt")
    assert (tmp_path / "tls.key").stat().st_mode & 0o777 == 0o600
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))


def test_rerunning_rotates_the_serving_certificate_but_keeps_the_ca(tmp_path: Path) -> None:
    first = run_cli("certs", "--dir", str(tmp_path)).stdout.splitlines()[-1]
    old_cert = (tmp_path / "tls.crt").read_bytes()
    second = run_cli("certs", "--dir", str(tmp_path))
    assert second.stdout.splitlines()[-1] == first
    assert "reused CA" in second.stdout
    assert (tmp_path / "tls.crt").read_bytes() != old_cert


def test_bad_input_exits_2(tmp_path: Path) -> None:
    assert run_cli("certs", "--dir", str(tmp_path), "--ip", "not-an-ip").returncode == 2
    (tmp_path / "f").write_text("")
    result = run_cli("certs", "--dir", str(tmp_path / "f"))
    assert result.returncode == 2
    assert result.stderr.startswith("locust-finisher certs: ")


def test_a_ca_without_its_key_is_not_replaced_without_force(tmp_path: Path) -> None:
    assert run_cli("certs", "--dir", str(tmp_path)).returncode == 0
    old_ca = (tmp_path / "ca.crt").read_bytes()
    (tmp_path / "ca.key").unlink()
    refused = run_cli("certs", "--dir", str(tmp_path))
    assert refused.returncode == 2
    assert "ca.crt exists but ca.key is missing" in refused.stderr
    assert "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert (tmp_path / "ca.crt").read_bytes() == old_ca, "the trusted CA is untouched"

    forced = run_cli("certs", "--dir", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "new CA" in forced.stdout
    assert (tmp_path / "ca.crt").read_bytes() != old_ca
