"""The fault campaign: hurt the finisher at every phase of a real test; the verdict stays Locust's.

For a passing and a failing Locust test, the finisher's worker is SIGKILLed, or driven into
the kernel's OOM killer under its real 64Mi cgroup limit, or the whole container is killed
at once (every process SIGKILLed: what cgroup v2's group OOM kill does, which this cgroup v1
node cannot do itself, so this is its stand-in), before the master starts, during the
test, in the TTL and while waiting for the final scrape; or the finisher is given nonsense
settings. Each time the Job's condition and our ``locust-finisher.io/result`` must
be what Locust's exit code says, and the finisher must exit 0 (a container killed as a whole
after the kubelet restarted it once, by the restart rules the webhook adds on 1.35+). One row
measures the shape without restart rules (an API server before 1.35): there the Job fails
with the finisher's 137 whatever Locust said, while our result stays Locust's.

The faults are asked for with ``LOCUST_FINISHER_FAULT`` (app/finisher/faults.py): the master
Job is created with the pod template the webhook would make (``mutate_pod``, the webhook's
own function) plus that variable, and the admission record of that earlier pass, signed with
the installation's key (read from its Secret, as only an administrator may). The webhook
leaves an already-mutated pod as it is and signs its record again for the Job controller, as
it does when it is invoked a second time for one pod. The
tests of both verdicts start together when the module starts (each test then checks one
verdict's), their Locust containers requesting little CPU so that the node runs all 32 at
once: the campaign takes about as long as one test.
"""

import base64
import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.controller.admission_key import SECRET_KEY, SECRET_NAME
from app.core import names
from app.core.admission_record import RECORD_ANNOTATION, Admission, check_key, digest, sign
from app.core.cluster_config import InjectionConfig
from app.core.env_names import ENV_FAULT
from app.core.finisher_spec import KILLED_EXIT_CODE
from app.core.inject import mutate_pod
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.install import NAMESPACE
from devcluster.loadtest import Outcome, job_finished, master_pod, prepare_namespace, start_wait
from testkit.pod_fixtures import apply_patch
from tests.cluster.conftest import SharedCluster

pytestmark = pytest.mark.cluster


@dataclass(frozen=True)
class Case:
    """One fault: where and what, or a misconfiguration."""

    name: str
    env: dict[str, str]
    annotations: dict[str, str]
    # What the finisher's summary must say happened, so a fault that never fired cannot pass.
    evidence: str
    # The webhook adds container restart rules (API server 1.35+). Without them (1.28 to 1.34)
    # a container killed as a whole ends the pod Failed: the one shape docs/design.md lists
    # where the Job's condition is ours, not the test's (our result stays the test's).
    restart_rules: bool = True
    # The operator's pod shape (operator_shapes.LoadTest.version): the exporter a container,
    # a native sidecar (go-2.3), or none (OpenTelemetry mode).
    version: str = "go-2.2"

    @property
    def finisher_exit(self) -> int:
        return 0 if self.restart_rules else KILLED_EXIT_CODE


QUICK = {names.TTL_ANNOTATION: "3s", names.WAIT_FOR_SCRAPE_ANNOTATION: "false"}
# Waits for Prometheus's scrape after the test (the devcluster's Prometheus scrapes pods).
SCRAPE = {
    names.TTL_ANNOTATION: "1s",
    names.WAIT_FOR_SCRAPE_ANNOTATION: "true",
    names.MAX_WAIT_ANNOTATION: "30s",
}
# What the finisher's summary says after each kind of fault.
EVIDENCE = {"kill": "worker was killed by SIGKILL", "oom": "worker was killed by SIGKILL"}
EVIDENCE["group"] = "container was killed as a whole"
CASES = [
    *(
        Case(
            f"{phase}-{kind}",
            {ENV_FAULT: f"{phase}:{kind}"},
            SCRAPE if phase == "scrape" else QUICK,
            EVIDENCE[kind],
        )
        for phase in ("start", "test", "ttl", "scrape")
        for kind in ("kill", "oom", "group")
    ),
    *(
        Case(f"test-group-{shape}", {ENV_FAULT: "test:group"}, QUICK, EVIDENCE["group"], version=v)
        for shape, v in (("sidecar", "go-2.3"), ("otel", "go-2.2-otel"))
    ),
    Case("test-group-before-1.35", {ENV_FAULT: "test:group"}, QUICK, "", restart_rules=False),
    Case(
        "misconfigured",
        {
            "LOCUST_FINISHER_MAX_WAIT": "soon",
            "LOCUST_FINISHER_EXPORTER_SIDECAR": "maybe",
            "LOCUST_FINISHER_MASTER_START_TIMEOUT": "-5s",
        },
        QUICK,
        "configuration:",
    ),
]


def installation_key(cluster: LocalCluster) -> bytes:
    """The key the webhook signs admission records with."""
    secret = cluster.api().get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET_NAME}")
    return check_key(base64.b64decode(secret["data"][SECRET_KEY]))


def earlier_pass(template: dict[str, Any], key: bytes) -> None:
    """Add the record our webhook's first pass would have left (what it vouches for: the status)."""
    annotations = template["metadata"]["annotations"]
    status = annotations[names.STATUS_ANNOTATION]
    record = Admission("", "an earlier pass", "", "", digest(status), 0)
    annotations[RECORD_ANNOTATION] = sign(record, key)


def faulty_objects(
    test: shapes.LoadTest, case: Case, failing: bool, key: bytes
) -> list[dict[str, Any]]:
    """The operator's objects for ``test``, its master pod template mutated and faulted."""
    objects = shapes.load_test_objects(test, failing)
    for item in objects:
        if item["kind"] == "Job" and item["metadata"]["name"] == f"{test.node_name}-master":
            template = item["spec"]["template"]
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {**copy.deepcopy(template["metadata"]), "namespace": test.namespace},
                "spec": copy.deepcopy(template["spec"]),
            }
            # As the webhook serving this 1.36 API server does: restart rules, kept state.
            mutation = mutate_pod(pod, InjectionConfig(restart_rules=case.restart_rules))
            assert mutation.decision == "mutate", mutation.reason
            mutated = apply_patch(pod, mutation.ops)
            finisher = mutated["spec"]["containers"][0]
            assert finisher["name"] == names.FINISHER_CONTAINER
            overrides = set(case.env)
            finisher["env"] = [e for e in finisher["env"] if e["name"] not in overrides]
            finisher["env"] += [{"name": k, "value": v} for k, v in case.env.items()]
            del mutated["metadata"]["namespace"]
            earlier_pass(mutated, key)
            template["metadata"], template["spec"] = mutated["metadata"], mutated["spec"]
    return objects


def launch(cluster: LocalCluster, failing: bool, key: bytes) -> dict[str, shapes.LoadTest]:
    """Every case's load test, for a passing or a failing Locust test, started at once."""
    namespace = namespace_of(failing)
    prepare_namespace(cluster, namespace)
    tests = {
        case.name: shapes.LoadTest(
            name=case.name,
            namespace=namespace,
            run_time="6s",
            autoquit=10,
            version=case.version,
            master_annotations=case.annotations,
            # The operator's 250m each would let the node run only a few of the 32 at once;
            # the faults are the finisher's, whose requests and 64Mi limit stay the webhook's.
            cpu_request="10m",
        )
        for case in CASES
    }
    for case in CASES:
        cluster.apply(faulty_objects(tests[case.name], case, failing, key))
    return tests


def namespace_of(failing: bool) -> str:
    return f"faults-{'fail' if failing else 'pass'}"


@pytest.fixture(scope="module")
def campaign(shared_cluster: SharedCluster) -> Iterator[dict[bool, dict[str, shapes.LoadTest]]]:
    """Both verdicts' tests, started together: each test below checks one verdict's."""
    cluster = shared_cluster.get()
    key = installation_key(cluster)
    yield {failing: launch(cluster, failing, key) for failing in (False, True)}
    for failing in (False, True):
        cluster.kubectl("delete", "namespace", namespace_of(failing), "--wait=false", check=False)


@pytest.mark.parametrize("failing", [False, True], ids=["passing", "failing"])
def test_no_fault_of_the_finisher_changes_the_verdict(
    cluster: LocalCluster, campaign: dict[bool, dict[str, shapes.LoadTest]], failing: bool
) -> None:
    tests = campaign[failing]
    namespace = namespace_of(failing)
    jobs = {
        name: f"/apis/batch/v1/namespaces/{namespace}/jobs/{test.node_name}-master"
        for name, test in tests.items()
    }
    deadline = time.monotonic() + 420
    pending = set(jobs)
    while pending:
        assert time.monotonic() < deadline, f"not finished after 7 minutes: {sorted(pending)}"
        pending = {name for name in pending if not job_finished(cluster.api().get(jobs[name]))}
        time.sleep(2)

    expected_exit = 1 if failing else 0
    verdict = "failed" if failing else "passed"
    table: list[str] = []
    wrong: list[str] = []
    for case in CASES:
        test = tests[case.name]
        pod = master_pod(cluster, test)
        assert pod is not None
        outcome = Outcome(cluster.api().get(jobs[case.name]), pod, "", None)
        master = outcome.terminated(f"{test.node_name}-master")["exitCode"]
        finisher = outcome.terminated(names.FINISHER_CONTAINER)
        restarts = outcome.container(names.FINISHER_CONTAINER).get("restartCount", 0)
        recorded = wait_for_verdict(cluster, jobs[case.name])
        # What CI sees, for the whole-container kills: `wait` on the finished test.
        waited = waited_exit(cluster, namespace, test.name) if "-group" in case.name else None
        row = (
            f"{case.name}: Locust {master}, Job {outcome.job_condition}, result {recorded}, "
            f"finisher exit {finisher['exitCode']} after {restarts} restart(s)"
            + (f", wait exit {waited}" if waited is not None else "")
        )
        table.append(row)
        # Without restart rules the master's Service loses its endpoint for the controller's
        # grace (20 s) while Locust's worker connects: how Locust then ends is its own, and
        # only our result is held to it.
        locust_said = "passed" if master == 0 else "failed"
        if (
            waited not in (None, 0 if locust_said == "passed" else 1)
            or (master != expected_exit and case.restart_rules)
            or outcome.job_condition
            != ("Complete" if case.finisher_exit == 0 == master else "Failed")
            or recorded != (verdict if case.restart_rules else locust_said)
            or finisher["exitCode"] != case.finisher_exit
            or case.evidence not in finisher.get("message", "")
            or restarts != (1 if "-group" in case.name and case.restart_rules else 0)
        ):
            name = pod["metadata"]["name"]
            log = cluster.pod_log(namespace, name, f"{test.node_name}-master")
            tail = "\n  ".join(log.splitlines()[-12:])
            wrong.append(f"{row}; finisher said: {finisher.get('message', '')[:300]}\n  {tail}")
    print("\n[fault campaign] " + "\n[fault campaign] ".join(table), flush=True)
    assert not wrong, "\n".join(wrong)


def waited_exit(cluster: LocalCluster, namespace: str, test: str) -> int:
    """``locust-finisher wait``'s exit code for a test that has ended."""
    waiting = start_wait(cluster, namespace, test, "--timeout", "60s")
    waiting.communicate(timeout=120)
    return waiting.returncode


def wait_for_verdict(cluster: LocalCluster, job_path: str, timeout: float = 60) -> str:
    """The Job's ``locust-finisher.io/result`` once the controller wrote it ("" if never)."""
    deadline = time.monotonic() + timeout
    while True:
        annotations = cluster.api().get(job_path)["metadata"].get("annotations", {})
        recorded = str(annotations.get(names.RESULT_ANNOTATION, ""))
        if recorded or time.monotonic() > deadline:
            return recorded
        time.sleep(1)
