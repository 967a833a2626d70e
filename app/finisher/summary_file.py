"""The summary file: the termination log (for the controller), and one line for humans.

Both the worker and, when it could not finish, the supervisor end by writing it, so the
words of that line are in one place.
"""

import logging
from pathlib import Path

from app.core.exporter_outcome import ExporterOutcome
from app.core.summary import Summary, encode_summary, headline

log = logging.getLogger(__name__)


def scrape_words(summary: Summary) -> str:
    """What is known about the final scrape, and nothing more."""
    if summary.get("exporter") == ExporterOutcome.NO_EXPORTER:
        return "no exporter, so no final scrape to wait for"
    final = summary.get("finalScrape")
    if final is None:
        return "final scrape unknown"
    if final.get("exporterHadData") is False:
        return "the exporter held no numbers from Locust, so no final scrape to confirm"
    if final["confirmed"] and "confirmedAt" in final:
        return f"final scrape confirmed at {final['confirmedAt']}"
    if "unconfirmable" in final:
        return f"final scrape not confirmed ({final['unconfirmable']})"
    return "final scrape not confirmed"


def write_summary(path: Path, summary: Summary) -> str:
    """Write the summary where Kubernetes keeps it, print the human line; the encoded text."""
    encoded = encode_summary(summary)
    try:
        path.write_text(encoded)
    except OSError as error:
        log.warning("summary not written to %s: %s", path, error)
    totals = headline(summary) if "requests" in summary else "no totals"
    exporter = summary.get("exporter", ExporterOutcome.NOT_ENDED)
    print(f"locust-finisher: {totals}; {scrape_words(summary)}; exporter {exporter}", flush=True)
    return encoded
