"""Programs that stand in for container images on the process kubelet."""
