"""The process kubelet: runs pods as local processes in their own namespaces."""
