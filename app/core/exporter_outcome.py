"""How the exporter ended, as the summary's ``exporter`` field says it.

The finisher's worker, its supervisor's fallback and the controller (which reads whether
the finisher quit the exporter) all speak of it, across processes and releases, so the
words are one enum here. The values are the wire strings: a summary reads the same as
before it had a type.
"""

from enum import StrEnum


class ExporterOutcome(StrEnum):
    """The summary's ``exporter`` values; ``LEFT_RUNNING`` carries a detail after a colon."""

    QUIT = "quit"
    ALREADY_GONE = "already gone"
    NOT_ENDED = "not ended"
    NATIVE_SIDECAR = "left to kubelet (native sidecar)"
    POD_TERMINATING = "left to kubelet (pod terminating)"
    NO_EXPORTER = "none in this pod"  # the official operator's masters, OpenTelemetry
    LEFT_RUNNING = "left running"


def describe(outcome: ExporterOutcome, detail: str = "") -> str:
    """The summary's text: the outcome, and for one left running, why."""
    if outcome is ExporterOutcome.LEFT_RUNNING:
        return f"{outcome}: {detail}"
    return str(outcome)


def read_outcome(text: object) -> ExporterOutcome | None:
    """The outcome a summary's ``exporter`` text says; None for anything else."""
    if not isinstance(text, str):
        return None
    head = text.partition(":")[0] if text.startswith(ExporterOutcome.LEFT_RUNNING) else text
    try:
        return ExporterOutcome(head)
    except ValueError:
        return None
