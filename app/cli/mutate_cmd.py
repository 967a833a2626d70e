"""``locust-finisher mutate``: preview and explain what the webhook does to a pod.

Like ``istioctl kube-inject`` and ``istioctl x check-inject`` in one: it runs the very
function the webhook runs, prints the result, and says on stderr why it did or did not
mutate. Feed it ``kubectl get pod NAME -o yaml`` to find out why a pod was left alone.
"""

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from app.cli.common import CliError, Subparsers, add_finish_defaults, finish_defaults


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "mutate",
        help="preview the webhook's patch for a pod manifest, and why",
        description="Read a Pod (YAML or JSON), a List of Pods, or an AdmissionReview, and "
        "print the pod as the webhook would patch it. One line per pod on stderr says what "
        "was done or why it was skipped.",
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
    parser.add_argument("--finisher-image", default=None, help="image of the finisher container")
    parser.add_argument(
        "--container-restart-rules",
        action="store_true",
        help="as a webhook serving Kubernetes 1.35 or later: the kubelet restarts a finisher "
        "killed as a whole",
    )
    add_finish_defaults(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the mutation of every pod in the input."""
    import jsonpatch
    import yaml

    from app.core import podview
    from app.core.cluster_config import InjectionConfig
    from app.core.finisher_spec import FinisherImage
    from app.core.inject import Mutation, mutate_pod
    from app.core.review import BadReviewError, decide, parse_review

    image = FinisherImage(image=args.finisher_image) if args.finisher_image else FinisherImage()
    config = InjectionConfig(
        defaults=finish_defaults(args), image=image, restart_rules=args.container_restart_rules
    )
    document = _read(args.filename, yaml)

    results: list[tuple[Any, Mutation]] = []
    if isinstance(document, dict) and document.get("kind") == "AdmissionReview":
        try:
            request = parse_review(document).request
        except BadReviewError as error:
            raise CliError(f"not a usable AdmissionReview: {error}") from None
        results.append((request.object, decide(request, config)))
    elif isinstance(document, dict) and document.get("kind") == "List":
        items = document.get("items")
        if not isinstance(items, list):
            raise CliError("a List needs an items list")
        results += [(item, mutate_pod(item, config)) for item in items]
    elif isinstance(document, dict) and document.get("kind", "Pod") == "Pod":
        results.append((document, mutate_pod(document, config)))
    else:
        kind = document.get("kind") if isinstance(document, dict) else type(document).__name__
        raise CliError(f"expected a Pod, a List of Pods or an AdmissionReview, got {kind}")

    outputs = []
    for pod, mutation in results:
        name = podview.display_name(pod) or "pod"
        print(f"{name}: {mutation.decision}: {mutation.reason}", file=sys.stderr)
        for text in mutation.warnings:
            print(f"{name}: warning: {text}", file=sys.stderr)
        if args.output == "patch":
            outputs.append(mutation.ops)
        else:
            outputs.append(jsonpatch.apply_patch(copy.deepcopy(pod), mutation.ops))

    result: Any = outputs[0] if len(outputs) == 1 else outputs
    if args.output != "patch" and len(outputs) != 1:
        result = {"apiVersion": "v1", "kind": "List", "items": outputs}
    _write(result, "yaml" if args.output == "yaml" else "json", sys.stdout, yaml)
    return 0


def _read(filename: str, yaml: Any) -> Any:
    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
    except OSError as error:
        raise CliError(f"{filename}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CliError(f"{filename}: not a text file") from None
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
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
