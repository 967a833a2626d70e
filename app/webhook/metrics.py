"""The webhook's Prometheus metrics: what it decided, and how long deciding took."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram

# Sub-millisecond buckets: the handler's budget is well under 1 ms per review.
_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0)


@dataclass
class WebhookMetrics:
    """One registry per app, so several apps (tests, benchmarks) can live in one process."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "locust_finisher_webhook_requests",
            "AdmissionReview requests by outcome (mutated, skipped, error, rejected).",
            ["outcome"],
            registry=self.registry,
        )
        # Resolved once: labels() takes a lock and a lookup on every call.
        self.by_outcome = {
            outcome: self.requests.labels(outcome)
            for outcome in ("mutated", "skipped", "error", "rejected")
        }
        self.duration = Histogram(
            "locust_finisher_webhook_request_duration_seconds",
            "Time to answer one AdmissionReview, body read included.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
