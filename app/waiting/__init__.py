"""`locust-finisher wait`: follow a load test from CI and exit with its verdict."""
