"""A Locust master "pod" made of real processes, run inside fresh PID and network namespaces.

Run as ``unshare --pid --net --fork --mount-proc python finisher_pod_harness.py SPEC.json``: inside,
the finisher sees only this pod's processes, as with ``shareProcessNamespace``. It starts a
load target, the finisher (and its postStart gate), the exporter, a scraper that plays
Prometheus, the Locust master and workers, then records what happened, when, and with
which exit codes into ``SPEC.json``'s ``result`` file. All times are seconds on one
monotonic clock.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
AGGREGATED = re.compile(
    r'^locust_requests_num_requests\{method="",name="Aggregated"\} (\S+)$', re.M
)


def now() -> float:
    """The harness's one clock."""
    return time.monotonic()


class Scraper(threading.Thread):
    """Plays Prometheus: scrapes the exporter every ``interval`` seconds and keeps each result."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        """Scrape until stopped."""
        while not self.stopped.is_set():
            started = now()
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:
                    text = answer.read().decode()
                match = AGGREGATED.search(text)
                self.samples.append(
                    {
                        "at": now(),
                        "started": started,
                        "aggregated": float(match.group(1)) if match else None,
                    }
                )
            except OSError:
                pass
            self.stopped.wait(self.interval)


class Sampler(threading.Thread):
    """Samples a process's CPU time and resident memory (for the finisher's cost benchmark)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.ticks_per_second = os.sysconf("SC_CLK_TCK")
        self.cpu_seconds = 0.0
        self.max_rss_kib = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        while not self.stopped.is_set():
            try:
                fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.cpu_seconds = (int(fields[11]) + int(fields[12])) / self.ticks_per_second
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.max_rss_kib = max(self.max_rss_kib, int(line.split()[1]))
            except (OSError, IndexError, ValueError):
                return
            self.stopped.wait(0.5)


def start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output in ``log``."""
    with log.open("wb") as output:
        return subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )


def wait(process: subprocess.Popen[bytes], timeout: float) -> tuple[int | None, float | None]:
    """(exit code, when) or (None, None) after ``timeout``."""
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        return None, None
    return code, now()


def main() -> None:
    """Run the pod described by the spec file in argv[1]."""
    spec = json.loads(Path(sys.argv[1]).read_text())
    work = Path(spec["workdir"])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    result: dict[str, Any] = {"events": {}}
    events = result["events"]

    target = start(
        [sys.executable, str(ROOT / "devcluster/peers/http_target.py")],
        work / "target.log",
        {"PORT": "18080"},
    )

    finisher = start(
        [
            str(VENV_BIN / "locust-finisher"),
            "finish",
            "--termination-log",
            str(work / "termination-log"),
            *spec.get("finisher_args", []),
        ],
        work / "finisher.log",
        spec.get("finisher_env", {}),
    )
    events["finisher_started"] = now()
    sampler = Sampler(finisher.pid)
    sampler.start()
    gate = subprocess.run(
        [str(VENV_BIN / "locust-finisher"), "await-ready", "--timeout", "20"],
        capture_output=True,
        text=True,
    )
    events["ready"] = now()
    result["gate_exit"] = gate.returncode

    exporter_cmd = spec["exporter_cmd"]
    exporter = start(exporter_cmd, work / "exporter.log")
    scraper = None
    if spec.get("scrape_interval"):
        scraper = Scraper("http://127.0.0.1:9646/metrics", spec["scrape_interval"])
        scraper.start()

    time.sleep(spec.get("master_delay", 0))
    locust = [
        str(VENV_BIN / "locust"),
        "-f",
        spec["locustfile"],
        "--host",
        "http://127.0.0.1:18080",
    ]
    master = start(
        [
            *locust,
            "--master",
            "--expect-workers",
            "1",
            "--autostart",
            "--autoquit",
            str(spec["autoquit"]),
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--run-time",
            spec["run_time"],
            "--only-summary",
            "--csv",
            str(work / "locust"),
        ],
        work / "master.log",
    )
    events["master_started"] = now()
    worker = start([*locust, "--worker", "--master-host", "127.0.0.1"], work / "worker.log")
    result["master_pid"] = master.pid

    if spec.get("kill_exporter_after"):
        time.sleep(spec["kill_exporter_after"])
        exporter.kill()

    result["master_exit"], events["master_exited"] = wait(master, 120)
    result["finisher_cpu_at_master_exit"] = sampler.cpu_seconds
    if spec.get("sigterm_finisher_after_master") is not None:
        time.sleep(spec["sigterm_finisher_after_master"])
        events["sigterm_sent"] = now()
        finisher.send_signal(signal.SIGTERM)
    result["finisher_exit"], events["finisher_exited"] = wait(
        finisher, spec.get("finisher_timeout", 120)
    )
    result["exporter_exit"], events["exporter_exited"] = wait(exporter, 5)
    sampler.stopped.set()
    result["finisher_cpu_seconds"] = sampler.cpu_seconds
    result["finisher_max_rss_kib"] = sampler.max_rss_kib
    if result["exporter_exit"] is None:
        result["exporter_still_running"] = True
    if scraper is not None:
        scraper.stopped.set()
        scraper.join(5)
        result["scrapes"] = scraper.samples
    for process in (exporter, finisher, worker, target):
        if process.poll() is None:
            process.kill()
            process.wait()
    Path(spec["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
