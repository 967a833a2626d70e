"""A user who may only create pods cannot make the controller act for them (issue 19, A1-A3).

The attacker is a ServiceAccount whose one Role lets it create, get and list pods in an
opted-in namespace; the test impersonates it (``kubectl --as``), so the API server, our
webhook and the controller see that user, as they would see a real one. Each attack was
carried out by the 2026-12 attack campaign against 0.2, and each of these assertions fails on
that code: the controller trusted labels, ownerReferences and a status annotation that anyone
who creates a pod writes.

- A1: a pod that names another test's Job as its owner hands in a forged report with a
  projected token of our audience: 403, and nothing is kept in the Job's name.
- A2: a pod whose labels match a backup Job's selector and that names it as owner, with
  ``keep-passed: 0s``: the backup Job's TTL stays as it is, and so does the Job.
- A3: a pod that brings its own status annotation and a finisher whose image cannot be
  pulled, with the labels another Service selects: that Service is not touched.
"""

import json
import time
from typing import Any

import pytest

from app.core import names
from app.core.artifacts import RECEIVER_PATH, RECEIVER_PORT
from app.core.cluster_config import InjectionConfig
from app.core.inject import mutate_pod
from app.core.names import DOMAIN
from devcluster import operator_shapes as shapes
from devcluster.api import ApiError
from devcluster.cluster import LocalCluster
from devcluster.install import NAMESPACE, opt_in_namespace
from devcluster.processes import wait_until
from testkit.pod_fixtures import apply_patch

pytestmark = pytest.mark.cluster

ATTACKED = "deputy"
ATTACKER = f"system:serviceaccount:{ATTACKED}:attacker"
BACKUP_TTL = 604800
RECEIVER = f"http://locust-finisher-controller.{NAMESPACE}.svc:{RECEIVER_PORT}{RECEIVER_PATH}"

# The forged report, handed in as a finisher would, with a token any pod may mount.
POST_FORGED_REPORT = f"""
import gzip, time, urllib.error, urllib.request
token = open("/var/run/attack/token").read()
part = (b'--b0undary\\r\\nContent-Disposition: form-data; name="report.html"; '
        b'filename="report.html"\\r\\nContent-Type: application/gzip\\r\\n\\r\\n'
        + gzip.compress(b"<html>forged by the attacker</html>") + b"\\r\\n--b0undary--\\r\\n")
request = urllib.request.Request("{RECEIVER}", data=part, method="POST", headers={{
    "Authorization": "Bearer " + token,
    "Content-Type": "multipart/form-data; boundary=b0undary"}})
for attempt in range(20):
    try:
        answer = urllib.request.urlopen(request, timeout=10)
        print("ANSWER", answer.status, answer.read().decode(), flush=True)
        break
    except urllib.error.HTTPError as error:
        print("ANSWER", error.code, error.read().decode(), flush=True)
        break
    except OSError as error:
        print("retrying:", error, flush=True)
        time.sleep(1)
"""


def attacker_rbac() -> list[dict[str, Any]]:
    """The attacker: create, get and list pods in the namespace, and nothing else."""
    meta = {"namespace": ATTACKED}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "attacker", **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pods-only", **meta},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "pods-only", **meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pods-only",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "attacker", **meta}],
        },
    ]


def plain_job(name: str) -> dict[str, Any]:
    """A Job that is not a load test (a nightly backup), done in a second."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ATTACKED},
        "spec": {
            "ttlSecondsAfterFinished": BACKUP_TTL,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "work", "image": shapes.PYTHON_IMAGE, "command": ["true"]}
                    ],
                }
            },
        },
    }


def claiming(pod: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """``pod`` with the Job's selector labels and the Job as its controller, as A1 and A2 do."""
    metadata = pod["metadata"]
    metadata.setdefault("labels", {}).update(job["spec"]["selector"]["matchLabels"])
    metadata["ownerReferences"] = [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": job["metadata"]["name"],
            "uid": job["metadata"]["uid"],
            "controller": True,
        }
    ]
    return pod


def a1_pod(victim: dict[str, Any]) -> dict[str, Any]:
    pod = shapes.quick_master_pod(ATTACKED, "a1-forger", ttl="1s")
    master = pod["spec"]["containers"][0]
    master["command"] = ["python3", "-c", POST_FORGED_REPORT, "--master"]
    master["volumeMounts"] = [{"name": "attack", "mountPath": "/var/run/attack"}]
    pod["spec"]["volumes"] = [
        {
            "name": "attack",
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": names.REPORT_AUDIENCE,
                            "path": "token",
                            "expirationSeconds": 600,
                        }
                    }
                ]
            },
        }
    ]
    return claiming(pod, victim)


def a2_pod(backup: dict[str, Any]) -> dict[str, Any]:
    pod = shapes.quick_master_pod(ATTACKED, "a2-retention", ttl="1s")
    pod["metadata"]["annotations"][names.KEEP_PASSED_ANNOTATION] = "0s"
    # A passing master, so that keep-passed is the setting that applies.
    pod["spec"]["containers"][0]["command"] = ["python3", "-c", "pass", "--master"]
    return claiming(pod, backup)


def a3_pod() -> dict[str, Any]:
    """Mutated by the attacker's own hand, the finisher's image one the kubelet will not pull."""
    pod = shapes.quick_master_pod(ATTACKED, "a3-publisher", ttl="1h")
    pod["metadata"]["annotations"][names.STRATEGY_ANNOTATION] = "finisher"
    pod["spec"]["containers"][0]["command"] = ["python3", "-c", "import time; time.sleep(120)",
                                               "--master"]  # fmt: skip
    mutation = mutate_pod(pod, InjectionConfig())
    assert mutation.decision == "mutate", mutation.reason
    forged = apply_patch(pod, mutation.ops)
    finisher = forged["spec"]["containers"][0]
    assert finisher["name"] == names.FINISHER_CONTAINER
    finisher.update(image="locust-finisher.invalid/none:0", imagePullPolicy="Never")
    forged["metadata"]["labels"]["app"] = "a3-victim"
    return forged


def a3_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "a3-victim", "namespace": ATTACKED},
        "spec": {"selector": {"app": "a3-victim"}, "ports": [{"port": 80}]},
    }


def finished(cluster: LocalCluster, name: str) -> dict[str, Any]:
    path = f"/apis/batch/v1/namespaces/{ATTACKED}/jobs/{name}"
    wait_until(
        lambda: bool(cluster.api().get(path).get("status", {}).get("succeeded")),
        120,
        f"Job {name} to finish",
    )
    return cluster.api().get(path)


def as_attacker(cluster: LocalCluster, pod: dict[str, Any]) -> None:
    result = cluster.run_tool(
        "kubectl", "--as", ATTACKER, "create", "-f", "-", input_text=json.dumps(pod)
    )
    assert result.returncode == 0, result.stderr


def pod_of(cluster: LocalCluster, name: str) -> dict[str, Any]:
    return cluster.api().get(f"/api/v1/namespaces/{ATTACKED}/pods/{name}")


def test_a_user_who_may_only_create_pods_cannot_steer_the_controller(
    cluster: LocalCluster,
) -> None:
    opt_in_namespace(cluster, ATTACKED)
    cluster.apply([*attacker_rbac(), plain_job("victim-master"), plain_job("db-backup"),
                   a3_service()])  # fmt: skip
    victim, backup = finished(cluster, "victim-master"), finished(cluster, "db-backup")
    started = time.monotonic()
    for pod in (a1_pod(victim), a2_pod(backup), a3_pod()):
        as_attacker(cluster, pod)

    # Each pod passed our webhook as the attacker's (A1, A2) or was refused as ours (A3).
    def a2_seen() -> bool:
        return names.RESULT_ANNOTATION in pod_of(cluster, "a2-retention")["metadata"].get(
            "annotations", {}
        )

    wait_until(a2_seen, 120, "the controller to record the A2 pod's own verdict")
    assert pod_of(cluster, "a2-retention")["metadata"]["annotations"][names.RESULT_ANNOTATION] == (
        "passed"
    )

    succeeded: list[str] = []  # every attack that worked, so one run shows them all

    # A1: refused with a 4xx that no finisher retries, and nothing kept for the victim's Job.
    def a1_answer() -> str:
        log = cluster.pod_log(ATTACKED, "a1-forger", "master")
        return next((line for line in log.splitlines() if line.startswith("ANSWER")), "")

    try:
        wait_until(lambda: bool(a1_answer()), 120, "the A1 pod's answer from the receiver")
    except RuntimeError:
        state = pod_of(cluster, "a1-forger")
        raise AssertionError(
            f"{json.dumps(state.get('status'))[:3000]}\n"
            f"{cluster.pod_log(ATTACKED, 'a1-forger', 'master')[-2000:]}"
        ) from None
    if not a1_answer().startswith("ANSWER 403") or "not made by a Job" not in a1_answer():
        succeeded.append(f"A1: the receiver answered {a1_answer()[:300]}")
    configmaps = cluster.api().get(
        f"/api/v1/namespaces/{ATTACKED}/configmaps", labelSelector=names.REPORT_OF_LABEL
    )["items"]
    if configmaps:
        succeeded.append(f"A1: kept {[c['metadata']['name'] for c in configmaps]}")

    # A2: the backup Job is not held, not zeroed, not annotated, and still there.
    time.sleep(5)  # what the controller would do next to the Job, it would do by now
    try:
        job = cluster.api().get(f"/apis/batch/v1/namespaces/{ATTACKED}/jobs/db-backup")
    except ApiError as error:
        succeeded.append(f"A2: the backup Job is gone ({error.status})")
    else:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        ours = [key for key in job["metadata"].get("annotations", {}) if key.startswith(DOMAIN)]
        if ttl != BACKUP_TTL or ours:
            succeeded.append(f"A2: the backup Job's TTL is {ttl}, with {ours}")

    # A3: a status annotation the webhook did not sign makes no pod ours; past the pull
    # grace (20 s from the pod's start), the Service would have been opened by now.
    remaining = 40 - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)
    service = cluster.api().get(f"/api/v1/namespaces/{ATTACKED}/services/a3-victim")
    if service["spec"].get("publishNotReadyAddresses") is True:
        succeeded.append("A3: the victim Service publishes not-ready addresses")
    a3 = pod_of(cluster, "a3-publisher")["metadata"]["annotations"]
    written = [k for k in a3 if k in (names.FALLBACK_ANNOTATION, names.RESULT_ANNOTATION)]
    if written:
        succeeded.append(f"A3: the controller acted on the forged pod: {written}")
    assert not succeeded, "\n".join(succeeded)
