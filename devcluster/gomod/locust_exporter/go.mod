// Wrapper module: builds containersol/locust_exporter, the metrics exporter that
// locust-k8s-operator puts in every master pod, for the tests and the demo.
module locust-finisher.invalid/devcluster/locust_exporter

go 1.26.0
