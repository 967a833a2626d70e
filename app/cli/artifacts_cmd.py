"""``locust-finisher report``: write a finished test's kept Locust artifacts to files.

The command keeps its name, ``report``; inside the code Locust's kept files are artifacts.

The controller keeps Locust's HTML report and final stats in a ConfigMap owned by the test's
Job, so they can be read for as long as the Job is kept. Exit 0 when files were written, 2
(one line on stderr) when nothing is kept, the test is not found, what was kept is refused (a
gzip bomb, app/waiting/inflate.py) or a file cannot be written.
"""

import argparse
from pathlib import Path

from app.cli.common import CliError, Subparsers, add_test_arguments, master_job


def register(commands: Subparsers) -> None:
    """Add the subcommand."""
    parser = commands.add_parser(
        "report",
        help="write a test's kept Locust report (report.html, stats.json, ...) to files",
        description="Write the Locust report the controller kept for a test: report.html, "
        "stats.json, failures.csv and exceptions.json, those that were kept. Exit 0 when "
        "written, 2 when nothing is kept or on any error (one line on stderr).",
    )
    add_test_arguments(parser)
    parser.add_argument(
        "--dir", type=Path, default=Path("."), help="where to write the files (default: here)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Find the kept artifacts, write their files; 0, or CliError (exit 2)."""
    import asyncio

    from app.kube.client import (
        READER_LIMITS,
        ConfigurationMissingError,
        KubeClient,
        KubeError,
        NotAnApiServerError,
    )
    from app.waiting.artifacts import (
        ArtifactsError,
        KeptArtifacts,
        artifacts_of_job,
        artifacts_of_pod,
        write_artifacts,
    )

    job = master_job(args)
    what = f"pod {args.pod}" if args.pod else f"Job {job}"

    async def find() -> tuple[str, KeptArtifacts | None]:
        try:
            client = await KubeClient.connect(args.kubeconfig, args.context, READER_LIMITS)
        except ConfigurationMissingError as error:
            raise CliError(str(error)) from None
        namespace = args.namespace or client.namespace
        try:
            if args.pod:
                return namespace, await artifacts_of_pod(client, namespace, args.pod)
            return namespace, await artifacts_of_job(client, namespace, job or "")
        except KubeError as error:
            if error.status == 404:
                raise CliError(f"no {what} in namespace {namespace}") from None
            # A refused answer is said in its own words, without the 200 it came with.
            said = error.message if isinstance(error, NotAnApiServerError) else str(error)
            raise CliError(f"cannot read the report of {what}: {said}") from None
        except ArtifactsError as error:
            raise CliError(f"cannot read the report of {what}: {error}") from None
        finally:
            await client.close()

    namespace, kept = asyncio.run(find())
    try:
        written = write_artifacts(kept, args.dir) if kept else []
    except ArtifactsError as error:
        raise CliError(str(error)) from None
    if kept is None or not written:
        why = "; ".join(f"{e.file}: {e.reason}" for e in kept.left_out) if kept else ""
        raise CliError(
            f"no report kept for {what} in namespace {namespace}" + (f" ({why})" if why else "")
        )
    left = "".join(f"; {e.file} not kept: {e.reason}" for e in kept.left_out)
    print(f"wrote {', '.join(written)} to {args.dir} from ConfigMap {kept.configmap}{left}")
    return 0
