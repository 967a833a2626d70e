"""Why a test failed, as one stable code that CI, dashboards and chat can branch on.

A failed verdict may have several causes at once (Locust exited 1 and two checks failed);
people and scripts want one word for it, the same wherever they look: the summary, the
``reason`` annotation on the pod and its Job, the verdict Event, ``wait``'s JSON, JUnit and
Markdown. So the code is made here, by one function, from what decides the verdict: the
controller calls it when it reports, and ``wait`` when it sees the test end first.

The first cause that applies, in this order, is the reason (docs/reference.md lists them):
the master never ran, Locust exited non-zero, strict checks had no numbers to judge, an
absolute check failed (``check:<name>``), a relative one did (``regression:<name>``). Every
failed check is still listed in the summary's ``checks``.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.core import podview
from app.core.checks import check_state
from app.core.summary import CheckResult, CheckState

# A check's name as the codes carry it: ours are short words (``fail-ratio``, ``p95``).
_CHECK_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_CHECK_NAME = 40
# A relative check's name ends so; what comes before is what regressed (``p95-regression``).
_RELATIVE_SUFFIXES = ("-regression", "-increase")
# The kubelet's words for a container the runtime could not start (containerd; dockershim).
_NOT_STARTED = frozenset({"StartError", "ContainerCannotRun"})


class ReasonKind(StrEnum):
    """The kinds of reason, in the order the first that applies is chosen."""

    MASTER_NEVER_STARTED = "master-never-started"
    LOCUST_EXIT = "locust-exit"
    NO_NUMBERS = "no-numbers"
    CHECK = "check"
    REGRESSION = "regression"


_MEANINGS = {
    ReasonKind.MASTER_NEVER_STARTED: "the Locust master container never started",
    ReasonKind.LOCUST_EXIT: "Locust exited non-zero",
    ReasonKind.NO_NUMBERS: "strict checks, and no numbers from Locust to judge them on",
    ReasonKind.CHECK: "the check {name} failed",
    ReasonKind.REGRESSION: "{name} regressed against the baseline",
}


@dataclass(frozen=True, slots=True)
class Reason:
    """One failed verdict's reason: its kind, and for a check the check it names."""

    kind: ReasonKind
    name: str = ""  # the check (``p95``) for CHECK and REGRESSION; "" otherwise

    @property
    def code(self) -> str:
        """The stable code: ``locust-exit``, ``check:p95``, ``regression:p95``."""
        return f"{self.kind.value}:{self.name}" if self.name else self.kind.value

    def __str__(self) -> str:
        return self.code

    @property
    def meaning(self) -> str:
        """For humans: ``the check p95 failed``."""
        return _MEANINGS[self.kind].format(name=self.name)


def _regressed(name: str) -> str | None:
    """What a relative check's name says regressed (``p95`` of ``p95-regression``)."""
    for suffix in _RELATIVE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def check_reason(check: Mapping[str, Any]) -> Reason:
    """The reason one failed check gives: ``regression:<x>`` for a relative one."""
    name = str(check.get("name") or "")[:MAX_CHECK_NAME]
    if not _CHECK_NAME.fullmatch(name):
        name = "unnamed"  # never ours: the summary was edited by someone
    regressed = _regressed(name)
    if regressed is not None:
        return Reason(ReasonKind.REGRESSION, regressed)
    return Reason(ReasonKind.CHECK, name)


def reason_of(
    exit_code: int,
    checks: Sequence[CheckResult],
    *,
    has_numbers: bool,
    master_started: bool = True,
) -> Reason | None:
    """The reason of the verdict ``exit_code`` and ``checks`` make; None when it passed.

    ``has_numbers``: the summary holds Locust's totals; ``master_started``: the master's
    container ran at all (:func:`never_started`).
    """
    failed = [check for check in checks if not check["passed"]]
    if exit_code == 0 and not failed:
        return None
    if not master_started:
        return Reason(ReasonKind.MASTER_NEVER_STARTED)
    if exit_code != 0:
        return Reason(ReasonKind.LOCUST_EXIT)
    if not has_numbers and any(check_state(c) is CheckState.NOT_MADE for c in failed):
        return Reason(ReasonKind.NO_NUMBERS)
    reasons = [check_reason(check) for check in failed]
    absolute = [reason for reason in reasons if reason.kind is ReasonKind.CHECK]
    return (absolute or reasons)[0]


def never_started(terminated: Mapping[str, Any]) -> bool:
    """Whether a container's ``state.terminated`` says the runtime never started it.

    Its command not found, its image without an entrypoint: containerd reports StartError
    (exit code 128) and a ``startedAt`` of the epoch.
    """
    return podview.text(terminated, "reason") in _NOT_STARTED


def parse_reason(text: Any) -> Reason | None:
    """A reason code as written in an annotation or a summary; None if it is not one."""
    if not isinstance(text, str) or len(text) > MAX_CHECK_NAME + 12:
        return None
    kind, _, name = text.partition(":")
    try:
        parsed = ReasonKind(kind)
    except ValueError:
        return None
    named = parsed in (ReasonKind.CHECK, ReasonKind.REGRESSION)
    if named != bool(name) or (name and not _CHECK_NAME.fullmatch(name)):
        return None
    return Reason(parsed, name)
