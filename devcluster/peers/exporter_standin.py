"""A STAND-IN for containersol/locust_exporter v0.5.x, not the real exporter.

The real exporter is a Go program (github.com/ContainerSolutions/locust_exporter, on
prometheus client_golang 1.11 and prometheus/common 0.26) whose Go module is refused by the
module proxy this project may use, so CI runs this script instead; set ``LOCUST_EXPORTER_BIN``
to a real ``locust_exporter`` binary to run every test and the demo against the real thing.
It matches the real one, as read in its v0.5.0-v0.5.2 ``main.go``, on these points:

* ``/metrics`` fetches ``<locust.uri>/stats/requests`` on every scrape and only then;
* Locust unreachable or answering non-2xx: ``locust_up 0``, the scalar gauges (users,
  fail ratio, percentiles, worker counts, running) vanish, and the per-endpoint, error and
  worker gauge vectors keep their last values;
* Locust answering 2xx with a body that is not a JSON object (a login page, garbage, empty):
  ``locust_up 1`` and every scalar gauge at 0, vectors untouched, because the real one
  ignores ``json.Unmarshal``'s error and reports the zero-valued struct; likewise a field of
  the wrong JSON type (or an integer field holding a fraction) reads as 0 or "";
* numbers are written as client_golang's text format writes them (:func:`go_float`):
  1,234,567 requests are ``1.234567e+06``, 100000 is ``100000``, NaN and infinities are
  ``NaN``, ``+Inf``, ``-Inf``;
* ``promhttp_metric_handler_requests_total{code="200"}`` counts completed scrapes, and is
  incremented only after the response has been written;
* ``/quitquitquit`` (any method) exits the process with status 0 without answering;
* SIGTERM, SIGINT and SIGHUP are handled the way the Go runtime handles them without
  ``signal.Notify`` (:func:`_die_like_go`): the process dies by the signal at once, or, as
  PID 1 of its PID namespace (a container's entrypoint), where the kernel drops that
  self-sent signal, exits with status 2 at once;
* same flags and environment variables, same default address ``:9646``.

Not reproduced: ``# HELP`` lines, the order of metric families (client_golang sorts them by
name), and the ``go_*``, ``process_*`` and ``locustexporter_build_info`` metrics.
"""

import argparse
import json
import math
import os
import signal
import threading
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

# (metric, field, whether the real one decodes the field into a Go int)
_VECTOR_FIELDS = (
    ("num_requests", "num_requests", True),
    ("num_failures", "num_failures", True),
    ("avg_response_time", "avg_response_time", False),
    ("current_fail_per_sec", "current_fail_per_sec", False),
    ("min_response_time", "min_response_time", False),
    ("max_response_time", "max_response_time", False),
    ("current_rps", "current_rps", False),
    ("median_response_time", "median_response_time", False),
    ("avg_content_length", "avg_content_length", False),
)
_GO_INT64 = range(-(2**63), 2**63)
_DEADLY_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def go_float(value: float) -> str:
    """A sample value as client_golang's text exposition writes it.

    prometheus/common's ``expfmt`` ``writeFloat`` writes 1, 0 and -1 as ``1``, ``0`` and
    ``-1`` (so -0.0 too is ``0``), NaN as ``NaN``, the infinities as ``+Inf`` and ``-Inf``,
    and anything else as Go's ``strconv.FormatFloat(v, 'g', -1, 64)``: the shortest digits
    that read back as the same float64 (Python's ``repr`` finds the same digits), written
    with an exponent when the decimal exponent ``x`` of the first digit (v = d.ddd * 10**x)
    is below -4 or at least 6 (for the shortest precision ``'g'`` compares with 6, not with
    the digit count), and without one otherwise. The exponent form is ``d.ddde+XX``: a
    sign and at least two digits. So 1234567 is ``1.234567e+06``, 999999 is ``999999``,
    1e6 is ``1e+06``, 0.0001 is ``0.0001``, 0.00001 is ``1e-05``.
    """
    if value == 0:
        return "0"
    if value in (1, -1):
        return "1" if value > 0 else "-1"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    shortest = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(shortest.exponent, int)  # a finite number
    digits = "".join(str(digit) for digit in shortest.digits).rstrip("0")
    point = len(shortest.digits) + shortest.exponent  # value = 0.<digits> * 10**point
    exponent = point - 1
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    whole, fraction = digits[:point].ljust(point, "0"), digits[point:]
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _decoded(body: bytes) -> dict[str, Any]:
    """Locust's answer as the real one's ``json.Unmarshal`` leaves it: {} unless an object."""

    def reject(constant: str) -> float:
        raise ValueError(constant)  # NaN, Infinity: not JSON for Go

    try:
        document = json.loads(body, parse_constant=reject)
    except ValueError:  # the real one ignores the error: its struct stays zero-valued
        return {}
    return document if isinstance(document, dict) else {}


def _number(value: object, *, integer: bool = False) -> float:
    """A JSON value decoded into a Go float64 (or int) field: 0 where Go's decoder fails."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0  # null, or a type error the real one ignores
    if integer and not (isinstance(value, int) and value in _GO_INT64):
        return 0.0
    try:
        number = float(value)
    except OverflowError:
        return 0.0
    return number if math.isfinite(number) else 0.0


def _text(value: object) -> str:
    """A JSON value decoded into a Go string field."""
    return value if isinstance(value, str) else ""


def _objects(value: object) -> list[dict[str, Any]]:
    """A JSON array decoded into a Go slice of structs: an element of the wrong type is zero."""
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, dict) else {} for item in value]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in pairs.items()) + "}"


class Exporter:
    """The exporter's state: the gauge vectors it keeps between scrapes."""

    def __init__(self, uri: str, namespace: str, timeout: float) -> None:
        self.uri = uri
        self.ns = namespace
        self.timeout = timeout
        self.lock = threading.Lock()
        self.vectors: dict[str, dict[tuple[str, ...], float]] = {}
        self.scrapes = {"200": 0, "500": 0, "503": 0}
        self.in_flight = 0

    def _fetch(self) -> dict[str, Any] | None:
        """Locust's stats; None when Locust cannot be reached or answers other than 2xx."""
        try:
            with urllib.request.urlopen(
                self.uri + "/stats/requests", timeout=self.timeout
            ) as answer:
                if not 200 <= answer.status < 300:
                    return None
                body: bytes = answer.read()
        except (OSError, ValueError):
            return None
        return _decoded(body)

    def collect(self) -> str:
        """One scrape: fetch Locust's stats, update the vectors, render everything."""
        with self.lock:
            stats = self._fetch()
            lines: list[str] = []

            def gauge(name: str, value: float) -> None:
                lines.append(f"# TYPE {self.ns}_{name} gauge")
                lines.append(f"{self.ns}_{name} {go_float(value)}")

            if stats is not None:
                for row in _objects(stats.get("stats")):
                    name = _text(row.get("name"))
                    if name in ("Total", "//stats/requests"):
                        continue
                    key: tuple[str, ...] = (_text(row.get("method")), name)
                    for metric, field, integer in _VECTOR_FIELDS:
                        self.vectors.setdefault(f"requests_{metric}", {})[key] = _number(
                            row.get(field), integer=integer
                        )
                for error in _objects(stats.get("errors")):
                    key = (
                        _text(error.get("method")),
                        _text(error.get("name")),
                        _text(error.get("error")),
                    )
                    self.vectors.setdefault("errors", {})[key] = _number(
                        error.get("occurrences"), integer=True
                    )
                workers = _objects(stats.get("workers"))
                for worker in workers:
                    key = (_text(worker.get("id")), _text(worker.get("state")))
                    self.vectors.setdefault("worker_detail", {})[key] = _number(
                        worker.get("user_count"), integer=True
                    )
                gauge("users", _number(stats.get("user_count"), integer=True))
                gauge("requests_fail_ratio", _number(stats.get("fail_ratio")))
                gauge(
                    "requests_current_response_time_percentile_95",
                    _number(stats.get("current_response_time_percentile_95")),
                )
                gauge(
                    "requests_current_response_time_percentile_50",
                    _number(stats.get("current_response_time_percentile_50")),
                )
                gauge("workers_count", float(len(workers)))
                for state in ("running", "hatching", "missing"):
                    gauge(
                        f"workers_{state}_count",
                        float(sum(1 for w in workers if _text(w.get("state")) == state)),
                    )
                running = {"hatching": 1, "running": 2}.get(_text(stats.get("state")), 0)
                gauge("running", float(running))
            gauge("up", 1.0 if stats is not None else 0.0)

            label_names = {
                "errors": ("method", "name", "error"),
                "worker_detail": ("id", "state"),
            }
            for vector, series in self.vectors.items():
                names = label_names.get(vector, ("method", "name"))
                lines.append(f"# TYPE {self.ns}_{vector} gauge")
                for key, value in series.items():
                    labels = _labels(dict(zip(names, key, strict=True)))
                    lines.append(f"{self.ns}_{vector}{labels} {go_float(value)}")

            lines.append("# TYPE promhttp_metric_handler_requests_in_flight gauge")
            lines.append(f"promhttp_metric_handler_requests_in_flight {go_float(self.in_flight)}")
            lines.append("# TYPE promhttp_metric_handler_requests_total counter")
            for code, count in self.scrapes.items():
                lines.append(
                    f'promhttp_metric_handler_requests_total{{code="{code}"}} {go_float(count)}'
                )
            return "\n".join(lines) + "\n"


def _die_like_go(signum: int, frame: FrameType | None) -> None:
    """What the Go runtime does on SIGTERM, SIGINT or SIGHUP when nobody called Notify.

    The runtime's handler (``dieFromSignal``) restores the default action and raises the
    signal again, which kills the process by that signal; if it is still alive after that
    (PID 1 of a PID namespace: the kernel drops a signal whose action is the default there),
    it exits with status 2. So a container running the real exporter ends with 2 at once on
    SIGTERM, and so does this one.
    """
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
    os._exit(2)


def serve(exporter: Exporter, address: str, metrics_path: str) -> None:
    """Serve until killed or told to quit."""

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/quitquitquit":
                os._exit(0)  # like the real one: no answer, status 0
            if path == metrics_path:
                with exporter.lock:
                    exporter.in_flight += 1
                body = exporter.collect().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                with exporter.lock:
                    exporter.in_flight -= 1
                    exporter.scrapes["200"] += 1  # counted once the scrape is complete
                return
            link = f"<a href='{metrics_path}'>Metrics</a>"
            body = f"<html><body><h1>Locust Exporter</h1>{link}</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    host, _, port = address.rpartition(":")
    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    server.daemon_threads = True
    for signum in _DEADLY_SIGNALS:
        signal.signal(signum, _die_like_go)
    # Only this (main) thread may take those signals: Python runs handlers in the main
    # thread only, and a signal taken by a server thread would wait for the main thread to
    # wake. So the server runs in a thread started with them blocked (its request threads
    # inherit that), and this thread waits for it, where a signal interrupts the wait.
    signal.pthread_sigmask(signal.SIG_BLOCK, _DEADLY_SIGNALS)
    try:
        serving = threading.Thread(target=server.serve_forever, name="serve", daemon=True)
        serving.start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _DEADLY_SIGNALS)
    print(f"Listening on {address}", flush=True)
    serving.join()


def main() -> None:
    """Flags and environment variables as in locust_exporter."""
    env = os.environ.get
    parser = argparse.ArgumentParser(description="locust_exporter stand-in")
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default=env("LOCUST_EXPORTER_WEB_LISTEN_ADDRESS", ":9646"),
    )
    parser.add_argument(
        "--web.telemetry-path",
        dest="path",
        default=env("LOCUST_EXPORTER_WEB_TELEMETRY_PATH", "/metrics"),
    )
    parser.add_argument(
        "--locust.uri", dest="uri", default=env("LOCUST_EXPORTER_URI", "http://localhost:8089")
    )
    parser.add_argument(
        "--locust.namespace", dest="namespace", default=env("LOCUST_METRIC_NAMESPACE", "locust")
    )
    parser.add_argument(
        "--locust.timeout", dest="timeout", default=env("LOCUST_EXPORTER_TIMEOUT", "5s")
    )
    args = parser.parse_args()
    timeout = float(args.timeout.rstrip("s") or 5)
    serve(Exporter(args.uri, args.namespace, timeout), args.listen, args.path)


if __name__ == "__main__":
    main()
