"""One Locust master "pod" of real processes, with the finisher in it: for tests and benchmarks.

``run_pod`` runs :mod:`testkit.finisher_pod_harness` in fresh PID and network namespaces
(``unshare``, so it needs root): real Locust (master and worker), the exporter
(``$LOCUST_EXPORTER_BIN`` when set, the real locust_exporter; else the stand-in from
devcluster/peers), a scraper playing Prometheus, and the finisher. :class:`PodRun` reads
what happened.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.core.env_names import ENV_EXPORTER_SIDECAR
from app.core.settings import MAX_WAIT, TTL, WAIT_FOR_SCRAPE
from app.core.summary import decode_summary

HARNESS = Path(__file__).with_name("finisher_pod_harness.py")
# The harness notices a process's exit up to 50 ms late (``Popen.wait`` polls), the finisher
# at once (a pidfd): a TTL it honoured can look this much shorter in the harness's events.
EXIT_NOTICED_LATE = 0.1
STANDIN = Path(__file__).resolve().parents[1] / "devcluster" / "peers" / "exporter_standin.py"

PASSING = """
from locust import HttpUser, constant, task
class Visitor(HttpUser):
    wait_time = constant(0.05)
    @task
    def home(self):
        self.client.get("/")
"""
FAILING = (
    PASSING
    + """
    @task
    def broken(self):
        self.client.get("/fail")
"""
)

# 5,000 request names, some failing in 500 distinct ways, and far more than a million
# requests, reported straight to Locust's stats (no HTTP, so a laptop reaches it in seconds):
# the read the finisher takes of Locust's stats is megabytes, its summary must stay 4 KiB.
MANY_NAMES = """
import gevent
from locust import User, constant, task

NAMES = 5000


class Flood(User):
    wait_time = constant(0)

    @task
    def flood(self):
        fire = self.environment.events.request.fire
        for i in range(NAMES):
            failed = RuntimeError(f"broken {i % 500}") if i % 10 == 0 else None
            fire(
                request_type="GET",
                name=f"/items/{i}",
                response_time=1 + i % 7,
                response_length=0,
                exception=failed,
                context={},
            )
        gevent.sleep(0)
"""

# An exporter that accepts connections and never answers anything, /quitquitquit included.
SILENT_EXPORTER = """
import socket
import time

server = socket.create_server(("0.0.0.0", 9646))
held = []
while True:
    connection, _ = server.accept()
    held.append(connection)
"""


def exporter_command() -> list[str]:
    """The real exporter when ``$LOCUST_EXPORTER_BIN`` names it, else the stand-in."""
    real = os.environ.get("LOCUST_EXPORTER_BIN")
    return [real] if real else [sys.executable, str(STANDIN)]


class PodRun:
    """The outcome of one harness run."""

    def __init__(self, workdir: Path, result: dict[str, Any]) -> None:
        self.workdir = workdir
        self.result = result
        self.events: dict[str, float] = result["events"]

    def exit_codes(self) -> tuple[int | None, int | None, int | None]:
        """(master, finisher, exporter) exit codes; None for a process that did not end."""
        return (
            self.result["master_exit"],
            self.result["finisher_exit"],
            self.result["exporter_exit"],
        )

    def summary(self) -> dict[str, Any]:
        """The finisher's summary from its termination log."""
        summary = decode_summary((self.workdir / "termination-log").read_text())
        assert summary is not None, self.log("finisher")
        return dict(summary)

    def locust_totals(self) -> tuple[int, int]:
        """(requests, failures) as Locust's own CSV counts them."""
        with (self.workdir / "locust_stats.csv").open() as stats:
            for row in csv.DictReader(stats):
                if row["Name"] == "Aggregated":
                    return int(row["Request Count"]), int(row["Failure Count"])
        raise AssertionError("no Aggregated row in Locust's CSV")

    def log(self, name: str) -> str:
        """One process's output."""
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def last_scrape(self) -> dict[str, Any]:
        """The scraper's last successful scrape."""
        scrapes = [s for s in self.result.get("scrapes", []) if s["aggregated"] is not None]
        assert scrapes, "the scraper never collected a value"
        return dict(scrapes[-1])


def run_pod(
    tmp_path: Path, locustfile: str = PASSING, harness_timeout: float = 240, **spec: Any
) -> PodRun:
    """Run one pod in ``tmp_path`` with ``spec`` over the defaults; what happened."""
    (tmp_path / "locustfile.py").write_text(locustfile)
    tmp_path.chmod(0o755)
    full = {
        "workdir": str(tmp_path),
        "result": str(tmp_path / "result.json"),
        "locustfile": str(tmp_path / "locustfile.py"),
        "exporter_cmd": exporter_command(),
        "run_time": "4s",
        "autoquit": 10,  # as the README asks: the totals settle 5 s after "stopped" is seen
        "scrape_interval": 1.0,
        **spec,
    }
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(full))
    completed = subprocess.run(
        [
            "unshare",
            "--pid",
            "--net",
            "--fork",
            "--mount-proc",
            sys.executable,
            str(HARNESS),
            str(spec_file),
        ],
        capture_output=True,
        text=True,
        timeout=harness_timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return PodRun(tmp_path, json.loads((tmp_path / "result.json").read_text()))


def finisher_env(**settings: str) -> dict[str, str]:
    """The finisher's env as the webhook writes it, from short names (ttl, wait, ...)."""
    names = {
        "ttl": TTL.env,
        "wait": WAIT_FOR_SCRAPE.env,
        "max_wait": MAX_WAIT.env,
        "sidecar": ENV_EXPORTER_SIDECAR,
    }
    return {str(names[key]): value for key, value in settings.items()}
