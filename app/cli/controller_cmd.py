"""``locust-finisher controller``: verdicts, summaries and the fallback exporter shutdown."""

import argparse
import os
import socket

from app.cli.common import CliError, Subparsers, namespace, port
from app.core.names import INSTALLATION


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "controller",
        help="record verdicts and summaries on managed pods and Jobs; end stray exporters",
        description="Watch pods the webhook mutated; when the Locust master ends, annotate "
        "the pod and its Job with the verdict and the finisher's summary and emit Events; "
        "end exporters that no finisher ends. Run two replicas: one leads (Lease).",
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube/config)"
    )
    parser.add_argument(
        "--lease-namespace",
        type=namespace,
        default=os.environ.get("POD_NAMESPACE", "locust-finisher"),
        help="namespace of the leader-election Lease (default: $POD_NAMESPACE or locust-finisher)",
    )
    parser.add_argument(
        "--name",
        type=namespace,
        default=INSTALLATION,
        help="the installation's name: its Lease is NAME-controller and its signing key the "
        "Secret NAME-admission-key (default: locust-finisher; Helm's fullnameOverride)",
    )
    parser.add_argument(
        "--identity",
        # Unique per process, as controller-runtime does: a restarted container must not
        # take over a lease its dead predecessor held as if nothing had happened.
        default=f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.urandom(4).hex()}",
        help="this replica's name in the Lease (default: $POD_NAME_<random>)",
    )
    parser.add_argument(
        "--metrics-port", type=port, default=8080, help="/metrics and /healthz (default 8080)"
    )
    parser.add_argument(
        "--report-port",
        type=port,
        default=8081,
        help="POST /v1/reports: finishers hand Locust's report here (default 8081)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run one replica until SIGTERM (0) or lost leadership (1)."""
    import asyncio

    from app.controller.service import ControllerOptions, run_controller
    from app.core.admission_record import RecordError
    from app.kube.client import ConfigurationMissingError

    options = ControllerOptions(
        identity=args.identity,
        lease_namespace=args.lease_namespace,
        name=args.name,
        kubeconfig=args.kubeconfig,
        metrics_port=args.metrics_port,
        report_port=args.report_port,
    )
    try:
        return asyncio.run(run_controller(options))
    except (ConfigurationMissingError, RecordError) as error:
        raise CliError(str(error)) from None
