"""The code blocks of the docs, by section: what the recipe tests run and lint.

docs/ci.md's recipes, and README.md's from-source install, which a cluster test runs.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CI_DOC = ROOT / "docs" / "ci.md"
README = ROOT / "README.md"


def code_block(heading: str, language: str, document: Path = CI_DOC, level: int = 2) -> str:
    """The first ``language`` code block under the heading ``heading`` of ``level`` (2: ##)."""
    text = document.read_text(encoding="utf-8")
    sections = re.split(rf"^{'#' * level} ", text, flags=re.MULTILINE)
    section = next(s for s in sections if s.startswith(heading + "\n"))
    match = re.search(rf"^```{language}\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no {language} block under '{'#' * level} {heading}' in {document}"
    return match.group(1)


# The recipes' variables, as the docs and the examples set them.
RECIPE_VARIABLES = {'"$TEST"': "checkout-load", '"$NAMESPACE"': "loadtests"}


def wait_lines(text: str) -> list[str]:
    """Each ``locust-finisher wait ...`` command in ``text``, from ``wait`` on."""
    return re.findall(r"locust-finisher(?:@\S+)? (wait [^\n`]*)", text)


def expanded(line: str) -> str:
    """``line`` with the recipes' variables set."""
    for variable, value in RECIPE_VARIABLES.items():
        line = line.replace(variable, value)
    return line


def kubectl_lines(text: str) -> list[str]:
    """Each ``kubectl apply`` or ``kubectl delete`` command in ``text``."""
    return re.findall(r"kubectl (?:apply|delete) [^\n`]*", text)


FROM_SOURCE = "From source (until the first release)"


def from_source_recipe(registry: str) -> str:
    """README.md's from-source commands, with ``registry`` in place of the example one."""
    recipe = code_block(FROM_SOURCE, "sh", README, level=3)
    examples = re.findall(r"^REGISTRY=(\S+)", recipe, flags=re.MULTILINE)
    assert len(examples) == 1, f"the recipe sets REGISTRY once: {recipe}"
    return recipe.replace(f"REGISTRY={examples[0]}", f"REGISTRY={registry}", 1)
