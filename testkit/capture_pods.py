"""Record pods exactly as the API server hands them to a mutating webhook: the golden inputs.

Starts the local cluster, registers a webhook that records every pod CREATE review and
admits it unchanged, then creates each locust-k8s-operator version's Jobs (the Job
controller makes the pods, with its labels, ownerReferences and the service-account token
volume) and the hand-written pods of the test cases. Each recorded ``request.object`` is
written to ``tests/fixtures/pods/<case>.yaml``:

    python -m testkit.capture_pods
"""

import base64
import json
import ssl
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from app.certificates import issue, new_ca, write_pair
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from testkit.pod_fixtures import POD_FIXTURES

FIXTURES = POD_FIXTURES
NAMESPACE = "golden"


def _hand_written_pods() -> dict[str, dict[str, Any]]:
    """Locust pods users write themselves, and pods that must be left alone."""

    def pod(name: str, annotations: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "annotations": annotations},
            "spec": {"restartPolicy": "Never", **spec},
        }

    master = {
        "name": "locust",
        "image": "locustio/locust:2.47.0",
        "command": ["locust"],
        "args": [
            "-f",
            "/mnt/locustfile.py",
            "--master",
            "--autostart",
            "--autoquit",
            "30",
            "--run-time",
            "1m",
            "--web-port",
            "8090",
        ],
    }
    exporter = {
        "name": "metrics",
        "image": "containersol/locust_exporter:v0.5.2",
        "ports": [{"containerPort": 9646}],
        "env": [{"name": "LOCUST_EXPORTER_URI", "value": "http://localhost:8090"}],
    }
    worker = {**master, "name": "worker", "args": ["-f", "/mnt/locustfile.py", "--worker"]}
    # Written by hand as Locust's docs show a distributed run: no web UI, so no numbers.
    headless = {
        **master,
        "args": ["-f", "/mnt/locustfile.py", "--master", "--headless", "-t", "1m"],
    }
    return {
        "annotated-master": pod(
            "annotated-master",
            {"locust-finisher.io/inject": "true", "locust-finisher.io/ttl": "45s"},
            {"containers": [master, exporter]},
        ),
        "annotated-master-bad-values": pod(
            "annotated-master-bad-values",
            {
                "locust-finisher.io/inject": "true",
                "locust-finisher.io/ttl": "soon",
                "locust-finisher.io/max-wait": "-5m",
                "locust-finisher.io/wait-for-scrape": "maybe",
            },
            {"containers": [master, exporter]},
        ),
        "unannotated-master": pod("unannotated-master", {}, {"containers": [master, exporter]}),
        "annotated-worker": pod(
            "annotated-worker", {"locust-finisher.io/inject": "true"}, {"containers": [worker]}
        ),
        "hostpid-master": pod(
            "hostpid-master",
            {"locust-finisher.io/inject": "true"},
            {"hostPID": True, "containers": [master, exporter]},
        ),
        "headless-master": pod(
            "headless-master", {"locust-finisher.io/inject": "true"}, {"containers": [headless]}
        ),
        "controller-strategy-master": pod(
            "controller-strategy-master",
            {"locust-finisher.io/inject": "true", "locust-finisher.io/strategy": "controller"},
            {"containers": [master, exporter]},
        ),
    }


def _operator_tests() -> dict[str, shapes.LoadTest]:
    tests = {}
    for version in shapes.VERSIONS:
        tests[version] = shapes.LoadTest(
            name=f"t-{version.replace('.', '')}",
            namespace=NAMESPACE,
            version=version,
        )
    tests["opt-out"] = shapes.LoadTest(
        name="t-opt-out",
        namespace=NAMESPACE,
        version="go-2.2",
        master_annotations={"locust-finisher.io/inject": "false"},
    )
    return tests


class Recorder:
    """An HTTPS webhook that keeps every pod it is asked about and changes nothing."""

    def __init__(self, directory: Path) -> None:
        ca = new_ca("capture CA")
        self.ca_pem = ca.cert_pem
        cert, key = write_pair(
            directory, "serving", issue(ca, "capture", ["localhost"], ["127.0.0.1"])
        )
        self.pods: dict[str, dict[str, Any]] = {}
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = review["request"]
                pod = request["object"]
                name = pod["metadata"].get("name") or pod["metadata"].get("generateName", "")
                recorder.pods[name] = pod
                body = json.dumps(
                    {
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "response": {"uid": request["uid"], "allowed": True},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Where the API server calls us."""
        return f"https://127.0.0.1:{self.server.server_address[1]}/record"


def capture() -> None:
    """Record every case and write the fixtures."""
    with tempfile.TemporaryDirectory() as scratch, LocalCluster() as cluster:
        recorder = Recorder(Path(scratch))
        cluster.kubectl("create", "namespace", NAMESPACE)
        cluster.apply(
            [
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "MutatingWebhookConfiguration",
                    "metadata": {"name": "capture"},
                    "webhooks": [
                        {
                            "name": "capture.locust-finisher.io",
                            "clientConfig": {
                                "url": recorder.url,
                                "caBundle": base64.b64encode(recorder.ca_pem).decode(),
                            },
                            "rules": [
                                {
                                    "operations": ["CREATE"],
                                    "apiGroups": [""],
                                    "apiVersions": ["v1"],
                                    "resources": ["pods"],
                                }
                            ],
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}
                            },
                            "sideEffects": "None",
                            "admissionReviewVersions": ["v1"],
                            "failurePolicy": "Fail",
                        }
                    ],
                }
            ]
        )
        time.sleep(2)  # the admission plugin picks the configuration up asynchronously
        wanted: dict[str, str] = {}
        for case, test in _operator_tests().items():
            cluster.apply([shapes.master_job(test), shapes.worker_job(test)])
            wanted[f"operator-{case}-master"] = f"{test.node_name}-master-"
            wanted[f"operator-{case}-worker"] = f"{test.node_name}-worker-"
        for case, pod in _hand_written_pods().items():
            cluster.apply([pod])
            wanted[case] = pod["metadata"]["name"]
        deadline = time.monotonic() + 60
        while set(wanted.values()) - set(recorder.pods) and time.monotonic() < deadline:
            time.sleep(0.5)
        missing = set(wanted.values()) - set(recorder.pods)
        if missing:
            sys.exit(f"not captured: {sorted(missing)}")
        FIXTURES.mkdir(parents=True, exist_ok=True)
        for case, key in sorted(wanted.items()):
            path = FIXTURES / f"{case}.yaml"
            header = "# Captured from kube-apiserver by testkit/capture_pods.py; do not edit.\n"
            path.write_text(header + yaml.safe_dump(recorder.pods[key], sort_keys=False))
            print(f"wrote {path}")


if __name__ == "__main__":
    capture()
