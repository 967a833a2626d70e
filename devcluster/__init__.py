"""A real local Kubernetes for tests and the demo: Go-built control plane and node."""
