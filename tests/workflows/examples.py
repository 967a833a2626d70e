"""The files of examples/, parsed, and the master pod each Kubernetes example leads to.

The operators' custom resources cannot be created where their CRDs are not installed (the
test cluster has neither operator): their master pods are built as each operator builds
them (devcluster/operator_shapes.py), with the annotations and labels the example gives.
"""

from pathlib import Path
from typing import Any

import yaml

from devcluster import operator_shapes as shapes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Example file -> the operator version whose pods its master pod is shaped like (None: the
# example's own master Job).
KUBERNETES_EXAMPLES = {
    "locusttest-operator-v2.yaml": "go-2.3",
    "locusttest-official-operator.yaml": "official-0.1.6",
    "master-worker-jobs.yaml": None,
}
CI_EXAMPLES = ("github-actions-load-test.yml", "gitlab-ci.yml")


def documents(name: str) -> list[dict[str, Any]]:
    """The YAML documents of ``examples/<name>``."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    return [document for document in yaml.safe_load_all(text) if document]


def one(name: str, kind: str) -> dict[str, Any]:
    """The one object of ``kind`` in ``examples/<name>`` (the master Job, for Jobs)."""
    found = [d for d in documents(name) if d["kind"] == kind]
    if kind == "Job":
        found = [d for d in found if d["metadata"]["name"].endswith("-master")]
    (only,) = found
    return only


def master_pod(name: str, namespace: str) -> dict[str, Any]:
    """The master pod the example leads to, as its Job's pod template makes it."""
    version = KUBERNETES_EXAMPLES[name]
    if version is None:
        job = one(name, "Job")
    else:
        resource = one(name, "LocustTest")
        master = resource["spec"].get("master", {})
        test = shapes.LoadTest(
            name=resource["metadata"]["name"],
            namespace=namespace,
            version=version,
            master_annotations=dict(master.get("annotations", {})),
            master_labels=dict(master.get("labels", {})),
        )
        job = shapes.master_job(test)
    template = job["spec"]["template"]
    metadata = {**template["metadata"], "name": f"{job['metadata']['name']}-example",
                "namespace": namespace}  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}
