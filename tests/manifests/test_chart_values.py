"""values.schema.json refuses at install time what would make the webhook crash-loop."""

import pytest

from tests.manifests.render import CHART, chart_objects, helm, helm_template


def test_the_chart_passes_a_strict_lint() -> None:
    result = helm("lint", str(CHART), "--strict")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("defaults.shutdownTTL=soon", "/defaults/shutdownTTL"),
        ("defaults.shutdownTTL=8d", "/defaults/shutdownTTL"),
        ("defaults.shutdownTTL=-1", "/defaults/shutdownTTL"),
        ("defaults.maxWait=5 minutes", "/defaults/maxWait"),
        ("defaults.strategy=sometimes", "/defaults/strategy"),
        ("defaults.waitForScrape=maybe", "/defaults/waitForScrape"),
        ("defaults.shutdownTtl=3s", "shutdownTtl"),
        ("webhook.replicas=0", "/webhook/replicas"),
        ("webhook.failurePolicy=Sometimes", "/webhook/failurePolicy"),
        ("webhook.timeoutSeconds=60", "/webhook/timeoutSeconds"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("finisherImage.pullPolicy=always", "/finisherImage/pullPolicy"),
        ("image.pullSecrets[0]=Mirror_Pull", "/image/pullSecrets/0"),
        ("finisherResources.limits.memory=lots", "/finisherResources/limits/memory"),
        ("finisherResources.limits.gpu=1", "/finisherResources/limits"),
        ("logLevel=loud", "/logLevel"),
        ("networkPolicy.namespaces[0]=Load_Tests", "/networkPolicy/namespaces/0"),
        ("defaults.checks.p95=fast", "/defaults/checks/p95"),
        ("defaults.checks.failRatio=2", "/defaults/checks/failRatio"),
        ("defaults.checks.p50=1s", "p50"),
        ("defaults.checks.strict=maybe", "/defaults/checks/strict"),
        ("defaults.retention.failed=a week", "/defaults/retention/failed"),
        ("defaults.retention.kept=1h", "kept"),
    ],
)
def test_a_bad_value_is_refused_naming_it(value: str, named: str) -> None:
    result = helm_template(value)
    assert result.returncode != 0, f"{value} rendered"
    assert named in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("value", "config_line"),
    [
        ("defaults.shutdownTTL=1h30m", 'ttl: "1h30m"'),
        ("defaults.shutdownTTL=45", "ttl: 45"),
        ("defaults.shutdownTTL=1.5s", 'ttl: "1.5s"'),
        ("defaults.maxWait=500ms", 'maxWait: "500ms"'),
        ("defaults.waitForScrape=true", "waitForScrape: true"),
        ("defaults.waitForScrape=false", "waitForScrape: false"),
        ("defaults.strategy=terminator", 'strategy: "terminator"'),
        ("defaults.strategy=controller", 'strategy: "controller"'),
        ("finisherImage.pullPolicy=Always", 'finisherImagePullPolicy: "Always"'),
        ("image.pullSecrets[0]=mirror-pull", 'finisherImagePullSecrets: ["mirror-pull"]'),
        ("finisherResources.limits.memory=128Mi", '"limits":{"memory":"128Mi"}'),
        ("defaults.checks.p95=500ms", 'checks: {"p95":"500ms"}'),
        ("defaults.checks.strict=true", 'checks: {"strict":true}'),
        ("defaults.retention.failed=forever", 'retention: {"failed":"forever"}'),
        ("defaults.retention.passed=0s", 'retention: {"passed":"0s"}'),
    ],
)
def test_a_good_value_reaches_the_webhooks_configuration(value: str, config_line: str) -> None:
    rendered = chart_objects(value)
    config = rendered[("ConfigMap", "locust-finisher", "locust-finisher-config")]
    assert config_line in config["data"]["config.yaml"]


def test_a_service_account_that_is_not_created_must_be_named() -> None:
    result = helm_template("controller.serviceAccount.create=false")
    assert "controller.serviceAccount.name" in result.stderr
    rendered = chart_objects(
        "controller.serviceAccount.create=false", "controller.serviceAccount.name=ops-robot"
    )
    assert ("ServiceAccount", "locust-finisher", "locust-finisher-controller") not in rendered
    binding = rendered[("ClusterRoleBinding", "", "locust-finisher-controller")]
    assert binding["subjects"][0]["name"] == "ops-robot"
