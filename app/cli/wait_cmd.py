"""``locust-finisher wait``: block CI until a load test ends; exit 0 passed, 1 failed, else 2.

Anything that is not Locust's verdict (bad configuration, no access, a test that cannot
start, the timeout) is one line on stderr and exit 2: CI must never read it as "failed".
"""

import argparse

from app.cli.common import CliError, Subparsers, duration, namespace, positive_duration


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "wait",
        help="follow a load test from CI: progress, then the summary; exit 0/1/2",
        description="Follow a Locust test until it ends. Exit 0 when it passed, 1 when it "
        "failed, 2 on timeout or any error (one line on stderr saying why). Works with or "
        "without the controller installed.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--test", help="the LocustTest's name (follows its <name>-master Job)")
    target.add_argument("--job", help="a master Job's name")
    target.add_argument("--pod", help="a master pod's name")
    parser.add_argument(
        "-n",
        "--namespace",
        type=namespace,
        default=None,
        help="the test's namespace (default: the kubeconfig context's, as kubectl)",
    )
    parser.add_argument(
        "--timeout", type=duration, default=1800.0, help="give up after this long (default 30m)"
    )
    parser.add_argument(
        "--interval", type=positive_duration, default=2.0, help="how often to look (default 2s)"
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Follow the test; its exit code."""
    import asyncio

    from app.kube.client import ConfigurationMissingError, KubeClient
    from app.waiting.follow import UNDECIDED, Follower, NoVerdictError, Target

    job = f"{args.test.replace('.', '-')}-master" if args.test else args.job

    async def follow() -> int:
        try:
            client = await KubeClient.connect(args.kubeconfig, args.context)
        except ConfigurationMissingError as error:
            raise CliError(str(error)) from None
        target = Target(namespace=args.namespace or client.namespace, job=job, pod=args.pod)
        try:
            return await Follower(client, target).follow(args.timeout, args.interval)
        except NoVerdictError as error:
            raise CliError(str(error)) from None
        finally:
            await client.close()

    try:
        return asyncio.run(follow())
    except KeyboardInterrupt:
        return UNDECIDED
