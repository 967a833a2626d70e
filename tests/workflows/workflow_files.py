"""The repository's workflows, parsed."""

from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    """``.github/workflows/<name>`` as a mapping (YAML 1.1 reads the ``on`` key as True)."""
    workflow: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def step(job: dict[str, Any], name: str) -> dict[str, Any]:
    """The step of ``job`` named ``name``."""
    return next(s for s in job["steps"] if s.get("name") == name)
