"""A stand-in for containersol/locust_exporter v0.5.x, for machines that cannot build it.

The real exporter's Go module is not served by the module proxy this project may use, so
CI runs this stand-in; set ``LOCUST_EXPORTER_BIN`` to a real ``locust_exporter`` binary to
run every test and the demo against the real thing instead. It reproduces the behaviour
the finisher depends on, as documented for v0.5.x:

* ``/metrics`` fetches ``<locust.uri>/stats/requests`` on every scrape and only then;
* per-endpoint gauges (``locust_requests_num_requests{method,name}`` ...) keep their last
  values when Locust is gone, while ``locust_up`` drops to 0 and the scalar gauges vanish;
* ``promhttp_metric_handler_requests_total{code="200"}`` counts completed scrapes, and is
  incremented only after the response has been written;
* ``/quitquitquit`` (any method) exits the process with status 0 without answering;
* same flags and environment variables, same default address ``:9646``.
"""

import argparse
import json
import os
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_VECTOR_FIELDS = (
    ("num_requests", "num_requests"),
    ("num_failures", "num_failures"),
    ("avg_response_time", "avg_response_time"),
    ("current_fail_per_sec", "current_fail_per_sec"),
    ("min_response_time", "min_response_time"),
    ("max_response_time", "max_response_time"),
    ("current_rps", "current_rps"),
    ("median_response_time", "median_response_time"),
    ("avg_content_length", "avg_content_length"),
)


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
        try:
            with urllib.request.urlopen(
                self.uri + "/stats/requests", timeout=self.timeout
            ) as answer:
                if not 200 <= answer.status < 300:
                    return None
                document: dict[str, Any] = json.loads(answer.read() or b"{}")
                return document
        except (OSError, ValueError):
            return None

    def collect(self) -> str:
        """One scrape: fetch Locust's stats, update the vectors, render everything."""
        with self.lock:
            stats = self._fetch()
            lines: list[str] = []

            def gauge(name: str, value: float) -> None:
                lines.append(f"# TYPE {self.ns}_{name} gauge")
                lines.append(f"{self.ns}_{name} {value:g}")

            if stats is not None:
                for row in stats.get("stats", []) or []:
                    if row.get("name") in ("Total", "//stats/requests"):
                        continue
                    key: tuple[str, ...] = (
                        str(row.get("method") or ""),
                        str(row.get("name") or ""),
                    )
                    for metric, field in _VECTOR_FIELDS:
                        self.vectors.setdefault(f"requests_{metric}", {})[key] = float(
                            row.get(field) or 0
                        )
                for error in stats.get("errors", []) or []:
                    key = (
                        str(error.get("method", "")),
                        str(error.get("name", "")),
                        str(error.get("error", "")),
                    )
                    self.vectors.setdefault("errors", {})[key] = float(error.get("occurrences", 0))
                workers = stats.get("workers", []) or []
                for worker in workers:
                    key = (str(worker.get("id", "")), str(worker.get("state", "")))
                    self.vectors.setdefault("worker_detail", {})[key] = float(
                        worker.get("user_count", 0)
                    )
                gauge("users", float(stats.get("user_count", 0)))
                gauge("requests_fail_ratio", float(stats.get("fail_ratio", 0)))
                gauge(
                    "requests_current_response_time_percentile_95",
                    float(stats.get("current_response_time_percentile_95", 0) or 0),
                )
                gauge(
                    "requests_current_response_time_percentile_50",
                    float(stats.get("current_response_time_percentile_50", 0) or 0),
                )
                gauge("workers_count", float(len(workers)))
                for state in ("running", "hatching", "missing"):
                    gauge(
                        f"workers_{state}_count",
                        float(sum(1 for w in workers if w.get("state") == state)),
                    )
                running = {"hatching": 1, "running": 2}.get(str(stats.get("state")), 0)
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
                    lines.append(
                        f"{self.ns}_{vector}{_labels(dict(zip(names, key, strict=True)))} {value:g}"
                    )

            lines.append("# TYPE promhttp_metric_handler_requests_in_flight gauge")
            lines.append(f"promhttp_metric_handler_requests_in_flight {self.in_flight}")
            lines.append("# TYPE promhttp_metric_handler_requests_total counter")
            for code, count in self.scrapes.items():
                lines.append(f'promhttp_metric_handler_requests_total{{code="{code}"}} {count}')
            return "\n".join(lines) + "\n"


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
    print(f"Listening on {address}", flush=True)
    server.serve_forever()


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
