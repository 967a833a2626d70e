"""values.schema.json refuses at install time what would make the webhook crash-loop."""

from typing import Any

import pytest
import yaml

from app.certificates import VALIDITY_DAYS
from app.controller.admission_key import key_secret_name, lease_name
from app.core.artifacts import receiver_url
from app.core.cluster_config import InjectionConfig, parse_cluster_config
from app.core.durations import parse_duration
from app.core.names import CI_LIVE_NUMBERS_ROLE, CI_ROLE
from tests.manifests.render import CHART, NAMESPACE, Key, chart_objects, helm, helm_template


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
        ("defaults.checks.p95Regression=10", "/defaults/checks/p95Regression"),
        ("defaults.checks.rpsRegression=20% min 5ms", "/defaults/checks/rpsRegression"),
        ("defaults.checks.failRatioIncrease=0.5%", "/defaults/checks/failRatioIncrease"),
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
        ("defaults.checks.p95Regression=10% min 20ms", '{"p95Regression":"10% min 20ms"}'),
        ("defaults.checks.failRatioIncrease=0.5pp", '{"failRatioIncrease":"0.5pp"}'),
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


# What the webhook reads, the chart installs, and no more: the schema checks a duration's
# syntax, the templates add its terms up (a week at most, as app/core/durations.py).
@pytest.mark.parametrize(
    "duration", ["168h", "168h1s", "720h", "10080m", "10081m", "604800", "1.5s", "6d"]
)
def test_the_chart_refuses_exactly_the_durations_the_webhook_refuses(duration: str) -> None:
    try:
        parse_duration(duration)
        webhook_reads_it = True
    except ValueError:
        webhook_reads_it = False
    for value in (f"defaults.maxWait={duration}", f"defaults.retention.failed={duration}"):
        result = helm_template(value)
        assert (result.returncode == 0) == webhook_reads_it, (value, result.stderr)


def test_a_full_name_override_renames_every_object_and_tells_both_components() -> None:
    rendered = chart_objects("fullnameOverride=acme-lf", "serviceMonitor.enabled=true")
    # The CI roles keep the names docs/ci.md and `check` give them (names.CI_ROLE).
    names = {name for _, _, name in rendered} - {CI_ROLE, CI_LIVE_NUMBERS_ROLE}
    assert all(name.startswith("acme-lf") for name in names), sorted(names)
    webhook = _container(rendered, "Deployment", "acme-lf-webhook")
    controller = _container(rendered, "Deployment", "acme-lf-controller")
    assert "--name=acme-lf" in webhook["args"]
    assert "--name=acme-lf" in controller["args"]
    # The names the components derive from --name are the objects the chart made.
    report_host = receiver_url(NAMESPACE, "acme-lf").split("//")[1].split(".")[0]
    assert ("Service", NAMESPACE, report_host) in rendered
    key_secret = key_secret_name("acme-lf")
    key_rules = rendered[("Role", NAMESPACE, "acme-lf-controller-admission-key")]["rules"]
    assert any(key_secret in rule.get("resourceNames", []) for rule in key_rules)
    volumes = rendered[("Deployment", NAMESPACE, "acme-lf-webhook")]["spec"]["template"]["spec"]
    assert {"secretName": key_secret} in [v.get("secret") for v in volumes["volumes"]]
    assert lease_name("acme-lf") == "acme-lf-controller"


def test_by_default_the_components_are_not_given_a_name() -> None:
    rendered = chart_objects()
    for deployment in ("locust-finisher-webhook", "locust-finisher-controller"):
        args = _container(rendered, "Deployment", deployment)["args"]
        assert not [arg for arg in args if arg.startswith("--name")]


def test_pod_labels_and_topology_spread_reach_both_components() -> None:
    rendered = chart_objects(
        "podLabels.team=perf",
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
    )
    for component in ("webhook", "controller"):
        deployment = rendered[("Deployment", NAMESPACE, f"locust-finisher-{component}")]
        template = deployment["spec"]["template"]
        assert template["metadata"]["labels"]["team"] == "perf"
        selected = deployment["spec"]["selector"]["matchLabels"]
        assert selected.items() <= template["metadata"]["labels"].items()
        (spread,) = template["spec"]["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert spread["labelSelector"]["matchLabels"] == selected


def test_an_image_digest_pins_both_images() -> None:
    digest = "sha256:" + "ab" * 32
    rendered = chart_objects(f"image.digest={digest}", f"finisherImage.digest={digest}")
    webhook = _container(rendered, "Deployment", "locust-finisher-webhook")
    assert webhook["image"] == f"ghcr.io/locust-finisher/locust-finisher@{digest}"
    finisher = {env["name"]: env.get("value") for env in webhook["env"]}["FINISHER_IMAGE"]
    assert finisher == f"ghcr.io/locust-finisher/finisher@{digest}"
    assert "image.digest" in helm_template("image.digest=latest").stderr.replace("/", ".")


def test_the_service_monitors_select_services_with_the_ports_they_name() -> None:
    rendered = chart_objects("serviceMonitor.enabled=true", "serviceMonitor.labels.release=kps")
    monitors = [obj for (kind, _, _), obj in rendered.items() if kind == "ServiceMonitor"]
    assert len(monitors) == 2
    services = [obj for (kind, _, _), obj in rendered.items() if kind == "Service"]
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kps"
        wanted = monitor["spec"]["selector"]["matchLabels"]
        (service,) = [s for s in services if wanted.items() <= s["metadata"]["labels"].items()]
        ports = {port["name"] for port in service["spec"]["ports"]}
        assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= ports


def test_self_signed_certificates_have_one_lifetime() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["selfSignedCertificate"]["validityDays"] == VALIDITY_DAYS


def _container(rendered: dict[Key, Any], kind: str, name: str) -> dict[str, Any]:
    (container,) = rendered[(kind, NAMESPACE, name)]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_clusters_notification_secret_reaches_the_config_and_only_its_name_is_readable() -> (
    None
):
    rendered = chart_objects("notifications.secret=team-hook")
    config = yaml.safe_load(
        rendered[("ConfigMap", NAMESPACE, "locust-finisher-config")]["data"]["config.yaml"]
    )
    parsed = parse_cluster_config(config, InjectionConfig())
    assert parsed.notify_secret == "team-hook"
    role = rendered[("Role", NAMESPACE, "locust-finisher-controller-notify")]
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["team-hook"],
            "verbs": ["get"],
        }
    ]
    # By default: no cluster Secret, and no Role for one.
    default = chart_objects()
    assert ("Role", NAMESPACE, "locust-finisher-controller-notify") not in default
    assert "notifications" not in yaml.safe_load(
        default[("ConfigMap", NAMESPACE, "locust-finisher-config")]["data"]["config.yaml"]
    )
    assert helm_template("notifications.secret=Not_A_Name").returncode != 0
