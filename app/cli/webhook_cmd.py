"""``locust-finisher webhook``: serve the mutating admission webhook over TLS."""

import argparse
import contextlib
import logging
import os
import signal
import types
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from app.cli.common import (
    CliError,
    Subparsers,
    add_finish_defaults,
    finish_defaults,
    namespace,
    port,
    positive_duration,
)
from app.core.names import INSTALLATION

log = logging.getLogger(__name__)


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "webhook",
        help="serve the mutating admission webhook",
        description="Serve POST /mutate (AdmissionReview v1), /healthz, /readyz and /metrics "
        "over TLS. Certificate files are re-read when they change.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: 0.0.0.0)")  # noqa: S104
    parser.add_argument("--port", type=port, default=8443, help="port to listen on (default: 8443)")
    parser.add_argument("--cert-file", type=Path, help="PEM serving certificate")
    parser.add_argument("--key-file", type=Path, help="PEM private key of the certificate")
    parser.add_argument(
        "--dev",
        action="store_true",
        help="generate a throwaway CA and certificate (for trying it out; never in a cluster)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="cluster-wide configuration file (a mounted ConfigMap); re-read when it changes",
    )
    parser.add_argument(
        "--reload-interval",
        type=positive_duration,
        default=10.0,
        help="how often certificate and configuration files are checked for changes (default 10s)",
    )
    parser.add_argument(
        "--finisher-image",
        default=None,
        help="image of the injected finisher container (default: this version's image)",
    )
    parser.add_argument(
        "--report-url",
        default=None,
        help="where injected finishers hand Locust's report; empty keeps none (default: the "
        "controller's Service in $POD_NAMESPACE, else locust-finisher)",
    )
    parser.add_argument(
        "--name",
        type=namespace,
        default=INSTALLATION,
        help="the installation's name: finishers hand reports to the Service NAME-controller "
        "(default: locust-finisher; Helm's fullnameOverride)",
    )
    parser.add_argument(
        "--admission-key-file",
        type=Path,
        help="the key that signs each admitted pod's record (the mounted Secret "
        "locust-finisher-admission-key, which the controller makes); without it pods carry "
        "no record, and the controller does not act on them",
    )
    parser.add_argument(
        "--no-namespace-limits",
        dest="namespace_limits",
        action="store_false",
        help="do not read a master pod's namespace's LimitRanges and ResourceQuotas to fit the "
        "finisher into them (read by default, with the pod's service account or $KUBECONFIG)",
    )
    parser.add_argument(
        "--container-restart-rules",
        choices=("auto", "true", "false"),
        default="auto",
        help="have the kubelet restart a finisher killed as a whole (a cgroup v2 OOM kill) "
        "instead of failing the pod; auto: where the API server is 1.35 or later (default)",
    )
    add_finish_defaults(parser)
    parser.set_defaults(run=run)


def _restart_rules(choice: str) -> bool:
    if choice != "auto":
        return choice == "true"
    from app.webhook.cluster_version import restart_rules_taken

    return restart_rules_taken()


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from app.core.artifacts import receiver_url
    from app.core.cluster_config import ConfigError, InjectionConfig
    from app.core.finisher_spec import FinisherImage
    from app.webhook.config_file import ConfigFile
    from app.webhook.namespace_limits import NamespaceLimitsReader
    from app.webhook.server import serve
    from app.webhook.tls import CertificateFilesError

    image = FinisherImage(image=args.finisher_image) if args.finisher_image else FinisherImage()
    report = args.report_url
    if report is None:
        report = receiver_url(os.environ.get("POD_NAMESPACE") or INSTALLATION, args.name)
    base = InjectionConfig(
        defaults=finish_defaults(args),
        image=image,
        report_url=report,
        restart_rules=_restart_rules(args.container_restart_rules),
    )
    background = []

    def config_source() -> InjectionConfig:
        return base

    if args.config is not None:
        try:
            config_file = ConfigFile(args.config, base)
        except (OSError, ConfigError) as error:
            raise CliError(str(error)) from None
        config_source = config_file.current
        background.append(lambda: config_file.follow(args.reload_interval))

    with _certificate_files(args) as (cert_file, key_file):
        signing_key = _signing_key(args.admission_key_file)
        try:
            serve(
                args.host,
                args.port,
                cert_file,
                key_file,
                config_source,
                args.reload_interval,
                background=background,
                signing_key=signing_key,
                limits_of=NamespaceLimitsReader() if args.namespace_limits else None,
            )
        except CertificateFilesError as error:
            raise CliError(str(error)) from None
    return 0


def _signing_key(path: Path | None) -> bytes | None:
    from app.core.admission_record import KEY_BYTES, RecordError, check_key

    if path is None:
        return None
    try:
        with path.open("rb") as file:
            return check_key(file.read(16 * KEY_BYTES))
    except (OSError, RecordError) as error:
        raise CliError(f"{path}: {error}") from None


@contextlib.contextmanager
def _certificate_files(args: argparse.Namespace) -> Iterator[tuple[Path, Path]]:
    if args.dev:
        if args.cert_file or args.key_file:
            raise CliError("--dev makes its own certificate; drop --cert-file/--key-file")
        with _throwaway_certificate() as pair:
            yield pair
        return
    if not args.cert_file or not args.key_file:
        raise CliError("give --cert-file and --key-file (or --dev for a throwaway certificate)")
    for path in (args.cert_file, args.key_file):
        if not path.is_file():
            raise CliError(f"{path}: no such file")
    yield args.cert_file, args.key_file


@contextlib.contextmanager
def _throwaway_certificate() -> Iterator[tuple[Path, Path]]:
    """A CA and serving certificate that live as long as the webhook.

    The CA's key signs the serving certificate and is never written: a CA key left in /tmp
    would let anyone who reads it mint certificates that the user's client trusts.
    """
    import tempfile

    from app.certificates import issue, new_ca, service_dns_names, write_pair

    with tempfile.TemporaryDirectory(prefix="locust-finisher-dev-") as name:
        directory = Path(name)
        ca = new_ca("locust-finisher throwaway CA")
        names = ["localhost", *service_dns_names("locust-finisher-webhook", "locust-finisher")]
        serving = issue(ca, "locust-finisher-webhook", names, ["127.0.0.1", "::1"])
        ca_file = directory / "ca.crt"
        ca_file.write_bytes(ca.cert_pem)
        cert_file, key_file = write_pair(directory, "tls", serving)
        log.warning(
            "--dev: throwaway certificate in %s (removed on exit); trust %s to call it",
            directory,
            ca_file,
        )
        # uvicorn re-raises the SIGTERM it handled once it has shut down; under the default
        # action the process would die there, before the directory is removed.
        previous = signal.signal(signal.SIGTERM, _exit_on_signal)
        try:
            yield cert_file, key_file
        finally:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_signal(signum: int, frame: types.FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)
