"""A Locust master "pod" made of real processes, run inside fresh PID and network namespaces.

Run as ``unshare --pid --net --fork --mount-proc python finisher_pod_harness.py SPEC.json``: inside,
the finisher sees only this pod's processes, as with ``shareProcessNamespace``. It starts a
load target, the finisher (and its postStart gate), the exporter, a scraper that plays
Prometheus, the Locust master and workers, then records what happened, when, and with
which exit codes into ``SPEC.json``'s ``result`` file. All times are seconds on one
monotonic clock.
"""

import contextlib
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


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the finisher's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Sampler(threading.Thread):
    """Samples the finisher's CPU time and peak resident memory, its workers' apart."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.ticks_per_second = os.sysconf("SC_CLK_TCK")
        self.ticks: dict[int, int] = {}  # per process, the supervisor's and each worker's
        self.max_rss_kib = 0
        self.worker_max_rss_kib = 0
        self.worker_oom_score_adj: int | None = None
        self.stopped = threading.Event()

    @property
    def cpu_seconds(self) -> float:
        """CPU time of the supervisor and every worker so far."""
        return sum(self.ticks.values()) / self.ticks_per_second

    @property
    def workers_seen(self) -> set[int]:
        """Every worker seen."""
        return set(self.ticks) - {self.pid}

    def run(self) -> None:
        """Sample until stopped."""
        while not self.stopped.is_set():
            try:
                self.ticks[self.pid] = _cpu_ticks(self.pid)
                self.max_rss_kib = max(self.max_rss_kib, _peak_rss_kib(self.pid))
            except (OSError, IndexError, ValueError):
                return
            for child in children(self.pid):
                with contextlib.suppress(OSError, IndexError, ValueError):  # it has just exited
                    self.ticks[child] = _cpu_ticks(child)
                    self.worker_max_rss_kib = max(self.worker_max_rss_kib, _peak_rss_kib(child))
                    adj = Path(f"/proc/{child}/oom_score_adj").read_text()
                    self.worker_oom_score_adj = int(adj)
            self.stopped.wait(0.2)


class WorkerKiller(threading.Thread):
    """SIGKILLs the finisher's worker: once after ``first`` seconds, then every ``every``."""

    def __init__(self, pid: int, first: float, every: float | None) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.first = first
        self.every = every
        self.kills: list[float] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        """Kill until stopped (or once)."""
        if self.stopped.wait(self.first):
            return
        while True:
            for child in children(self.pid):
                try:
                    os.kill(child, signal.SIGKILL)
                    self.kills.append(now())
                except OSError:
                    pass
            if self.every is None or self.stopped.wait(self.every):
                return


def start(
    argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: str | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output in ``log``."""
    with log.open("wb") as output:
        return subprocess.Popen(
            argv,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )


class ExitClock(threading.Thread):
    """Notes when a process exits, while the harness waits for others."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.exited_at: float | None = None

    def run(self) -> None:
        """Wait for the process."""
        self.process.wait()
        self.exited_at = now()


def wait(
    process: subprocess.Popen[bytes], timeout: float, clock: ExitClock | None = None
) -> tuple[int | None, float | None]:
    """(exit code, when) or (None, None) after ``timeout``."""
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        return None, None
    if clock is not None:
        clock.join(1)
        return code, clock.exited_at or now()
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
    finisher_clock = ExitClock(finisher)
    finisher_clock.start()
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

    if spec.get("sigterm_finisher_before_master") is not None:
        time.sleep(spec["sigterm_finisher_before_master"])
        events["sigterm_sent"] = now()
        finisher.send_signal(signal.SIGTERM)

    if spec.get("no_master"):
        # A master that never starts: only the finisher's own bound may end this pod.
        result["master_exit"] = None
        result["finisher_exit"], events["finisher_exited"] = wait(
            finisher, spec.get("finisher_timeout", 120), finisher_clock
        )
        result["exporter_exit"], events["exporter_exited"] = wait(exporter, 5)
        finish(spec, result, sampler, scraper, [exporter, finisher, target])
        return

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
            *([] if spec.get("master_flag") is False else ["--master"]),
            *spec.get("master_args", []),
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
        spec.get("master_env"),
        spec.get("master_cwd"),
    )
    events["master_started"] = now()
    killer = None
    if spec.get("kill_worker_after_master_start") is not None:
        killer = WorkerKiller(
            finisher.pid, spec["kill_worker_after_master_start"], spec.get("kill_worker_every")
        )
        killer.start()
    if spec.get("sigterm_finisher_after_master_start") is not None:
        time.sleep(spec["sigterm_finisher_after_master_start"])
        events["sigterm_sent"] = now()
        finisher.send_signal(signal.SIGTERM)
    worker = start(
        [*locust, "--worker", "--master-host", "127.0.0.1"],
        work / "worker.log",
        spec.get("worker_env"),
    )
    result["master_pid"] = master.pid

    if spec.get("kill_exporter_after"):
        time.sleep(spec["kill_exporter_after"])
        exporter.kill()

    result["master_exit"], events["master_exited"] = wait(master, 120)
    result["finisher_cpu_at_master_exit"] = sampler.cpu_seconds
    if spec.get("kill_worker_after_master_exit") is not None:
        killer = WorkerKiller(finisher.pid, spec["kill_worker_after_master_exit"], None)
        killer.start()
    if spec.get("sigterm_finisher_after_master") is not None:
        time.sleep(spec["sigterm_finisher_after_master"])
        events["sigterm_sent"] = now()
        finisher.send_signal(signal.SIGTERM)
    result["finisher_exit"], events["finisher_exited"] = wait(
        finisher, spec.get("finisher_timeout", 120), finisher_clock
    )
    result["exporter_exit"], events["exporter_exited"] = wait(exporter, 5)
    if killer is not None:
        killer.stopped.set()
        result["worker_kills"] = killer.kills
    finish(spec, result, sampler, scraper, [exporter, finisher, worker, target])


def finish(
    spec: dict[str, Any],
    result: dict[str, Any],
    sampler: Sampler,
    scraper: Scraper | None,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    """Record the costs and scrapes, end what still runs, write the result."""
    sampler.stopped.set()
    result["finisher_cpu_seconds"] = sampler.cpu_seconds
    result["finisher_max_rss_kib"] = sampler.max_rss_kib
    result["worker_max_rss_kib"] = sampler.worker_max_rss_kib
    result["workers_seen"] = len(sampler.workers_seen)
    result["worker_oom_score_adj"] = sampler.worker_oom_score_adj
    if result["exporter_exit"] is None:
        result["exporter_still_running"] = True
    if scraper is not None:
        scraper.stopped.set()
        scraper.join(5)
        result["scrapes"] = scraper.samples
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
    Path(spec["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
