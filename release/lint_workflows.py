"""Check the GitHub Actions workflows with actionlint before GitHub runs them.

A mistake in a workflow otherwise shows only when it runs, and the release workflow runs
once per tag, in public. actionlint is built from its Go module like the cluster's tools
(``devcluster/gomod/actionlint``); it also runs shellcheck on ``run:`` scripts when shellcheck
is installed. ``make lint`` runs this:

    python -m release.lint_workflows          # .github/workflows and examples/' workflows
    python -m release.lint_workflows FILE...  # only these
"""

import subprocess
import sys
from pathlib import Path

from devcluster.build import ensure_tool

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
# Workflows users copy into their own repositories (examples/README.md).
EXAMPLE_WORKFLOWS = ROOT / "examples"


def workflow_files(directory: Path = WORKFLOWS) -> list[Path]:
    """Every workflow GitHub would load from ``directory``."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".yml", ".yaml"))


def every_workflow() -> list[Path]:
    """Ours, and the examples' (their GitHub Actions ones)."""
    examples = EXAMPLE_WORKFLOWS.glob("github-actions-*.yml")
    return [*workflow_files(), *sorted(examples)]


def lint(files: list[Path], actionlint: Path | None = None) -> int:
    """Run actionlint on ``files``; its findings go to stdout. Returns its exit code."""
    binary = actionlint or ensure_tool("actionlint")
    # -no-color: the findings end up in CI logs and pytest output, not only terminals.
    return subprocess.run([str(binary), "-no-color", *map(str, files)], check=False).returncode


def main(arguments: list[str]) -> int:
    """Lint the named workflows, or all of them."""
    files = [Path(argument) for argument in arguments] or every_workflow()
    if not files:
        print(f"no workflows under {WORKFLOWS}", file=sys.stderr)
        return 1
    return lint(files)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
