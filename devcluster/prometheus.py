"""Debian's Prometheus, discovering and scraping pods of the local cluster like in production.

It runs on the host (the node), finds pods through ``kubernetes_sd_configs`` against the
local API server and keeps the usual ``prometheus.io/scrape|port|path`` annotation
convention (and ``honor_labels``, as the prometheus-community chart does); it reaches pods at
their IPs over the cluster's bridge. The interval is short (5 s) so tests see the final
scrape quickly; benchmarks change it on the fly (:meth:`Prometheus.set_scrape_interval`).
"""

import contextlib
import json
import signal
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster.processes import Managed, ProcessGroup, free_port, wait_until

SCRAPE_INTERVAL = "5s"


def _config(kubeconfig: Path, interval: str = SCRAPE_INTERVAL) -> str:
    return f"""global:
  scrape_interval: {interval}
  scrape_timeout: 4s
scrape_configs:
  - job_name: kubernetes-pods
    # As the prometheus-community chart's job of this name: a series' own labels win, so the
    # controller's trend series keep the namespace of their test, not the controller's.
    honor_labels: true
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: {kubeconfig}
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - source_labels: [__meta_kubernetes_pod_phase]
        action: drop
        regex: Succeeded|Failed
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        action: replace
        target_label: __metrics_path__
        regex: (.+)
      - source_labels:
          [__meta_kubernetes_pod_ip, __meta_kubernetes_pod_annotation_prometheus_io_port]
        action: replace
        regex: (.+);(\\d+)
        replacement: $1:$2
        target_label: __address__
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
"""


@dataclass
class Prometheus:
    """A running Prometheus and its query API."""

    url: str
    process: Managed
    config: Path
    kubeconfig: Path

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant query; the result vector."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(address, timeout=10) as answer:
            document = json.load(answer)
        result: list[dict[str, Any]] = document["data"]["result"]
        return result

    def label_values(self, selector: str, label: str) -> list[str]:
        """``label``'s values among the series ``selector`` matches (Grafana's label_values)."""
        query = urllib.parse.urlencode({"match[]": selector})
        address = f"{self.url}/api/v1/label/{urllib.parse.quote(label)}/values?{query}"
        with urllib.request.urlopen(address, timeout=10) as answer:
            document = json.load(answer)
        values: list[str] = document["data"]
        return values

    def value(self, promql: str) -> float | None:
        """The single value of an instant query, if it has one."""
        with contextlib.suppress(OSError, KeyError, ValueError):
            result = self.query(promql)
            if result:
                return float(result[0]["value"][1])
        return None

    def set_scrape_interval(self, interval: str) -> None:
        """Rewrite the configuration with ``interval`` (e.g. ``30s``) and reload it."""
        self.config.write_text(_config(self.kubeconfig, interval))
        self.process.process.send_signal(signal.SIGHUP)

        def reloaded() -> bool:
            with contextlib.suppress(OSError, KeyError, ValueError):
                with urllib.request.urlopen(
                    f"{self.url}/api/v1/status/config", timeout=5
                ) as answer:
                    shown = json.load(answer)["data"]["yaml"]
                return f"scrape_interval: {interval}" in shown
            return False

        wait_until(reloaded, 30, "Prometheus's reload", self.process)


def start_prometheus(
    binary: Path, kubeconfig: Path, directory: Path, processes: ProcessGroup
) -> Prometheus:
    """Start Prometheus on a free loopback port; return once it is ready."""
    config = directory / "prometheus.yml"
    config.write_text(_config(kubeconfig))
    port = free_port()
    process = processes.start(
        "prometheus",
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
    )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, config, kubeconfig)

    def ready() -> bool:
        url = f"{prometheus.url}/-/ready"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
        return False

    wait_until(ready, 60, "Prometheus", process)
    return prometheus
