"""Benchmark the finisher: what it costs while it waits, and how fast it ends the exporter.

    uv run python -m bench.finisher_bench          (or: make bench; needs root, ~6 minutes)

1. A 5-minute wait: wait-for-scrape "true", max-wait 5m, nobody scraping; the finisher's peak
   resident memory and the CPU seconds it spends from the master's exit to its own.
2. TTL 0 and no scrape wait: the delay from the master's exit to the exporter's, five runs.
Real Locust (master and worker) and the exporter (``$LOCUST_EXPORTER_BIN`` or the stand-in)
run in fresh PID and network namespaces, as in tests/processes.
"""

import statistics
import tempfile
from pathlib import Path

from testkit.finisher_pod import PodRun, finisher_env, run_pod


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "wait"
        work.mkdir()
        run: PodRun = run_pod(
            work,
            scrape_interval=0,
            finisher_timeout=400,
            harness_timeout=600,
            finisher_env=finisher_env(ttl="0s", wait="true", max_wait="5m"),
        )
        waited = run.events["finisher_exited"] - run.events["master_exited"]
        cpu = run.result["finisher_cpu_seconds"] - run.result["finisher_cpu_at_master_exit"]
        rss_mib = run.result["finisher_max_rss_kib"] / 1024
        worker_mib = run.result["worker_max_rss_kib"] / 1024
        total_cpu = run.result["finisher_cpu_seconds"]
        print("| measurement | value | goal |\n|---|---|---|")
        print(f"| supervisor peak resident memory (whole run) | {rss_mib:.1f} MiB | < 40 MiB |")
        print(f"| worker peak resident memory (whole run) | {worker_mib:.1f} MiB | < 40 MiB |")
        label = f"finisher CPU during a {waited:.0f} s wait for a final scrape"
        print(f"| {label} | {cpu:.2f} s | < 1 s |")
        print(f"| finisher CPU, whole run (start to exit) | {total_cpu:.2f} s | |")

        delays = []
        for attempt in range(5):
            work = Path(scratch) / f"ttl0-{attempt}"
            work.mkdir()
            fast = run_pod(
                work, scrape_interval=0, finisher_env=finisher_env(ttl="0s", wait="false")
            )
            delays.append(fast.events["exporter_exited"] - fast.events["master_exited"])
        print(
            f"| master exit to exporter exit, TTL 0, no scrape wait (5 runs) | median "
            f"{statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms | < 1 s |"
        )


if __name__ == "__main__":
    main()
