"""Benchmark the trend metrics at many tests: a scrape's cost and the view's memory.

    uv run python -m bench.trends_bench

For 100, 1,000 and 10,000 tests (the cap), each with a full history ConfigMap (20 runs), in
process and without a cluster: the memory the view keeps (tracemalloc, after the ConfigMaps
themselves are dropped, as the watch drops each event), the time to read one ConfigMap into
the view, and the time and size of one /metrics page (generate_latest, the median of 5).
"""

import statistics
import time
import tracemalloc

from prometheus_client import generate_latest

from app.controller.metrics import ControllerMetrics
from app.controller.trends import TrendCollector, TrendView
from testkit.history import a_run, history_configmap

RUNS = 20
SCRAPES = 5


def fill(view: TrendView, tests: int) -> float:
    """Read ``tests`` full histories into ``view``; the seconds spent reading."""
    runs = [a_run(f"run-{at}", p95_ms=100 + at) for at in range(RUNS)]
    reading = 0.0
    for at in range(tests):
        configmap = history_configmap(
            f"ns-{at % 50}", f"test-{at}", runs, {"passed": 40, "failed": 3}, uid=f"u{at}"
        )
        started = time.perf_counter()
        view.observe(configmap)
        reading += time.perf_counter() - started
        del configmap
    return reading


def measure(tests: int) -> str:
    """One line of results for ``tests`` tests."""
    tracemalloc.start()
    fill(TrendView(), 0)  # the runs' template, before counting
    counted = TrendView()
    before, _ = tracemalloc.get_traced_memory()
    fill(counted, tests)
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    view = TrendView()
    reading = fill(view, tests)  # timed without tracemalloc's own cost
    metrics = ControllerMetrics()
    metrics.registry.register(TrendCollector(view))
    seconds = []
    for _ in range(SCRAPES):
        started = time.perf_counter()
        page = generate_latest(metrics.registry)
        seconds.append(time.perf_counter() - started)
    return (
        f"| {tests:,} | {kept / tests / 1024:.2f} KiB | {reading / tests * 1e6:.0f} us | "
        f"{statistics.median(seconds) * 1000:.0f} ms | {len(page) / 1024 / 1024:.2f} MiB |"
    )


def main() -> None:
    """Print the results as docs/benchmarks.md's table."""
    print("| tests | memory per test | read a ConfigMap | one /metrics page | its size |")
    print("|---|---|---|---|---|")
    for tests in (100, 1_000, 10_000):
        print(measure(tests), flush=True)


if __name__ == "__main__":
    main()
