"""One logging set-up for every command: text for people, JSON for log pipelines.

Loggers are named by module. Lines about one pod carry its namespace and name, through
:func:`pod_log`, so ``grep ns/name`` (or a JSON query) finds everything about one test.
"""

import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

from app.core.timestamps import format_time

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
# Fields a line may carry besides its message, in the order they are shown.
_CONTEXT = ("namespace", "pod", "action")


def _subject(record: logging.LogRecord) -> str:
    namespace, pod = getattr(record, "namespace", None), getattr(record, "pod", None)
    if pod is None:
        return ""
    return f"{namespace}/{pod}: " if namespace else f"{pod}: "


class TextFormatter(logging.Formatter):
    """``time level logger: namespace/pod: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """Put the pod before the message."""
        record.message = _subject(record) + record.message
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the pod if given."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record``."""
        line = {
            "time": format_time(record.created, fraction_digits=3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


def setup_logging(level: str = "info", log_format: LogFormat = "text") -> None:
    """Route every logger to stderr in ``log_format`` at ``level``."""
    # No line shows where it was logged from, nor the thread or process: the Logging HOWTO's
    # "Optimization" switches skip gathering them (a stack walk per line), which was a third
    # of the webhook's per-review log line.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class PodLog(logging.LoggerAdapter[logging.Logger]):
    """A logger whose every line names one pod; per-call ``extra`` adds to it."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Merge the pod into the line's extra fields."""
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def pod_fields(namespace: str | None, name: str) -> dict[str, object]:
    """The fields that name a pod on a line, as a logging call's ``extra``.

    For a single line on a hot path (the webhook's one per review): an adapter per line
    costs a third of writing it.
    """
    return {"namespace": namespace, "pod": name}


def pod_log(logger: logging.Logger, namespace: str | None, name: str) -> PodLog:
    """``logger``, naming the pod ``namespace/name`` on every line."""
    context: Mapping[str, object] = pod_fields(namespace, name)
    return PodLog(logger, context)
