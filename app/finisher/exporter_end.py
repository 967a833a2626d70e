"""Ending the exporter: one way, for the worker and for the supervisor's plain fallback.

Both end it the same way because the summary says the same words for what happened
(:class:`~app.core.exporter_outcome.ExporterOutcome`), whichever process ended it.
"""

import logging
from collections.abc import Callable

from app.core.exporter_outcome import ExporterOutcome
from app.finisher.config import FinisherConfig

log = logging.getLogger(__name__)

QUIT_ATTEMPTS = 3
# The exporter exits inside its /quitquitquit handler; its socket closes a moment later.
_CLOSE_CHECKS = 20
LEFT_RUNNING_NOTE = "the exporter would not stop; the controller's fallback may end it"


def end_exporter(
    config: FinisherConfig, pause: Callable[[float], object]
) -> tuple[ExporterOutcome, str]:
    """``/quitquitquit`` until it is gone (a native sidecar is left to kubelet); how, and why.

    ``pause`` sleeps between attempts (the supervisor's answers its readiness probes).
    """
    exporter = config.exporter
    if exporter is None:
        return ExporterOutcome.NO_EXPORTER, ""
    if config.exporter_sidecar:
        return ExporterOutcome.NATIVE_SIDECAR, ""
    detail = ""
    for attempt in range(1, QUIT_ATTEMPTS + 1):
        outcome, detail = exporter.quit()
        if outcome == "gone":
            # Refused after an attempt of ours: that attempt ended it.
            return (ExporterOutcome.QUIT if attempt > 1 else ExporterOutcome.ALREADY_GONE), ""
        if outcome == "quit":
            for _ in range(_CLOSE_CHECKS):
                if not exporter.accepts_connections(timeout=0.2):
                    return ExporterOutcome.QUIT, ""
                pause(0.05)
        log.warning("exporter did not stop (attempt %d): %s", attempt, detail)
        pause(0.5 * attempt)
    return ExporterOutcome.LEFT_RUNNING, detail
