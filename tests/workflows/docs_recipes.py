"""The code blocks of docs/ci.md, by section: what the recipe tests run and lint."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CI_DOC = ROOT / "docs" / "ci.md"


def code_block(heading: str, language: str) -> str:
    """The first ``language`` code block under the ``## heading`` section of docs/ci.md."""
    text = CI_DOC.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    section = next(s for s in sections if s.startswith(heading + "\n"))
    match = re.search(rf"^```{language}\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no {language} block under '## {heading}' in {CI_DOC}"
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
