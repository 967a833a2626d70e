"""The controller keeps each test's runs in one ConfigMap, once each, and expires old tests.

Against the fake API (tests/cluster/test_history.py runs the same on a real node).
"""

import copy
from typing import Any, cast

import pytest

from app.controller.actions import Actor
from app.controller.controller import Controller
from app.controller.history import HistoryStore
from app.controller.metrics import ControllerMetrics
from app.core import history, names
from app.core.admission_record import RECORD_ANNOTATION
from app.core.cluster_config import HistoryConfig
from app.core.pod_facts import facts_from_pod
from app.core.summary import encode_summary
from app.kube.client import KubeClient, KubeError
from testkit.admission import TEST_KEY, admit
from testkit.fake_kube import FakeKube
from tests.controller.test_controller_loop import JOB, finished_pod

NOW = 2e9  # 2033: long after the pods' runs (2026)
CHECKOUT = history.configmap_name("checkout")


def owned_job(name: str = "job-1", test: str = "checkout", uid: str = "job-uid") -> dict[str, Any]:
    job = copy.deepcopy(JOB)
    job["metadata"].update(name=name, uid=uid, ownerReferences=[
        {"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": test, "uid": f"lt-{test}",
         "controller": True}
    ])  # fmt: skip
    job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] = uid
    return job


def run_pod(uid: str, job: str = "job-1", job_uid: str = "job-uid") -> dict[str, Any]:
    pod = finished_pod(uid)
    pod["metadata"]["ownerReferences"][0].update(name=job, uid=job_uid)
    pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] = job_uid
    # The admission record signs the owner: sign it again.
    pod["metadata"]["annotations"].pop(RECORD_ANNOTATION)
    return admit(pod)


def controller_on(fake: FakeKube, keep: int = 20) -> Controller:
    client = cast(KubeClient, fake)
    store = HistoryStore(client, clock=lambda: NOW)
    store.config = HistoryConfig(keep=keep)
    return Controller(
        client,
        Actor(client, "test"),
        ControllerMetrics(),
        clock=lambda: NOW,
        key=TEST_KEY,
        history=store,
    )


async def run(controller: Controller, pod: dict[str, Any], deleted: bool = False) -> None:
    uid = pod["metadata"]["uid"]
    if deleted:
        controller.observe_deleted(pod)
    else:
        controller.observe(pod)
    await controller.reconcile(uid)


def kept_runs(fake: FakeKube, name: str = CHECKOUT) -> tuple[list[str], dict[str, int]]:
    entries, counted = history.read_history(fake.configmaps[("ns", name)])
    return [entry["uid"] for entry in entries], counted


async def test_each_run_is_kept_once_in_its_tests_history_which_no_job_owns() -> None:
    fake = FakeKube(jobs=[owned_job()])
    await run(controller_on(fake), run_pod("u1"))
    configmap = fake.configmaps[("ns", CHECKOUT)]
    assert history.is_history(configmap)
    assert configmap["metadata"]["annotations"] == {names.TEST_ANNOTATION: "checkout"}
    assert "ownerReferences" not in configmap["metadata"], "it outlives the test's Jobs"
    assert kept_runs(fake) == (["u1"], {"passed": 1, "failed": 0})
    assert fake.written("pods")[names.HISTORY_RECORDED_ANNOTATION] == "u1"
    # A new leader, whose view of the pod predates the mark: the run is not kept twice.
    await run(controller_on(fake), run_pod("u1"))
    assert kept_runs(fake) == (["u1"], {"passed": 1, "failed": 0})


async def test_runs_of_one_test_go_in_one_history_and_another_tests_in_its_own() -> None:
    fake = FakeKube(jobs=[owned_job(), owned_job("job-2", "search", "job-uid-2")])
    controller = controller_on(fake, keep=2)
    for uid in ("u1", "u2", "u3"):
        await run(controller, run_pod(uid))
    before = copy.deepcopy(fake.configmaps[("ns", CHECKOUT)])
    await run(controller, run_pod("s1", "job-2", "job-uid-2"))
    assert kept_runs(fake) == (["u2", "u3"], {"passed": 3, "failed": 0}), "the last 2, every count"
    assert kept_runs(fake, history.configmap_name("search"))[0] == ["s1"]
    assert fake.configmaps[("ns", CHECKOUT)] == before


async def test_a_pod_seen_only_as_deleted_is_kept_too() -> None:
    fake = FakeKube(jobs=[owned_job()])
    await run(controller_on(fake), run_pod("u1"), deleted=True)
    assert kept_runs(fake)[0] == ["u1"]


async def test_a_reported_pod_deleted_before_its_record_is_recorded() -> None:
    fake = FakeKube(jobs=[owned_job()])
    pod = run_pod("u1")
    reported = {names.RESULT_ANNOTATION: "passed", names.RESULT_OF_ANNOTATION: "u1",
                names.SUMMARY_ANNOTATION: encode_summary({"version": 1, "requests": 9}),
                names.FINISHED_AT_ANNOTATION: "2026-11-26T10:00:00Z"}  # fmt: skip
    pod["metadata"]["annotations"].update(reported)
    facts = facts_from_pod(pod, TEST_KEY)
    assert facts is not None
    assert facts.reported, "as the controller left it"
    await run(controller_on(fake), pod, deleted=True)
    assert kept_runs(fake)[0] == ["u1"]


async def test_a_configmap_of_the_historys_name_that_is_not_ours_is_left_alone() -> None:
    theirs = {"metadata": {"name": CHECKOUT, "namespace": "ns", "resourceVersion": "3"},
              "data": {"runs.json": "mine"}}  # fmt: skip
    fake = FakeKube(jobs=[owned_job()], configmaps=[copy.deepcopy(theirs)])
    await run(controller_on(fake), run_pod("u1"))
    await run(controller_on(fake), run_pod("u1"))  # a new leader: said once all the same
    assert fake.configmaps[("ns", CHECKOUT)] == theirs
    warnings = [e for e in fake.events.values() if e["reason"] == "HistoryNotKept"]
    assert sorted(e["involvedObject"]["kind"] for e in warnings) == ["Job", "Pod"]
    assert CHECKOUT in warnings[0]["message"]
    assert fake.written("pods")[names.HISTORY_RECORDED_ANNOTATION] == "u1", "and not tried again"


async def test_a_history_changed_between_read_and_write_is_read_again() -> None:
    fake = FakeKube(jobs=[owned_job()])
    controller = controller_on(fake)
    await run(controller, run_pod("u1"))
    read = fake.get
    meddled = False

    async def get_then_meddle(path: str, **query: Any) -> dict[str, Any]:
        nonlocal meddled
        answer = await read(path, **query)
        if path.endswith(CHECKOUT) and not meddled:
            meddled = True  # another writer records "x1" after our read
            stored = fake.configmaps[("ns", CHECKOUT)]
            entry: history.HistoryEntry = {"uid": "x1", "result": "failed", "finishedAt": "",
                                           "run": {}, "numbers": {}}  # fmt: skip
            data = history.recorded(stored, entry)
            assert data is not None
            stored["data"] = data
            stored["metadata"]["resourceVersion"] += "0"
        return answer

    fake.get = get_then_meddle  # type: ignore[method-assign]
    await run(controller, run_pod("u2"))
    assert kept_runs(fake) == (["u1", "x1", "u2"], {"passed": 2, "failed": 1})
    assert sum(r.startswith("PUT") for r in fake.requests) == 2, "the first write was refused"


async def test_a_history_the_api_server_refuses_is_given_up_and_the_verdict_stands() -> None:
    fake = FakeKube(jobs=[owned_job()])
    store = HistoryStore(cast(KubeClient, fake))

    create = fake.create

    async def forbidden(path: str, body: Any) -> Any:
        if "/configmaps" in path:
            raise KubeError(403, "configmaps is forbidden")
        return await create(path, body)

    fake.create = forbidden  # type: ignore[method-assign]
    controller = controller_on(fake)
    controller.history = store
    await run(controller, run_pod("u1"))
    assert fake.written("pods")[names.RESULT_ANNOTATION] == "passed"
    assert ("ns", CHECKOUT) not in fake.configmaps


# ---------------------------------------------------------------- reading before a verdict


@pytest.mark.parametrize(
    ("mode", "readable"), [("normal", True), ("forbidden", False), ("unavailable", False)]
)
async def test_a_history_read_before_a_verdict_says_whether_it_could_be(
    mode: str, readable: bool
) -> None:
    entry: history.HistoryEntry = {"uid": "u0", "result": "passed", "finishedAt": "",
                                   "run": {}, "numbers": {}}  # fmt: skip
    configmap = history.history_configmap("ns", "checkout", history.history_data([entry], {}))
    fake = FakeKube(configmaps=[configmap])
    fake.mode = mode
    store = HistoryStore(cast(KubeClient, fake))
    facts = facts_from_pod(run_pod("u1"), TEST_KEY)
    assert facts is not None
    await store.read(facts, "checkout")
    seen = store.seen["u1"]
    assert (seen.readable, [e["uid"] for e in seen.entries]) == (
        readable,
        ["u0"] if readable else [],
    )
    asked = len(fake.requests)
    assert asked == (2 if mode == "unavailable" else 1), "one retry, and only when worth it"


# ---------------------------------------------------------------- expiry


def aged(test: str, ended: str, namespace: str = "ns") -> dict[str, Any]:
    entry: history.HistoryEntry = {"uid": test, "result": "passed", "finishedAt": ended,
                                   "run": {}, "numbers": {}}  # fmt: skip
    configmap = history.history_configmap(namespace, test, history.history_data([entry], {}))
    configmap["metadata"].update(uid=f"uid-{test}", resourceVersion="4")
    return configmap


async def test_the_sweep_deletes_the_histories_of_tests_not_run_for_expire_after() -> None:
    users = {"metadata": {"name": "settings", "namespace": "ns", "labels": {}}, "data": {}}
    old, recent = aged("old", "2033-04-01T00:00:00Z"), aged("recent", "2033-05-17T00:00:00Z")
    fake = FakeKube(configmaps=[old, recent, users])
    store = HistoryStore(cast(KubeClient, fake), clock=lambda: NOW)  # 2033-05-18
    store.config = HistoryConfig(expire_after_seconds=30 * 86400.0)
    assert await store.sweep() == 1
    assert sorted(name for _, name in fake.configmaps) == [
        history.configmap_name("recent"),
        "settings",
    ]
    assert any("labelSelector=" in r for r in fake.requests), "listed by label"
    store.config = HistoryConfig(expire_after_seconds=None)
    fake.put_configmap(old)
    assert await store.sweep() == 0, "never"


async def test_a_history_recorded_to_since_the_sweeps_list_is_not_deleted() -> None:
    old = aged("old", "2033-04-01T00:00:00Z")
    fake = FakeKube(configmaps=[old])
    store = HistoryStore(cast(KubeClient, fake), clock=lambda: NOW)
    listed = fake.list_pages

    async def list_then_record(path: str, **query: Any) -> Any:
        async for page in listed(path, **query):
            # A run is recorded after the list, before the sweep's delete.
            stored = fake.configmaps[("ns", history.configmap_name("old"))]
            stored["metadata"]["resourceVersion"] = "5"
            yield page

    fake.list_pages = list_then_record  # type: ignore[method-assign]
    assert await store.sweep() == 0
    assert ("ns", history.configmap_name("old")) in fake.configmaps


async def test_the_history_settings_are_read_from_the_installations_configmap() -> None:
    config = {"metadata": {"name": "lf-config", "namespace": "lf"},
              "data": {"config.yaml": "history: {keep: 5, expireAfter: 2d}\n"}}  # fmt: skip
    fake = FakeKube(configmaps=[config])
    store = HistoryStore(cast(KubeClient, fake), "lf", "lf-config")
    await store.refresh_config()
    assert store.config == HistoryConfig(5, 2 * 86400.0)
    config["data"]["config.yaml"] = "history: {keep: 500}\n"
    fake.put_configmap(config)
    await store.refresh_config()
    assert store.config == HistoryConfig(5, 2 * 86400.0), "a bad one keeps the last good one"
