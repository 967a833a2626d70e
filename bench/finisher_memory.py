"""The finisher container's peak memory, as its memory cgroup counts it, under hostile Locusts.

    uv run --locked python -m bench.finisher_memory [--scenario NAME ...]   (root, cgroup v1)

The injected container has a 64Mi limit. On cgroup v2 the kubelet makes an OOM kill take the
whole container (``memory.oom.group``), supervisor included, so the finisher must stay well
clear of it: at most half, 32 MiB, whatever Locust answers. RSS figures per process (what
``bench/finisher_bench.py`` and the process tests report) miss what a cgroup charges: pages
shared by the supervisor and its worker counted once, the page cache of every file the
container reads (the interpreter, the standard library, our code), the postStart hook's own
interpreter, kernel memory. So each scenario here runs ``locust-finisher finish`` and its
``await-ready`` hook inside a fresh memory cgroup (``/sys/fs/cgroup/memory/
locust-finisher-bench-<pid>/<scenario>``, limit 64Mi) and reads ``memory.max_usage_in_bytes``.

As the container would: the finisher runs from a copy of the finisher image's layout (Debian's
``python3.11 -I``, its standard library and shared libraries, our package compiled, no
dependencies), whose page cache is dropped before each scenario, so its files are charged to
the finisher's cgroup as on a node that has never run the image; it is configured by the
``LOCUST_FINISHER_*`` env the webhook writes (:func:`app.core.finisher_spec.finisher_env`);
it finds a Locust master process among its pod's processes (fresh PID and network namespaces,
``unshare``), reads that fake Locust on 127.0.0.1 while it runs and in its autoquit window,
primes and ends a fake exporter, and hands Locust's report to a fake controller with a token
where the webhook mounts it. Only loopback traffic; every server ends its answers within
:data:`SERVER_SECONDS` and every scenario within :data:`SCENARIO_SECONDS`.

The cgroups are removed whatever happens (``finally``), and any left by a killed earlier run
are removed at the start.
"""

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from testkit.http_head import read_head

ROOT = Path(__file__).resolve().parents[1]
CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")
CGROUP_PREFIX = "locust-finisher-bench-"
LIMIT_BYTES = 64 * 1024 * 1024  # app/core/finisher_spec.py DEFAULT_LIMITS
GOAL_BYTES = LIMIT_BYTES // 2
# Debian's interpreter, as the finisher image runs it (Dockerfile, target "finisher").
PYTHON = Path("/usr/bin/python3.11")
STDLIB = Path("/usr/lib/python3.11")
# Parts of the standard library no finisher reads; left out of the copy to keep it quick.
STDLIB_SKIPPED = ("config-3.11-x86_64-linux-gnu", "test", "idlelib", "lib2to3", "pydoc_data")
LOCUST_PORT, EXPORTER_PORT, RECEIVER_PORT = 8089, 9646, 8090
TOKEN_DIR = "/run/secrets/locust-finisher.io/report"  # /var/run is /run
SERVER_SECONDS = 90.0  # no answer of a fake server lasts longer
SCENARIO_SECONDS = 240.0  # the finisher's own caps end every scenario well before
SAMPLE_SECONDS = 0.02


@dataclass(frozen=True)
class Scenario:
    """What the fake Locust and exporter answer, and for how long the test runs."""

    name: str
    what: str  # one line for the table
    names: int = 500
    name_length: int = 20
    errors: int = 50
    error_bytes: int = 60
    stats: str = "whole"  # whole | endless | drip | deep
    report: str = "whole"  # whole | endless | drip | at-cap
    metrics_bytes: int = 2_000
    run_seconds: float = 5.0
    stopped_seconds: float = 5.0


SCENARIOS = (
    Scenario("locust-500", "500 request names, 50 errors: what Locust's web UI lists at most"),
    Scenario(
        "names-50k",
        "50,000 request names (a UI that lists them all), 500 errors; a 36 MB report",
        names=50_000,
        errors=500,
        run_seconds=8.0,
    ),
    Scenario(
        "long-names-50k",
        "50,000 request names of 1,000 characters (~70 MB of stats)",
        names=50_000,
        name_length=1_000,
        errors=500,
        run_seconds=12.0,
    ),
    Scenario(
        "error-pages-40mb",
        "500 errors of 80 KB each (failures that keep the error page): 40 MB of stats",
        errors=500,
        error_bytes=80_000,
        run_seconds=8.0,
    ),
    Scenario(
        "endless-chunked-stats",
        "/stats/requests a chunked body that never ends",
        stats="endless",
        run_seconds=14.0,
    ),
    Scenario(
        "deep-nesting",
        "stats with an entry nested 100,000 deep",
        stats="deep",
        run_seconds=8.0,
    ),
    Scenario(
        "slow-drip",
        "every answer of Locust and the exporter dripped a byte every 0.5 s",
        stats="drip",
        report="drip",
        run_seconds=14.0,
    ),
    Scenario(
        "endless-report",
        "the report files chunked bodies that never end",
        report="endless",
        stopped_seconds=20.0,
    ),
    Scenario(
        "report-at-caps",
        "failures, exceptions and the report page incompressible, just under the 1784 KiB cap; "
        "totals grow after the stop",
        report="at-cap",
        stopped_seconds=8.0,
    ),
    Scenario(
        "metrics-4mib",
        "the exporter's /metrics just under its 4 MiB cap",
        metrics_bytes=4 * 1024 * 1024 - 4096,
    ),
)


# ----------------------------------------------------------------- the fake Locust's answers


def _row(name: str, requests: int) -> dict[str, Any]:
    """One row of Locust 2.x's /stats/requests (web.py's request_stats)."""
    return {
        "method": "GET",
        "name": name,
        "safe_name": name,
        "num_requests": requests,
        "num_failures": requests // 10,
        "avg_response_time": 12.345678,
        "min_response_time": 1,
        "max_response_time": 250,
        "current_rps": 3.5,
        "current_fail_per_sec": 0.3,
        "median_response_time": 11,
        "ninetieth_response_time": 20,
        "ninety_ninth_response_time": 40,
        "avg_content_length": 1024.0,
        "response_time_percentile_0.95": 30,
        "response_time_percentile_0.99": 40,
        "total_rps": 3.5,
        "total_fail_per_sec": 0.3,
    }


def _name(scenario: Scenario, index: int) -> str:
    base = f"/api/v1/items/{index}"
    return base + "/x" * ((scenario.name_length - len(base)) // 2)


class Bodies:
    """What the fake Locust serves; the big parts made once."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        rows = (_row(_name(scenario, i), 7 + i % 100) for i in range(scenario.names))
        self.rows = b",".join(json.dumps(row).encode() for row in rows)
        page = "x" * scenario.error_bytes
        errors = (
            {
                "method": "GET",
                "name": f"/api/v1/items/{i}",
                "error": f"{i} {page}",
                "occurrences": i,
            }
            for i in range(scenario.errors)
        )
        self.errors = b",".join(json.dumps(error).encode() for error in errors)
        # Incompressible: random bytes, base64-sized, just under the compressed cap of a file.
        self.at_cap = random.Random(7).randbytes(1784 * 1024 - 8192)

    def stats(self, state: str, requests: int) -> Iterator[bytes]:
        total = _row("Aggregated", requests)
        yield b'{"stats": [' + self.rows + b"," + json.dumps(total).encode()
        yield b'], "errors": [' + self.errors + b'], "total_rps": 3.5, "total_fail_per_sec": 0.3, '
        tail = {"fail_ratio": 0.1, "state": state, "user_count": 40, "worker_count": 2}
        yield json.dumps(tail).encode()[1:]

    def deep(self, state: str, requests: int) -> Iterator[bytes]:
        depth = 100_000
        yield (
            b'{"stats": ['
            + b"[" * depth
            + b"]" * depth
            + b", "
            + json.dumps(_row("Aggregated", requests)).encode()
        )
        yield b'], "errors": [], '
        yield json.dumps({"fail_ratio": 0.1, "state": state}).encode()[1:]

    def endless_stats(self) -> Iterator[bytes]:
        row = json.dumps(_row("/api/v1/endless", 7)).encode()
        yield b'{"stats": [' + row
        piece = (b"," + row) * 100
        while True:
            yield piece

    def report(self, path: str) -> Iterator[bytes]:
        if self.scenario.report == "at-cap":
            yield self.at_cap
        elif path.startswith("/stats/report"):
            # Locust's report page embeds every row (templateArgs) in one HTML document.
            yield b'<html><script>window.templateArgs = {"requests_statistics": ['
            yield self.rows
            yield b"]};</script></html>"
        elif path == "/stats/failures/csv":
            yield b"Method,Name,Error,Occurrences\n"
            for i in range(self.scenario.errors):
                yield f'GET,/api/v1/items/{i},"{i} error",{i}\n'.encode()
        else:
            yield b'{"exceptions": [], "total": 0}'

    @staticmethod
    def endless_text() -> Iterator[bytes]:
        piece = b"<tr><td>GET</td><td>/api/v1/items</td><td>7</td></tr>\n" * 1000
        while True:
            yield piece


# ----------------------------------------------------------------- serving, byte by byte


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, answer: Callable[[socket.socket, str, str, bytes], None]) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.answer = answer


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        head = read_head(self.request)
        if head is None:
            return
        request, _, _ = head.partition(b"\r\n")
        method, path = [*request.decode(errors="replace").split(" "), "", ""][:2]
        with contextlib.suppress(OSError):  # the finisher gave up or went: what it should do
            self.server.answer(self.request, method, path, head)


def serve(port: int, answer: Callable[[socket.socket, str, str, bytes], None]) -> _Server:
    server = _Server(port, answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def send_length(
    sock: socket.socket, pieces: Iterator[bytes], kind: str = "application/json"
) -> int:
    body = b"".join(pieces)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body)
    return len(body)


def send_chunked(sock: socket.socket, pieces: Iterator[bytes]) -> int:
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    ends, sent = time.monotonic() + SERVER_SECONDS, 0
    for piece in pieces:
        if time.monotonic() > ends:
            break
        sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        sent += len(piece)
    return sent


def drip(sock: socket.socket) -> int:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    ends, sent = time.monotonic() + SERVER_SECONDS, 0
    while time.monotonic() < ends:
        sock.sendall(b" ")  # what JSON allows anywhere: only the time cap can end it
        sent += 1
        time.sleep(0.5)
    return sent


def fake_locust(spec: dict[str, Any]) -> None:
    """A Locust master's web UI: running, then stopped (totals grow once), then gone."""
    scenario = Scenario(**spec["scenario"])
    bodies = Bodies(scenario)
    started = time.monotonic()
    stops_at = started + scenario.run_seconds
    exits_at = stops_at + scenario.stopped_seconds
    served: dict[str, int] = {}
    stopped_answers = 0  # of /stats/requests
    lock = threading.Lock()

    def answer(sock: socket.socket, method: str, path: str, head: bytes) -> None:
        nonlocal stopped_answers
        state = "running" if time.monotonic() < stops_at else "stopped"
        # Workers' last reports arrive after the stop: the totals grow once, after the first
        # answer that says "stopped". Counted, not timed (it was a second after the stop,
        # which a finisher polling every 2 s could miss): the finisher sees them grow on
        # its next read, so it reads the report files twice in every run.
        with lock:
            grown = state == "stopped" and stopped_answers > 0
            if state == "stopped" and path == "/stats/requests":
                stopped_answers += 1
        requests = 7_000_000 + (1_000 if grown else 0)
        if path == "/stats/requests":
            mode = scenario.stats
            if mode == "drip":
                sent = drip(sock)
            elif mode == "endless":
                sent = send_chunked(sock, bodies.endless_stats())
            elif mode == "deep":
                sent = send_length(sock, bodies.deep(state, requests))
            else:
                sent = send_length(sock, bodies.stats(state, requests))
        elif scenario.report == "drip":
            sent = drip(sock)
        elif scenario.report == "endless":
            sent = send_chunked(sock, bodies.endless_text())
        else:
            sent = send_length(sock, bodies.report(path), "text/html")
        with lock:
            served[path] = served.get(path, 0) + sent

    serve(LOCUST_PORT, answer)
    time.sleep(max(exits_at - time.monotonic(), 0.0))
    Path(spec["served"]).write_text(json.dumps(served))
    os._exit(0)  # as Locust does at the end of --autoquit, whatever it was answering


# ----------------------------------------------------------------- the pod


@dataclass
class Exporter:
    """locust_exporter's part: /metrics with promhttp's counter, /quitquitquit."""

    scenario: Scenario
    scrapes: int = 0
    quit: bool = False
    server: _Server | None = None

    def metrics(self) -> bytes:
        lines = [
            b"# TYPE promhttp_metric_handler_requests_total counter",
            f'promhttp_metric_handler_requests_total{{code="200"}} {self.scrapes}'.encode(),
            b'locust_requests_num_requests{method="",name="Aggregated"} 7000000',
        ]
        body = b"\n".join(lines) + b"\n"
        line = b'locust_requests_num_requests{method="GET",name="/api/v1/items/0000000"} 7\n'
        padding = max(self.scenario.metrics_bytes - len(body), 0) // len(line)
        return body + line * padding

    def answer(self, sock: socket.socket, method: str, path: str, head: bytes) -> None:
        if path == "/quitquitquit":
            self.quit = True  # it exits inside the handler, without answering
            sock.close()
            assert self.server is not None
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            self.server.server_close()
            return
        if self.scenario.report == "drip":  # slow-drip: the exporter drips too
            drip(sock)
            return
        send_length(sock, iter([self.metrics()]), "text/plain")
        self.scrapes += 1


@dataclass
class Receiver:
    """The controller's report receiver: takes the body, says it kept it."""

    bodies: list[int] = field(default_factory=list)

    def answer(self, sock: socket.socket, method: str, path: str, head: bytes) -> None:
        headers, _, body = head.partition(b"\r\n\r\n")
        length = 0
        for line in headers.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        got = len(body)
        while got < length:
            data = sock.recv(65536)
            if not data:
                return
            got += len(data)
        self.bodies.append(got)
        answer = json.dumps({"message": "kept", "bytes": got, "leftOut": []}).encode()
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(answer)).encode()
            + b"\r\n\r\n"
            + answer
        )


def finisher_environment(image: Path) -> dict[str, str]:
    """The container's env: what the webhook writes for an operator 2.2 master, and PATH."""
    from app.core.classify import Exporter as ExporterSpec
    from app.core.classify import LocustMaster
    from app.core.env_names import ENV_REPORT_URL
    from app.core.finisher_spec import finisher_env
    from app.core.settings import FinishSettings, WaitForScrape

    master = LocustMaster(
        origin="locust-k8s-operator",
        master_container="locust-master",
        exporter=ExporterSpec("locust-metrics-exporter", False, EXPORTER_PORT),
        locust_web_port=LOCUST_PORT,
        reason="bench",
    )
    # No scrape wait and a 1 s TTL: the pod's end comes soon after the master's.
    settings = FinishSettings(ttl_seconds=1.0, wait_for_scrape=WaitForScrape.FALSE)
    return {
        "PATH": f"{image}/opt/locust-finisher/bin:/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        # The image's own libraries (its libc, libssl, ...): charged to the container when read.
        "LD_LIBRARY_PATH": str(image / "lib"),
        **finisher_env(master, settings),
        ENV_REPORT_URL: f"http://127.0.0.1:{RECEIVER_PORT}/v1/reports",
    }


def in_cgroup(procs: str, argv: list[str]) -> list[str]:
    """``argv``, run by a shell that first moves itself into the cgroup, as runc does."""
    return ["/bin/sh", "-c", 'echo 0 > "$1" && shift && exec "$@"', "sh", procs, *argv]


def pod(spec_file: Path) -> None:
    """Inside fresh PID, network and mount namespaces: one master pod, its finisher measured."""
    spec = json.loads(spec_file.read_text())
    scenario = Scenario(**spec["scenario"])
    work, image = Path(spec["work"]), Path(spec["image"])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # The projected token, where the webhook mounts it; a tmpfs of this mount namespace only.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "/run"], check=True)
    Path(TOKEN_DIR).mkdir(parents=True)
    (Path(TOKEN_DIR) / "token").write_text("bench-token")
    exporter = Exporter(scenario)
    exporter.server = serve(EXPORTER_PORT, exporter.answer)
    receiver = Receiver()
    serve(RECEIVER_PORT, receiver.answer)

    env = finisher_environment(image)
    launcher = str(image / "opt/locust-finisher/bin/locust-finisher")
    log = (work / "finisher.log").open("wb")
    finisher = subprocess.Popen(
        in_cgroup(
            spec["procs"], [launcher, "finish", "--termination-log", str(work / "termination")]
        ),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # The postStart hook runs in the container too, beside the finisher's start.
    gate = subprocess.run(
        in_cgroup(spec["procs"], [launcher, "await-ready", "--timeout", "20"]),
        env=env,
        capture_output=True,
        timeout=30,
    )
    master = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.finisher_memory",
            "--fake-locust",
            str(spec_file),
            "--master",
        ],
        cwd=ROOT,
    )
    master.wait(timeout=SCENARIO_SECONDS)
    try:
        finisher.wait(timeout=SCENARIO_SECONDS)
    except subprocess.TimeoutExpired:
        finisher.kill()
        finisher.wait()
    result = {
        "gate": gate.returncode,
        "finisher_exit": finisher.returncode,
        "served": json.loads(Path(spec["served"]).read_text()),
        "exporter_quit": exporter.quit,
        "report_bodies": receiver.bodies,
    }
    Path(spec["result"]).write_text(json.dumps(result))


# ----------------------------------------------------------------- the image's layout


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def _libraries(binaries: list[Path]) -> set[Path]:
    found: set[Path] = set()
    for binary in binaries:
        done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            if "=>" in line and "/" in line.split("=>")[1]:
                found.add(Path(line.split("=>")[1].split("(")[0].strip()))
    return found


def build_image(image: Path, package: Path = ROOT / "app") -> None:
    """The finisher image's files, fresh inodes on disk: Debian's Python, its libraries, us."""
    _copy_file(PYTHON, image / "usr/bin/python3.11")
    shutil.copytree(
        STDLIB, image / "usr/lib/python3.11", ignore=shutil.ignore_patterns(*STDLIB_SKIPPED)
    )
    dynload = sorted((STDLIB / "lib-dynload").glob("*.so"))
    for library in _libraries([PYTHON, *dynload]):
        _copy_file(library, image / "lib" / library.name)
    target = image / "opt/locust-finisher"
    shutil.copytree(package, target / "app", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [str(PYTHON), "-m", "compileall", "-q", str(target)], check=True, capture_output=True
    )
    launcher = target / "bin/locust-finisher"
    launcher.parent.mkdir()
    launcher.write_text(
        f"#!{image}/usr/bin/python3.11 -I\nimport sys\n"
        'sys.path.insert(0, "' + str(target) + '")\n'
        "from app.cli.main import main\nsys.exit(main())\n"
    )
    launcher.chmod(0o755)
    for path in image.rglob("*"):
        if path.is_file():
            with path.open("rb") as file:
                os.fsync(file.fileno())


def drop_page_cache(image: Path) -> None:
    """Forget the image's files, so the next container reads them (and is charged) afresh."""
    for path in image.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# ----------------------------------------------------------------- the cgroup


def _tasks(group: Path) -> list[int]:
    try:
        return [int(line) for line in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def remove_cgroup(group: Path) -> None:
    """End what is left in ``group`` (the bench's own finisher processes) and remove it."""
    for child in [p for p in group.iterdir() if p.is_dir()] if group.is_dir() else []:
        remove_cgroup(child)
    for _ in range(50):
        if not group.exists():
            return
        for pid in _tasks(group):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            group.rmdir()
            return
        time.sleep(0.1)
    print(f"could not remove {group}", file=sys.stderr)


def _alive_bench(pid: int) -> bool:
    try:
        return b"bench.finisher_memory" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def remove_stale_cgroups() -> None:
    """Remove the cgroups of earlier runs that were killed before their own cleanup."""
    for group in CGROUP_MEMORY.glob(CGROUP_PREFIX + "*"):
        owner = group.name.removeprefix(CGROUP_PREFIX)
        if owner.isdigit() and int(owner) != os.getpid() and _alive_bench(int(owner)):
            continue  # another run, still going
        print(f"removing a stale cgroup: {group}")
        remove_cgroup(group)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stat(group: Path) -> dict[str, int]:
    stat: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in (group / "memory.stat").read_text().splitlines():
            key, value = line.split()
            stat[key] = int(value)
    return stat


class CgroupSampler(threading.Thread):
    """What the peak was made of: memory.stat when usage was at its highest."""

    def __init__(self, group: Path) -> None:
        super().__init__(daemon=True)
        self.group = group
        self.highest = 0
        self.highest_at = 0.0  # seconds after the start
        self.at_highest: dict[str, int] = {}
        self.timeline: list[tuple[float, int]] = []  # (seconds, usage) every 0.2 s
        self.stopped = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopped.wait(SAMPLE_SECONDS):
            usage = _read_int(self.group / "memory.usage_in_bytes") or 0
            at = time.monotonic() - started
            if not self.timeline or at - self.timeline[-1][0] >= 0.2:
                self.timeline.append((round(at, 2), usage))
            if usage > self.highest:
                self.highest, self.highest_at = usage, at
                self.at_highest = _stat(self.group)


@dataclass
class Measured:
    """One scenario's figures."""

    scenario: str
    peak: int
    rss: int  # anonymous memory at the sampled peak
    cache: int  # page cache at the sampled peak
    kmem_peak: int | None
    tcp_peak: int | None
    failcnt: int | None
    oom_kills: int | None
    seconds: float
    result: dict[str, Any]
    summary: dict[str, Any] | None
    peak_at: float  # seconds after the container started, as sampled
    timeline: list[tuple[float, int]]


def _oom_kills(group: Path) -> int | None:
    with contextlib.suppress(OSError):
        for line in (group / "memory.oom_control").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return None


def measure(scenario: Scenario, parent: Path, image: Path, work: Path) -> Measured:
    """Run ``scenario`` in a fresh cgroup of ``parent``; its figures."""
    group = parent / scenario.name
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(LIMIT_BYTES))
        with contextlib.suppress(OSError):  # so socket buffers are counted (cgroup v2 does)
            (group / "memory.kmem.tcp.limit_in_bytes").write_text(str(LIMIT_BYTES))
        drop_page_cache(image)
        spec_file = work / "spec.json"
        spec = {
            "scenario": asdict(scenario),
            "work": str(work),
            "image": str(image),
            "procs": str(group / "cgroup.procs"),
            "served": str(work / "served.json"),
            "result": str(work / "result.json"),
        }
        spec_file.write_text(json.dumps(spec))
        sampler = CgroupSampler(group)
        sampler.start()
        started = time.monotonic()
        try:
            subprocess.run(
                [
                    "unshare",
                    "--pid",
                    "--net",
                    "--mount",
                    "--fork",
                    "--kill-child",
                    "--mount-proc",
                    sys.executable,
                    "-m",
                    "bench.finisher_memory",
                    "--pod",
                    str(spec_file),
                ],
                cwd=ROOT,
                check=True,
                timeout=SCENARIO_SECONDS + 60,
            )
        finally:
            sampler.stopped.set()
            sampler.join()
        seconds = time.monotonic() - started
        termination = work / "termination"
        summary = json.loads(termination.read_text()) if termination.exists() else None
        stat = sampler.at_highest
        return Measured(
            scenario=scenario.name,
            peak=_read_int(group / "memory.max_usage_in_bytes") or 0,
            rss=stat.get("rss", 0),
            cache=stat.get("cache", 0),
            kmem_peak=_read_int(group / "memory.kmem.max_usage_in_bytes"),
            tcp_peak=_read_int(group / "memory.kmem.tcp.max_usage_in_bytes"),
            failcnt=_read_int(group / "memory.failcnt"),
            oom_kills=_oom_kills(group),
            seconds=seconds,
            result=json.loads((work / "result.json").read_text()),
            summary=summary,
            peak_at=sampler.highest_at,
            timeline=sampler.timeline,
        )
    finally:
        remove_cgroup(group)


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MiB"


def _outcome(measured: Measured) -> str:
    """What the finisher's summary says it made of Locust's stats."""
    summary = measured.summary or {}
    if "requests" in summary:
        said = f"totals kept ({summary['requests']:,} requests)"
    else:
        said = "no totals"
    given_up = [
        note for note in summary.get("notes", []) if "given up" in note or "not read" in note
    ]
    return said + (f"; {given_up[0][:90]}" if given_up else "")


def report(results: list[Measured]) -> None:
    print()
    print(
        "| scenario | peak (cgroup) | of 64 Mi | anon / page cache at peak | kernel (of peak) "
        "| socket buffers | finisher | what the summary says |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for m in results:
        ok = "exit 0" if m.result["finisher_exit"] == 0 else f"exit {m.result['finisher_exit']}"
        if m.oom_kills:
            ok += f", {m.oom_kills} OOM kill(s)"
        print(
            f"| {m.scenario} | **{_mib(m.peak)}** | {m.peak / LIMIT_BYTES:.0%} "
            f"| {_mib(m.rss)} / {_mib(m.cache)} | {_mib(m.kmem_peak)} | {_mib(m.tcp_peak)} "
            f"| {ok} | {_outcome(m)} |"
        )
    worst = max(results, key=lambda m: m.peak)
    verdict = "within" if worst.peak <= GOAL_BYTES else "OVER"
    print(
        f"\nhighest peak: {_mib(worst.peak)} ({worst.scenario}), {verdict} half the 64 Mi limit "
        f"({worst.peak / LIMIT_BYTES:.0%} of it)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenario", action="append", choices=[s.name for s in SCENARIOS])
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument(
        "--app",
        type=Path,
        default=ROOT / "app",
        help="the package to measure (default: this tree's; an older one's to compare)",
    )
    parser.add_argument("--pod", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--fake-locust", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--master", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_locust:
        fake_locust(json.loads(args.fake_locust.read_text()))
        return 0
    if args.pod:
        pod(args.pod)
        return 0
    if os.geteuid() != 0 or not (CGROUP_MEMORY / "memory.max_usage_in_bytes").exists():
        print("needs root and a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory")
        return 2
    chosen = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    remove_stale_cgroups()
    parent = CGROUP_MEMORY / f"{CGROUP_PREFIX}{os.getpid()}"
    results: list[Measured] = []
    # On disk, not tmpfs: tmpfs pages are charged to whoever wrote them and never dropped.
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="finisher-memory-") as scratch:
        image = Path(scratch) / "image"
        build_image(image, args.app)
        parent.mkdir()
        try:
            for scenario in chosen:
                work = Path(scratch) / scenario.name
                work.mkdir()
                print(f"{scenario.name}: {scenario.what}", flush=True)
                measured = measure(scenario, parent, image, work)
                print(
                    f"  peak {_mib(measured.peak)} ({measured.seconds:.0f} s); "
                    f"{_outcome(measured)}",
                    flush=True,
                )
                results.append(measured)
        finally:
            remove_cgroup(parent)
    report(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
