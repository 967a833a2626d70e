"""README.md's from-source install: the commands a platform team can run before any release.

The cluster test runs them against a real node; these checks catch a broken recipe in
seconds: it parses, it names our make target, and both images come from the one registry.
"""

import os
import subprocess

from tests.workflows.docs_recipes import ROOT, from_source_recipe

REGISTRY = "127.0.0.1:5000/from-source"


def test_the_recipe_is_bash_and_uses_the_registry_it_sets_for_both_images() -> None:
    recipe = from_source_recipe(REGISTRY)
    checked = subprocess.run(["bash", "-n", "-c", recipe], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    traced = subprocess.run(
        ["bash", "-c", f'make() {{ echo make "$@"; }}; helm() {{ echo helm "$@"; }}\n{recipe}'],
        capture_output=True,
        text=True,
    )
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout.splitlines() == [
        f"make push REGISTRY={REGISTRY}",
        "helm install locust-finisher ./manifests/chart/locust-finisher"
        " --namespace locust-finisher --create-namespace"
        f" --set image.repository={REGISTRY}/locust-finisher"
        f" --set finisherImage.repository={REGISTRY}/finisher",
    ]


def test_make_push_pushes_to_the_registry_it_is_given_and_refuses_none() -> None:
    env = {**os.environ, "MAKEFLAGS": ""}
    planned = subprocess.run(
        ["make", "-n", "push", f"REGISTRY={REGISTRY}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert planned.returncode == 0, planned.stderr
    assert f"python -m devcluster.push --arch amd64 {REGISTRY}" in planned.stdout
    missing = subprocess.run(
        ["make", "-n", "push"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert missing.returncode != 0
    assert "make push needs REGISTRY=" in missing.stderr
