"""``locust-finisher check -n NS``: will a test here be admitted, mutated and finished?

Four checks, one line each (ok, warning or failed, with the reason): the namespace is opted
in; a server-side dry run of a master pod is admitted and mutated (the API server runs every
admission step on it, ours and the platform's, and creates nothing); the finisher image is
pulled and runs ``--version`` on a node (a pod that lives a few seconds, deleted after); and
the identity running this may do what ``wait`` and ``report`` do. Exit 0 when nothing
failed, 1 when a check failed, 2 when the checks could not be made.
"""

import argparse
import json
import secrets
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports its modules only when a command runs
    from app.core.precheck import Check
    from app.kube.client import KubeClient

from app.cli.common import CliError, Subparsers, add_cluster_arguments, duration


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "check",
        help="pre-flight: is a master pod in this namespace admitted, mutated and finished?",
        description="Check, before the first test, that a master pod in the namespace is "
        "admitted and mutated (a server-side dry run through every admission step), that the "
        "finisher image can be pulled and run, and that you may run wait and report. One line "
        "per check; exit 0 when none failed, 1 when one did, 2 when they could not be made.",
    )
    add_cluster_arguments(parser, "the namespace tests will run in")
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text (default) or JSON"
    )
    parser.add_argument(
        "--pull-timeout",
        type=duration,
        default=120.0,
        help="how long the image probe may take to be pulled and run (default 2m)",
    )
    parser.add_argument(
        "--no-pull", dest="pull", action="store_false", help="skip the image probe (no pod made)"
    )
    parser.add_argument(
        "--image",
        default=None,
        help="probe this finisher image instead of the one the webhook injects (a mirror, "
        "before the cluster's finisherImage is switched to it)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Make the checks; print them; 0, 1 or 2."""
    import asyncio

    from app.core.precheck import Check, Status
    from app.kube.client import READER_LIMITS, ConfigurationMissingError, KubeClient, KubeError

    async def checks() -> list[Check]:
        client = await KubeClient.connect(args.kubeconfig, args.context, READER_LIMITS)
        try:
            namespace = args.namespace or client.namespace
            return await _checks(client, namespace, args)
        finally:
            await client.close()

    try:
        found = asyncio.run(checks())
    except (ConfigurationMissingError, KubeError) as error:
        raise CliError(f"the checks could not be made: {error}") from None
    if args.output == "json":
        json.dump({"checks": [check.document() for check in found]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        for check in found:
            print(check.line())
    return 1 if any(check.status is Status.FAILED for check in found) else 0


async def _checks(client: "KubeClient", namespace: str, args: argparse.Namespace) -> "list[Check]":
    from app.core import precheck
    from app.kube.client import KubeError, path_of

    found: list[precheck.Check] = []
    try:
        found.append(precheck.opted_in(await client.get(path_of("namespaces", None, namespace))))
    except KubeError as error:
        found.append(
            precheck.Check("namespace", precheck.Status.FAILED, f"cannot be read: {error}")
        )
    pods = path_of("pods", namespace)
    dry_run = None
    try:
        dry_run = await client.request(
            "POST", pods, {"dryRun": "All"}, precheck.probe_pod(namespace)
        )
        found += precheck.admitted(dry_run)
    except KubeError as error:
        if error.status in (0, 401) or error.status >= 500:
            raise
        found.append(precheck.refused(error.message))
    image = precheck.finisher_image(dry_run) if dry_run is not None else None
    if args.image:
        image = (args.image, image[1] if image else [])
    if args.pull and image is not None:
        found.append(await _pull(client, namespace, *image, seconds=args.pull_timeout))
    answers = [(right, await _may(client, namespace, right)) for right in precheck.CI_RIGHTS]
    answers.append(
        (precheck.LIVE_NUMBERS_RIGHT, await _may(client, namespace, precheck.LIVE_NUMBERS_RIGHT))
    )
    found.append(precheck.rights(answers))
    return found


async def _pull(
    client: "KubeClient", namespace: str, image: str, pull_secrets: list[str], seconds: float
) -> "Check":
    import asyncio
    import contextlib
    import time

    from app.core import precheck
    from app.kube.client import KubeError, path_of

    probe = precheck.pull_probe(namespace, image, pull_secrets, secrets.token_hex(3))
    path = path_of("pods", namespace, probe["metadata"]["name"])
    try:
        await client.create(path_of("pods", namespace), probe)
    except KubeError as error:
        return precheck.Check("image", precheck.Status.FAILED, f"the probe pod is refused: {error}")
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            outcome = precheck.pulled(await client.get(path))
            if outcome is not None:
                return outcome
            await asyncio.sleep(1)
        return precheck.Check(
            "image", precheck.Status.FAILED, f"the probe pod did not run within {seconds:g} s"
        )
    finally:
        with contextlib.suppress(KubeError):  # its activeDeadlineSeconds ends it anyway
            await client.request("DELETE", path, {"gracePeriodSeconds": 0})


async def _may(client: "KubeClient", namespace: str, right: "tuple[str, str, str, str]") -> bool:
    group, resource, verb, subresource = right
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "namespace": namespace,
                "group": group,
                "resource": resource,
                "verb": verb,
                "subresource": subresource,
            }
        },
    }
    answer = await client.create("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
    return answer.get("status", {}).get("allowed") is True
