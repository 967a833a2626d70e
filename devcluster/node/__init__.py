"""The local cluster's real node: containerd and runc, the kubelet, kube-proxy, CoreDNS."""
