"""What the tests and the benchmarks share.

Pod fixtures, the finisher's process harness, the webhook fuzz generator and judge, and one
fake Kubernetes API. It may use devcluster/ (the local cluster), never tests/ or bench/.
"""
