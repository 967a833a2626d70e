"""locust-finisher: finish Locust load-test master pods on Kubernetes, keep their final numbers."""

__version__ = "0.1.0"
