"""The names users, manifests, docs and tests share: labels, annotations, container names.

They are part of the public contract (see docs/reference.md), so they live in one place and
never change casually.
"""

from typing import Final

DOMAIN: Final = "locust-finisher.io"

# The installation's default name, the prefix of its objects' names (Helm's fullnameOverride
# changes it; the controller is told with --name).
INSTALLATION: Final = "locust-finisher"

# Namespace opt-in label, matched by the MutatingWebhookConfiguration's namespaceSelector.
NAMESPACE_INJECT_LABEL: Final = f"{DOMAIN}/inject"

# The webhook's objects in its own namespace, which ``mutate --from-cluster`` reads.
DEFAULT_INSTALL_NAMESPACE: Final = "locust-finisher"
CONFIG_MAP: Final = "locust-finisher-config"
CONFIG_MAP_KEY: Final = "config.yaml"
WEBHOOK_DEPLOYMENT: Final = "locust-finisher-webhook"
# The webhook container's variable holding the finisher image it injects (manifests set it).
FINISHER_IMAGE_VARIABLE: Final = "FINISHER_IMAGE"

# Annotations a user may set on a pod (or on the operator CR's master.annotations).
INJECT_ANNOTATION: Final = f"{DOMAIN}/inject"
TTL_ANNOTATION: Final = f"{DOMAIN}/ttl"
WAIT_FOR_SCRAPE_ANNOTATION: Final = f"{DOMAIN}/wait-for-scrape"
MAX_WAIT_ANNOTATION: Final = f"{DOMAIN}/max-wait"
STRATEGY_ANNOTATION: Final = f"{DOMAIN}/strategy"
MASTER_CONTAINER_ANNOTATION: Final = f"{DOMAIN}/master-container"
EXPORTER_CONTAINER_ANNOTATION: Final = f"{DOMAIN}/exporter-container"
# The verdict policy: limits the test's final numbers must meet (app/core/checks.py).
CHECK_FAIL_RATIO_ANNOTATION: Final = f"{DOMAIN}/check-fail-ratio"
CHECK_P95_ANNOTATION: Final = f"{DOMAIN}/check-p95"
CHECK_P99_ANNOTATION: Final = f"{DOMAIN}/check-p99"
CHECK_AVG_ANNOTATION: Final = f"{DOMAIN}/check-avg"
CHECK_RPS_ANNOTATION: Final = f"{DOMAIN}/check-rps"
# Relative checks: how much worse than its baseline a run may be (app/core/compare.py).
CHECK_P95_REGRESSION_ANNOTATION: Final = f"{DOMAIN}/check-p95-regression"
CHECK_P99_REGRESSION_ANNOTATION: Final = f"{DOMAIN}/check-p99-regression"
CHECK_AVG_REGRESSION_ANNOTATION: Final = f"{DOMAIN}/check-avg-regression"
CHECK_RPS_REGRESSION_ANNOTATION: Final = f"{DOMAIN}/check-rps-regression"
CHECK_FAIL_RATIO_INCREASE_ANNOTATION: Final = f"{DOMAIN}/check-fail-ratio-increase"
# A check that could not be made fails the verdict instead of not counting.
STRICT_CHECKS_ANNOTATION: Final = f"{DOMAIN}/strict-checks"
# Retention: how long a finished test's Job is kept (app/core/retention.py); also read on
# the pod's namespace, as that namespace's default.
KEEP_PASSED_ANNOTATION: Final = f"{DOMAIN}/keep-passed"
KEEP_FAILED_ANNOTATION: Final = f"{DOMAIN}/keep-failed"
# What the run is of, for its summary's metadata (a git SHA, a tag): app/core/run_metadata.py.
REVISION_ANNOTATION: Final = f"{DOMAIN}/revision"
USER_ANNOTATIONS: Final = (
    INJECT_ANNOTATION,
    TTL_ANNOTATION,
    MAX_WAIT_ANNOTATION,
    WAIT_FOR_SCRAPE_ANNOTATION,
    STRATEGY_ANNOTATION,
    MASTER_CONTAINER_ANNOTATION,
    EXPORTER_CONTAINER_ANNOTATION,
    CHECK_FAIL_RATIO_ANNOTATION,
    CHECK_P95_ANNOTATION,
    CHECK_P99_ANNOTATION,
    CHECK_AVG_ANNOTATION,
    CHECK_RPS_ANNOTATION,
    CHECK_P95_REGRESSION_ANNOTATION,
    CHECK_P99_REGRESSION_ANNOTATION,
    CHECK_AVG_REGRESSION_ANNOTATION,
    CHECK_RPS_REGRESSION_ANNOTATION,
    CHECK_FAIL_RATIO_INCREASE_ANNOTATION,
    KEEP_PASSED_ANNOTATION,
    KEEP_FAILED_ANNOTATION,
    REVISION_ANNOTATION,
)

# Written by the webhook.
MANAGED_LABEL: Final = f"{DOMAIN}/managed"
STATUS_ANNOTATION: Final = f"{DOMAIN}/status"
# The webhook's signed record of who created the pod, for which owner (core/admission_record.py).
ADMISSION_ANNOTATION: Final = f"{DOMAIN}/admission"

# Written by the controller, on the pod and on its Job.
RESULT_ANNOTATION: Final = f"{DOMAIN}/result"
# The same verdict as a label, so `kubectl get jobs -L`/`-l` can show and select it.
RESULT_LABEL: Final = RESULT_ANNOTATION
EXIT_CODE_ANNOTATION: Final = f"{DOMAIN}/exit-code"
FINISHED_AT_ANNOTATION: Final = f"{DOMAIN}/finished-at"
# The uid of the pod the verdict annotations are of (on the pod and on its Job), so that a
# verdict copied onto a re-created Job or pod, or a Job's from an earlier attempt, is never
# read as another pod's (app/core/verdict_record.py).
RESULT_OF_ANNOTATION: Final = f"{DOMAIN}/result-of"
SUMMARY_ANNOTATION: Final = f"{DOMAIN}/summary"
# A failed verdict's reason code (app/core/reasons.py), on the pod, its Job and the owning
# LocustTest; absent when it passed.
REASON_ANNOTATION: Final = f"{DOMAIN}/reason"
EXPORTER_STOPPED_ANNOTATION: Final = f"{DOMAIN}/exporter-stopped"
# What the controller did in a fallback (on the pod, its Job, and any Service it changed).
FALLBACK_ANNOTATION: Final = f"{DOMAIN}/fallback"
# On a Service the controller changed in a fallback: the uid of the pod it was changed for,
# so that it is found and set back once that pod's test has ended.
PUBLISHED_FOR_LABEL: Final = f"{DOMAIN}/published-for"
# On the pod: its Services were set back (how many).
FALLBACK_ENDED_ANNOTATION: Final = f"{DOMAIN}/fallback-ended"
# On the pod: the Events for its status annotation's warnings were emitted (their reasons).
WARNED_ANNOTATION: Final = f"{DOMAIN}/warned"
# On a Job: the ttlSecondsAfterFinished the controller took off it until the verdict is
# recorded, and what it set once it was (app/core/retention.py).
HELD_TTL_ANNOTATION: Final = f"{DOMAIN}/held-ttl-seconds-after-finished"
RETENTION_ANNOTATION: Final = f"{DOMAIN}/retention"
# On the pod: the verdict was copied onto the LocustTest that owns its Job, or why not
# (app/core/gitops.py); said once per pod.
TEST_ANNOTATED_ANNOTATION: Final = f"{DOMAIN}/test-annotated"
# The verdict annotations copied onto the owning LocustTest, where Argo CD's health check
# (manifests/argocd) and GitOps tools look: metadata only, never its spec or status.
TEST_VERDICT_ANNOTATIONS: Final = (
    RESULT_ANNOTATION,
    REASON_ANNOTATION,
    SUMMARY_ANNOTATION,
    RESULT_OF_ANNOTATION,
    FINISHED_AT_ANNOTATION,
)

# Notifications (app/core/notification.py): on a namespace, the Secret (in that namespace)
# whose key ``url`` receives its tests' verdicts; on a Job, the controller's durable mark of
# one run's notification (claimed before the first post, then sent or given up).
NOTIFY_SECRET_ANNOTATION: Final = f"{DOMAIN}/notify-secret"
NOTIFICATION_ANNOTATION: Final = f"{DOMAIN}/notification"
# The Secret name the controller may read in every namespace (RBAC resourceNames), and the
# default of the cluster's ``notifications.secret``.
NOTIFY_SECRET: Final = "locust-finisher-notify"  # noqa: S105 - a name, not a password
# The header that names a run in every post of its notification (the pod's uid).
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"

FINISHER_CONTAINER: Final = "locust-finisher"

# Locust's report kept after the pod: the finisher hands it to the controller with a token of
# this audience, and the controller keeps it in one ConfigMap, owned by the pod's Job, labelled
# with the pod's uid (and its Job's and pod's names, to find it without the pod).
REPORT_AUDIENCE: Final = f"{DOMAIN}/report"
REPORT_OF_LABEL: Final = f"{DOMAIN}/report-of"
REPORT_JOB_LABEL: Final = f"{DOMAIN}/report-job"
REPORT_POD_LABEL: Final = f"{DOMAIN}/report-pod"
REPORT_LEFT_OUT_ANNOTATION: Final = f"{DOMAIN}/report-left-out"
REPORT_KEPT_AT_ANNOTATION: Final = f"{DOMAIN}/report-kept-at"

# The two published images: the webhook, controller and CLI; and the small in-pod finisher
# (standard library only), which every managed master pod pulls.
IMAGE_REPOSITORY: Final = "ghcr.io/locust-finisher/locust-finisher"
FINISHER_IMAGE_REPOSITORY: Final = "ghcr.io/locust-finisher/finisher"

# locust-k8s-operator's own names (every version, Java 0.x to Go 2.3).
OPERATOR_MANAGED_BY_LABEL: Final = "managed-by"
OPERATOR_MANAGED_BY_VALUE: Final = "locust-k8s-operator"
OPERATOR_POD_NAME_LABEL: Final = "performance-test-pod-name"
OPERATOR_EXPORTER_CONTAINER: Final = "locust-metrics-exporter"
EXPORTER_DEFAULT_PORT: Final = 9646
LOCUST_DEFAULT_WEB_PORT: Final = 8089

# The Locust project's own operator (locustio/k8s-operator): the labels on its pods.
OFFICIAL_COMPONENT_LABEL: Final = "locust.io/component"
OFFICIAL_TEST_RUN_LABEL: Final = "locust.io/test-run"
OFFICIAL_MASTER_CONTAINER: Final = "locust-master"

# The kubelet marks static pods' API mirrors with this; they must never be mutated.
MIRROR_POD_ANNOTATION: Final = "kubernetes.io/config.mirror"

# The ClusterRoles the installation ships for the CI identity (manifests/base/ci-roles.yaml),
# bound by users in test namespaces: `wait` and `report`, and live numbers on top.
CI_ROLE: Final = "locust-finisher-ci"
CI_LIVE_NUMBERS_ROLE: Final = "locust-finisher-ci-live-numbers"

# A test's earlier runs (app/core/history.py): one ConfigMap per test in its namespace, which
# the controller alone writes, labelled so it lists them all and annotated with the test.
HISTORY_CONFIGMAP_PREFIX: Final = "locust-finisher-history-"
HISTORY_LABEL: Final = f"{DOMAIN}/history"
TEST_ANNOTATION: Final = f"{DOMAIN}/test"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "locust-finisher"
# On the pod: its run is recorded in its test's history ConfigMap (the value: the pod's uid).
HISTORY_RECORDED_ANNOTATION: Final = f"{DOMAIN}/history-recorded"
