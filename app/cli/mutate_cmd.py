"""``locust-finisher mutate``: preview and explain what the webhook does to a pod.

Like ``istioctl kube-inject`` and ``istioctl x check-inject`` in one: it runs the very
function the webhook runs, prints the result, and says on stderr why it did or did not
mutate. Feed it ``kubectl get pod NAME -o yaml`` to find out why a pod was left alone, or
what users write (a Job, a Deployment, a LocustTest...) to see the pod it will make, as the
webhook will patch it. With ``--from-cluster`` it decides with the cluster's configuration,
namespace and limits instead of this version's defaults.
"""

import argparse
import copy
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app.cli.common import (
    CliError,
    Subparsers,
    add_cluster_arguments,
    add_finish_defaults,
    finish_defaults,
    namespace,
)
from app.core import names
from app.core.locusttest import DEFAULT_OPERATOR, OPERATORS

if TYPE_CHECKING:  # the CLI imports its modules only when a command runs
    from app.core.cluster_config import InjectionConfig
    from app.core.inject import Mutation
    from app.core.review import AdmissionRequest
    from app.webhook.live_config import ClusterView

# A manifest is a few KB; a List of a thousand pods a few MB.
MAX_INPUT_BYTES = 16 * 1024 * 1024
OFFLINE = (
    "configuration: offline, this version's defaults and the flags given (--from-cluster "
    "reads the cluster's ConfigMap, namespace and limits)"
)


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "mutate",
        help="preview the webhook's patch for a pod or workload manifest, and why",
        description="Read a Pod, Job, CronJob, Deployment, StatefulSet or LocustTest (YAML or "
        "JSON), a List or several documents of them, or an AdmissionReview, and print the "
        "pod each makes as the webhook would patch it. The first line on stderr says which "
        "configuration decided; then one line per pod says what was done or why it was "
        "skipped.",
    )
    parser.add_argument(
        "-f", "--filename", required=True, help="manifest file, or - for standard input"
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=["yaml", "json", "patch"],
        default="yaml",
        help="the patched pod as YAML (default) or JSON, or the JSON patch itself",
    )
    parser.add_argument(
        "--operator",
        choices=OPERATORS,
        default=DEFAULT_OPERATOR,
        help="the locust-k8s-operator release a LocustTest's master pod is made as "
        f"(default: {DEFAULT_OPERATOR})",
    )
    parser.add_argument(
        "--from-cluster",
        action="store_true",
        help="decide as the cluster's webhook: read its ConfigMap, its finisher image, the API "
        "server's version, and each target namespace's opt-in label, LimitRanges and "
        "ResourceQuotas through the kubeconfig",
    )
    add_cluster_arguments(
        parser, "with --from-cluster, the namespace of pods whose manifest names none"
    )
    parser.add_argument(
        "--webhook-namespace",
        type=namespace,
        default=names.DEFAULT_INSTALL_NAMESPACE,
        help=f"where locust-finisher is installed (default: {names.DEFAULT_INSTALL_NAMESPACE})",
    )
    parser.add_argument(
        "--finisher-image",
        default=None,
        help="image of the finisher container (with --from-cluster: instead of the webhook's)",
    )
    parser.add_argument(
        "--container-restart-rules",
        action="store_true",
        help="as a webhook serving Kubernetes 1.35 or later: the kubelet restarts a finisher "
        "killed as a whole (--from-cluster asks the API server)",
    )
    add_finish_defaults(parser)
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class _Target:
    """One pod to preview: where it comes from, and the review it came in, if any."""

    source: str
    pod: Any
    namespace: str | None
    request: "AdmissionRequest | None" = None


def run(args: argparse.Namespace) -> int:
    """Print the mutation of every pod the input makes."""
    import jsonpatch
    import yaml

    from app.core.cluster_config import InjectionConfig
    from app.core.finisher_spec import FinisherImage

    image = FinisherImage(image=args.finisher_image) if args.finisher_image else FinisherImage()
    config = InjectionConfig(
        defaults=finish_defaults(args), image=image, restart_rules=args.container_restart_rules
    )
    targets = _targets(_read(args.filename, yaml), args)
    view = _from_cluster(args, config, targets) if args.from_cluster else None
    print(view.describe if view else OFFLINE, file=sys.stderr)

    outputs = []
    for target in targets:
        mutation = _decide(target, view.config if view else config, view)
        print(f"{target.source}: {mutation.decision}: {mutation.reason}", file=sys.stderr)
        for text in mutation.warnings:
            print(f"{target.source}: warning: {text}", file=sys.stderr)
        if args.output == "patch":
            outputs.append(mutation.ops)
        else:
            outputs.append(jsonpatch.apply_patch(copy.deepcopy(target.pod), mutation.ops))

    result: Any = outputs[0] if len(outputs) == 1 else outputs
    if args.output != "patch" and len(outputs) != 1:
        result = {"apiVersion": "v1", "kind": "List", "items": outputs}
    _write(result, "yaml" if args.output == "yaml" else "json", sys.stdout, yaml)
    return 0


def _targets(document: Any, args: argparse.Namespace) -> list[_Target]:
    """The pods to preview: the review's, or those the manifest's objects make."""
    from app.core import podview
    from app.core.review import BadReviewError, parse_review
    from app.core.workloads import WorkloadError, previews

    if isinstance(document, dict) and document.get("kind") == "AdmissionReview":
        try:
            request = parse_review(document).request
        except BadReviewError as error:
            raise CliError(f"not a usable AdmissionReview: {error}") from None
        name = request.name or podview.display_name(request.object) or "pod"
        return [_Target(name, request.object, request.namespace or args.namespace, request)]
    try:
        found = previews(document, args.operator)
    except WorkloadError as error:
        raise CliError(str(error)) from None
    return [
        _Target(
            preview.source,
            preview.pod,
            podview.text(podview.mapping(preview.pod, "metadata"), "namespace") or args.namespace,
        )
        for preview in found
    ]


def _decide(target: _Target, config: "InjectionConfig", view: "ClusterView | None") -> "Mutation":
    """The webhook's decision on one pod: as :func:`app.webhook.handler.answer_request`."""
    from app.core.fitting import NO_LIMITS
    from app.core.inject import Mutation, mutate_pod
    from app.core.review import decide

    seen = view.namespaces.get(target.namespace or "") if view else None
    if seen is not None and seen.not_seen is not None:
        return Mutation("skip", seen.not_seen)
    limits = seen.limits if seen else NO_LIMITS
    if target.request is not None:
        mutation = decide(target.request, config, limits=limits)
    else:
        mutation = mutate_pod(target.pod, config, limits)
    if seen is not None and seen.unread is not None and mutation.decision == "mutate":
        mutation = replace(mutation, warnings=[*mutation.warnings, seen.unread])
    return mutation


def _from_cluster(
    args: argparse.Namespace, base: "InjectionConfig", targets: list[_Target]
) -> "ClusterView":
    """The cluster's configuration, and a view of every target namespace."""
    import asyncio

    from app.kube.client import READER_LIMITS, ConfigurationMissingError, KubeClient
    from app.webhook.live_config import (
        MAX_NAMESPACES,
        LiveConfigError,
        read_cluster,
        read_namespace,
    )

    async def read() -> "tuple[ClusterView, str]":
        client = await KubeClient.connect(args.kubeconfig, args.context, READER_LIMITS)
        try:
            view = await read_cluster(
                client, base, args.webhook_namespace, args.finisher_image is not None
            )
            wanted = sorted({target.namespace or client.namespace for target in targets})
            if len(wanted) > MAX_NAMESPACES:
                raise CliError(f"the input spans more than {MAX_NAMESPACES} namespaces")
            for namespace_name in wanted:
                view.namespaces[namespace_name] = await read_namespace(client, namespace_name)
            return view, client.namespace
        finally:
            await client.close()

    try:
        view, default_namespace = asyncio.run(read())
    except (ConfigurationMissingError, LiveConfigError) as error:
        raise CliError(f"--from-cluster: {error}") from None
    for index, target in enumerate(targets):
        if target.namespace is None:  # the kubeconfig context's, as kubectl would create it in
            targets[index] = replace(target, namespace=default_namespace)
    notes = [note for seen in view.namespaces.values() for note in seen.notes]
    return replace(view, describe="; ".join([f"configuration: {view.describe}", *notes]))


def _read(filename: str, yaml: Any) -> Any:
    try:
        if filename == "-":
            text = sys.stdin.read(MAX_INPUT_BYTES + 1)
        else:
            with Path(filename).open() as file:
                text = file.read(MAX_INPUT_BYTES + 1)
    except OSError as error:
        raise CliError(f"{filename}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CliError(f"{filename}: not a text file") from None
    if len(text) > MAX_INPUT_BYTES:
        raise CliError(f"{filename}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except RecursionError:
        raise CliError(f"{filename}: nested too deeply") from None
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0] if str(error) else "parse error"
        raise CliError(f"{filename}: not valid YAML or JSON ({first_line})") from None
    if not documents:
        raise CliError(f"{filename}: empty input")
    if len(documents) > 1:
        return {"kind": "List", "items": documents}
    return documents[0]


def _write(result: Any, form: str, out: TextIO, yaml: Any) -> None:
    if form == "yaml":
        yaml.safe_dump(result, out, sort_keys=False, default_flow_style=False)
    else:
        json.dump(result, out, indent=2)
        out.write("\n")
