"""A stand-in for ``kubectl get job NAME -n NS -o jsonpath=TEMPLATE``, for recipe tests.

It answers like kubectl talking to an API server: each call takes the next of the answers in
``$STUB_ANSWERS`` (a JSON list; the last one repeats), where an answer is the Job object or
``null`` for a Job that does not exist (yet). Calls are appended to ``$STUB_CALLS``. Any
other command line fails loudly, so a recipe that drifts from what this understands breaks
its test instead of passing by accident.
"""

import json
import os
import re
import sys
from pathlib import Path
from typing import Any


def _evaluate(template: str, job: dict[str, Any]) -> str:
    """kubectl's JSONPath for what the recipes use: ``{.a.b\\.c}`` fields, ``{"\\n"}`` text."""
    out = []
    for expression in re.findall(r"\{([^}]*)\}", template):
        if expression.startswith('"'):
            out.append(json.loads(expression))
            continue
        value: Any = job
        for key in re.split(r"(?<!\\)\.", expression.removeprefix(".")):
            # Missing fields print nothing: kubectl allows missing keys in jsonpath output.
            value = value.get(key.replace("\\.", ".")) if isinstance(value, dict) else None
        out.append("" if value is None else str(value))
    return "".join(out)


def main(arguments: list[str]) -> int:
    """Answer one call."""
    understood = (
        len(arguments) == 7
        and arguments[:2] == ["get", "job"]
        and (arguments[3], arguments[5]) == ("-n", "-o")
        and arguments[6].startswith("jsonpath=")
    )
    if not understood:
        print(f"kubectl stub: unexpected call: {arguments}", file=sys.stderr)
        return 64
    name, namespace, template = arguments[2], arguments[4], arguments[6].removeprefix("jsonpath=")
    calls = Path(os.environ["STUB_CALLS"])
    with calls.open("a") as log:
        log.write(json.dumps(arguments) + "\n")
    answers = json.loads(Path(os.environ["STUB_ANSWERS"]).read_text())
    job = answers[min(len(calls.read_text().splitlines()), len(answers)) - 1]
    metadata = (job or {}).get("metadata", {})
    if job is None or (metadata.get("name"), metadata.get("namespace")) != (name, namespace):
        print(f'Error from server (NotFound): jobs.batch "{name}" not found', file=sys.stderr)
        return 1
    sys.stdout.write(_evaluate(template, job))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
