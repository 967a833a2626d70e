"""What ``check`` concludes from the API server's answers (the shell: tests/cluster)."""

from typing import Any

from app.core import names
from app.core.cluster_config import InjectionConfig
from app.core.fitting import NO_LIMITS, NamespaceLimits
from app.core.inject import mutate_pod
from app.core.precheck import (
    CI_RIGHTS,
    LIVE_NUMBERS_RIGHT,
    Status,
    admitted,
    finisher_image,
    opted_in,
    probe_pod,
    pulled,
    rights,
)
from testkit.pod_fixtures import apply_patch


def dry_run(limits: NamespaceLimits = NO_LIMITS) -> dict[str, Any]:
    pod = probe_pod("load")
    mutation = mutate_pod(pod, InjectionConfig(), limits)
    return apply_patch(pod, mutation.ops)


def test_the_probe_is_a_master_the_webhook_mutates() -> None:
    [admission, webhook] = admitted(dry_run())
    assert (admission.status, webhook.status) == (Status.OK, Status.OK)
    image = finisher_image(dry_run())
    assert image is not None
    assert image[0].endswith(f"finisher:{image[0].rsplit(':', 1)[1]}")


def test_an_unmutated_answer_means_the_webhook_was_not_reached() -> None:
    [_, webhook] = admitted(probe_pod("load"))
    assert webhook.status is Status.FAILED
    assert "admitted unmutated" in webhook.reason
    assert finisher_image(probe_pod("load")) is None


def test_a_finisher_left_out_by_a_quota_is_a_warning_that_names_it() -> None:
    quota = {"metadata": {"name": "q"}, "status": {"hard": {"requests.memory": "128Mi"}}}
    [_, webhook] = admitted(dry_run(NamespaceLimits(quotas=(quota,))))
    assert webhook.status is Status.WARNING
    assert "ResourceQuota q" in webhook.reason


def test_the_namespace_must_carry_the_opt_in_label() -> None:
    label = {names.NAMESPACE_INJECT_LABEL: "enabled"}
    assert opted_in({"metadata": {"labels": label}}).status is Status.OK
    assert opted_in({"metadata": {}}).status is Status.FAILED


def test_the_pull_probe_reads_the_kubelet() -> None:
    def pod(state: dict[str, Any], phase: str = "Pending") -> dict[str, Any]:
        return {"status": {"phase": phase, "containerStatuses": [{"state": state}]}}

    assert pulled(pod({"waiting": {"reason": "ContainerCreating"}})) is None
    failed = pulled(pod({"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}))
    assert failed is not None
    assert failed.status is Status.FAILED
    assert "ImagePullBackOff: not found" in failed.reason
    ran = pulled(pod({"terminated": {"exitCode": 0}}, "Succeeded"))
    assert ran is not None
    assert ran.status is Status.OK


def test_rights_wait_cannot_do_without_fail_and_live_numbers_only_warn() -> None:
    every = [(right, True) for right in CI_RIGHTS]
    assert rights([*every, (LIVE_NUMBERS_RIGHT, True)]).status is Status.OK
    assert rights([*every, (LIVE_NUMBERS_RIGHT, False)]).status is Status.WARNING
    no_watch = [(right, right[2] != "watch") for right in CI_RIGHTS]
    check = rights(no_watch)
    assert check.status is Status.FAILED
    assert check.reason == (
        "wait and report would exit 2: no watch pods "
        "(bind the ClusterRole locust-finisher-ci in this namespace)"
    )
