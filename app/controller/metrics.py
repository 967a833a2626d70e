"""The controller's Prometheus metrics."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class ControllerMetrics:
    """One registry per controller (tests run several)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.pods_tracked = Gauge(
            "locust_finisher_controller_pods_tracked",
            "Managed pods the controller knows.",
            registry=r,
        )
        self.pods_refused = Counter(
            "locust_finisher_controller_pods_refused",
            "Pods marked as ours whose admission record did not prove it (each counted once).",
            registry=r,
        )
        self.verdicts = Counter(
            "locust_finisher_controller_verdicts",
            "Test verdicts reported, by result.",
            ["result"],
            registry=r,
        )
        self.quits = Counter(
            "locust_finisher_controller_exporter_quits",
            "Fallback /quitquitquit calls, by outcome (quit, gone, answered, error).",
            ["outcome"],
            registry=r,
        )
        self.notifications = Counter(
            "locust_finisher_controller_notifications",
            "Notification posts by outcome (sent, not-sent: retried or refused), and give-ups.",
            ["outcome"],
            registry=r,
        )
        self.watch_restarts = Counter(
            "locust_finisher_controller_watch_restarts",
            "Watches re-opened after they ended.",
            registry=r,
        )
        self.relists = Counter(
            "locust_finisher_controller_relists",
            "Full re-lists (start, 410 Gone, errors).",
            ["reason"],
            registry=r,
        )
        self.leader = Gauge(
            "locust_finisher_controller_leader", "1 while this replica holds the lease.", registry=r
        )
        self.action_delay = Histogram(
            "locust_finisher_controller_action_delay_seconds",
            "From when an action was due (the master's exit, the quit deadline) to doing it.",
            ["action"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=r,
        )
        self.api_errors = Counter(
            "locust_finisher_controller_api_errors", "Failed API calls while acting.", registry=r
        )
