"""Benchmark the webhook: handler time per review, throughput/latency over TLS, pod creation.

    uv run python -m bench.webhook_bench [--skip-pod-creation]     (or: make bench)

1. Handler time: the /mutate hot path in-process (parse, decide, patch, sign, encode, log
   line) for a 12 KB review (a locust-k8s-operator master pod as the API server sends it)
   and a 50 KB one.
2. Over TLS on loopback, our webhook process, run as the manifests deploy it (JSON log line
   at info, admission records signed; LimitRanges are not read, there is no API server), and
   a floor server (bench/floor_server.py: the same stack, answering "allowed" with the uid) side by
   side: wrk at 16 connections for throughput and latency, the server's CPU time per
   request, then a fixed-rate open-loop client (latency measured from the scheduled send).
3. Pod creation p50/p99 through a real kube-apiserver, with and without the webhook
   (bench/pod_creation.py; needs the local cluster's binaries, ``--skip-pod-creation``
   leaves it out).
Load generator and servers share this machine's CPUs; numbers are for comparison.
"""

import argparse
import asyncio
import functools
import gc
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.certificates import issue, new_ca, write_pair
from app.core.cluster_config import InjectionConfig
from app.logs import setup_logging
from app.webhook.handler import handle_review
from bench import pod_creation
from bench.pod_creation import webhook_command
from devcluster.host_tools import require
from devcluster.processes import free_port
from devcluster.processes import wait_until as wait_for
from testkit.pod_fixtures import load_pod, pod_review

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "floor (parse + answer with the uid)"
ROUNDS = 3


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median throughput (its latencies belong with it)."""
    return sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]


def review_body(target_bytes: int | None = None) -> bytes:
    pod = load_pod("operator-go-2.2-master")
    review = pod_review(pod, namespace="bench", uid="bench")
    if target_bytes:
        env = pod["spec"]["containers"][0].setdefault("env", [])
        while len(json.dumps(review)) < target_bytes:
            env.append({"name": f"SETTING_{len(env)}", "value": "x" * 40})
    return json.dumps(review).encode()


ADMISSION_KEY = b"k" * 32


def handler_times(body: bytes, runs: int = 5000) -> tuple[float, float, float]:
    """In-process, as deployed: records signed, the JSON line at info (here to /dev/null)."""
    config = InjectionConfig()
    stderr = sys.stderr
    with open(os.devnull, "w") as sink:
        sys.stderr = sink
        try:
            setup_logging("info", "json")
            for _ in range(500):
                handle_review(body, config, ADMISSION_KEY)
            gc.collect()
            gc.freeze()  # as the server does before it serves (app/webhook/server.py)
            samples = []
            for _ in range(runs):
                started = time.perf_counter_ns()
                handle_review(body, config, ADMISSION_KEY)
                samples.append((time.perf_counter_ns() - started) / 1000)
        finally:
            sys.stderr = stderr
            setup_logging("warning")
    samples.sort()
    return statistics.mean(samples), samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, body_file: Path, seconds: int = 15, connections: int = 16) -> dict[str, float]:
    script = body_file.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"https://127.0.0.1:{port}/mutate",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if line.strip().startswith("Requests/sec:"):
            result["rps"] = float(parts[1])
        elif parts and parts[0] in ("50%", "99%"):
            result[parts[0]] = _millis(parts[1])
        elif "Non-2xx" in line:
            result["errors"] = float(parts[-1])
    return result


def _millis(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


async def fixed_rate(
    port: int, body: bytes, rate: float, seconds: float, connections: int = 4
) -> dict[str, float]:
    """Open-loop: requests are scheduled at ``rate``; latency counts from the scheduled time."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = (
        f"POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    start = time.perf_counter() + 0.2
    per_connection = rate / connections

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        n = 0
        while True:
            scheduled = start + (n + index / connections) / per_connection
            if scheduled - start > seconds:
                break
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(request)
            await writer.drain()
            headers = await reader.readuntil(b"\r\n\r\n")
            length = int(headers.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - scheduled) * 1000)
            n += 1
        writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    latencies.sort()
    return {
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
        "n": float(len(latencies)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--skip-pod-creation",
        action="store_true",
        help="leave out pod creation through a real kube-apiserver (needs the cluster's build)",
    )
    args = parser.parse_args()
    require("wrk")  # devcluster/host-packages.mk: `make setup` installs it
    # The captured operator pod is 7 KB as JSON; padded with env entries to the sizes asked.
    small, large = review_body(12_000), review_body(50_000)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print("\n| review | size | handler mean | p50 | p99 |\n|---|---|---|---|---|")
    for label, body in (("operator 2.2 master, padded", small), ("same, padded more", large)):
        mean, p50, p99 = handler_times(body)
        size = f"{len(body) / 1024:.1f} KiB"
        print(f"| {label} | {size} | {mean:.0f} µs | {p50:.0f} µs | {p99:.0f} µs |")
    print(serving_table(small, large))
    if not args.skip_pod_creation:
        print()
        print(pod_creation.table(pod_creation.measure(), pod_creation.PODS, pod_creation.ROUNDS))


def serving_table(small: bytes, large: bytes) -> str:
    """Our webhook and the floor side by side over TLS: wrk, CPU per request, fixed rate."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        ca = new_ca()
        cert, key = write_pair(directory, "tls", issue(ca, "bench", ["localhost"], ["127.0.0.1"]))
        admission_key = directory / "admission-key"
        admission_key.write_bytes(ADMISSION_KEY)
        log_file = directory / "webhook.log"
        ours, floor = free_port(), free_port()
        with log_file.open("wb") as log:
            processes = {
                "locust-finisher webhook": subprocess.Popen(
                    # Namespace limits are read in the pod creation part, with an API server.
                    [*webhook_command(ours, cert, key, admission_key), "--no-namespace-limits"],
                    cwd=ROOT,
                    stderr=log,
                ),
                FLOOR: subprocess.Popen(
                    [sys.executable, "-m", "bench.floor_server", str(floor), str(cert), str(key)],
                    cwd=ROOT,
                ),
            }
        servers = {"locust-finisher webhook": ours, FLOOR: floor}
        try:
            for port in servers.values():
                wait_for(functools.partial(_serves, port), 30, "server")
            rows = []
            for body, size in ((small, "12 KB"), (large, "50 KB")):
                body_file = directory / f"body-{size.split()[0]}.json"
                body_file.write_bytes(body)
                # Alternate the servers over several rounds: this machine's speed drifts.
                rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
                for _ in range(ROUNDS):
                    for name, port in servers.items():
                        pid = processes[name].pid
                        before = cpu_seconds(pid)
                        run = wrk(port, body_file, seconds=8)
                        run["cpu"] = (cpu_seconds(pid) - before) / (run["rps"] * 8) * 1e6
                        rounds[name].append(run)
                fixed = {n: asyncio.run(fixed_rate(p, body, 200, 15)) for n, p in servers.items()}
                median = {n: _median_run(r) for n, r in rounds.items()}
                floor_rps = median[FLOOR]["rps"]
                for name in servers:
                    r, f = median[name], fixed[name]
                    cpu = statistics.median(run["cpu"] for run in rounds[name])
                    rows.append(
                        f"| {name} | {size} | {r['rps']:.0f} | {r['rps'] / floor_rps:.0%} | "
                        f"{cpu:.0f} | {r['50%']:.2f} | {r['99%']:.2f} | {f['p50']:.2f} | "
                        f"{f['p99']:.2f} |"
                    )
        finally:
            for process in processes.values():
                process.terminate()
                process.wait(10)
        lines = log_file.read_bytes().count(b'"logger": "app.webhook.handler"')
    return "\n".join(
        [
            f"\n| server | review | req/s (wrk, 16 conns, median of {ROUNDS}) | of floor "
            "| CPU µs/req | p50 ms | p99 ms | p50 ms @200 req/s | p99 ms @200 req/s |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            f"\n(the webhook wrote {lines} decision lines: one per review)",
        ]
    )


def _serves(port: int) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        import http.client

        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=2)
        connection.request(
            "POST", "/mutate", body=b"{}", headers={"Content-Type": "application/json"}
        )
        connection.getresponse().read()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
