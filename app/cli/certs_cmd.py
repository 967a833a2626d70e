"""``locust-finisher certs``: a CA and a serving certificate for clusters without cert-manager."""

import argparse
import base64
from pathlib import Path

from app.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "certs",
        help="make a CA and the webhook's serving certificate",
        description="Write ca.crt/ca.key and tls.crt/tls.key for the webhook Service into a "
        "directory and print the caBundle. An existing CA in the directory is reused, so "
        "re-running rotates the serving certificate without changing the caBundle.",
    )
    parser.add_argument(
        "--dir", type=Path, default=Path("certs"), help="output directory (default: certs/)"
    )
    parser.add_argument(
        "--namespace",
        default="locust-finisher",
        help="the webhook's namespace (default: locust-finisher)",
    )
    parser.add_argument(
        "--service",
        default="locust-finisher-webhook",
        help="the webhook Service's name (default: locust-finisher-webhook)",
    )
    parser.add_argument(
        "--ip", action="append", default=[], help="extra IP address SAN (repeatable)"
    )
    parser.add_argument(
        "--dns", action="append", default=[], help="extra DNS name SAN (repeatable)"
    )
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help="serving certificate lifetime (default: 3650, the CA's and the chart's)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="make a new CA even where half of one (ca.crt or ca.key) is left; the caBundle "
        "changes, so every webhook configuration that trusts the old one must be updated",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the files and print the caBundle."""
    import ipaddress

    from app.certificates import (
        VALIDITY_DAYS,
        issue,
        new_ca,
        read_pair,
        service_dns_names,
        write_pair,
    )
    from app.cli.common import CliError

    days = VALIDITY_DAYS if args.days is None else args.days
    if days < 1:
        raise CliError("--days must be at least 1")
    for address in args.ip:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise CliError(f"--ip {address!r} is not an IP address") from None
    half = [p.name for p in (args.dir / "ca.crt", args.dir / "ca.key") if p.is_file()]
    if len(half) == 1 and not args.force:
        # Replacing a CA changes the caBundle that clusters already trust: never silently.
        missing = "ca.key" if half == ["ca.crt"] else "ca.crt"
        raise CliError(
            f"{args.dir}/{half[0]} exists but {missing} is missing; restore it, or pass "
            "--force to make a new CA (and a new caBundle)"
        )
    try:
        ca = read_pair(args.dir, "ca")
        reused = ca is not None
        if ca is None:
            ca = new_ca()
            write_pair(args.dir, "ca", ca)
        names = service_dns_names(args.service, args.namespace) + list(args.dns)
        serving = issue(ca, f"{args.service}.{args.namespace}.svc", names, args.ip, days=days)
        cert_file, key_file = write_pair(args.dir, "tls", serving)
    except OSError as error:
        raise CliError(f"{args.dir}: {error.strerror or error}") from None
    except ValueError as error:
        raise CliError(f"{args.dir}/ca.*: {error}") from None
    origin = "reused" if reused else "new"
    print(f"# {origin} CA {args.dir / 'ca.crt'}; serving certificate {cert_file}, key {key_file}")
    print(f"caBundle: {base64.b64encode(ca.cert_pem).decode()}")
    return 0
