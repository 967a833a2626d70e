"""One place changes the finisher image: kustomize's ``images:`` reaches the injected container.

Platforms that mirror images rewrite both of ours with ``images:``; the webhook must then
inject the mirrored finisher, or every managed master pod would pull from ghcr.io.
"""

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import __version__
from app.cli.main import build_parser
from app.core.cluster_config import InjectionConfig, parse_cluster_config
from app.core.finisher_spec import FinisherImage
from tests.manifests.render import MANIFESTS, Key, chart_objects, kustomize_objects

DEPLOYMENT = ("Deployment", "locust-finisher", "locust-finisher-webhook")
CONFIG = ("ConfigMap", "locust-finisher", "locust-finisher-config")


def expanded(container: dict[str, Any]) -> list[str]:
    """The container's command line after the kubelet expands ``$(VAR)`` from its env."""
    env = {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}

    def expand(argument: str) -> str:
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env[m.group(1)], argument)

    return [expand(argument) for argument in [*container["command"], *container["args"]]]


def injected_image(rendered: dict[Key, dict[str, Any]]) -> FinisherImage:
    """The finisher image the webhook will inject, worked out as ``webhook`` does on start."""
    container = rendered[DEPLOYMENT]["spec"]["template"]["spec"]["containers"][0]
    command = expanded(container)
    assert command[0] == "locust-finisher"
    args = build_parser().parse_args(command[1:])
    base = InjectionConfig(image=FinisherImage(image=args.finisher_image))
    document = yaml.safe_load(rendered[CONFIG]["data"]["config.yaml"])
    return parse_cluster_config(document, base).image


def mirrored_overlay(directory: Path) -> Path:
    overlay = directory / "mirror"
    overlay.mkdir()
    base = os.path.relpath(MANIFESTS / "overlays" / "cert-manager", overlay)
    (overlay / "kustomization.yaml").write_text(
        f"resources:\n  - {base}\n"
        "images:\n"
        "  - name: ghcr.io/locust-finisher/locust-finisher\n"
        "    newName: mirror.example/lf/locust-finisher\n"
        "  - name: ghcr.io/locust-finisher/finisher\n"
        "    newName: mirror.example/lf/finisher\n"
        "    newTag: 9.9.9\n"
    )
    return overlay


def test_the_kustomize_install_injects_this_versions_finisher() -> None:
    rendered = kustomize_objects(MANIFESTS / "overlays" / "cert-manager")
    assert injected_image(rendered) == FinisherImage()
    assert injected_image(rendered).image == f"ghcr.io/locust-finisher/finisher:{__version__}"


def test_an_images_rewrite_reaches_the_injected_finisher(tmp_path: Path) -> None:
    rendered = kustomize_objects(mirrored_overlay(tmp_path))
    assert injected_image(rendered).image == "mirror.example/lf/finisher:9.9.9"
    for deployment in ("locust-finisher-webhook", "locust-finisher-controller"):
        pod = rendered[("Deployment", "locust-finisher", deployment)]["spec"]["template"]
        image = pod["spec"]["containers"][0]["image"]
        assert image == f"mirror.example/lf/locust-finisher:{__version__}"
    # Only values naming the image change; the controller's own env stays as written.
    controller = rendered[("Deployment", "locust-finisher", "locust-finisher-controller")]
    env = controller["spec"]["template"]["spec"]["containers"][0]["env"]
    assert all("value" not in item for item in env)


@pytest.mark.parametrize(
    ("values", "image"),
    [
        ((), f"ghcr.io/locust-finisher/finisher:{__version__}"),
        (
            ("finisherImage.repository=mirror.example/lf/finisher", "finisherImage.tag=9.9.9"),
            "mirror.example/lf/finisher:9.9.9",
        ),
    ],
)
def test_the_chart_injects_its_finisher_image(values: tuple[str, ...], image: str) -> None:
    assert injected_image(chart_objects(*values)).image == image


def test_the_chart_and_kustomize_pass_arguments_the_cli_accepts() -> None:
    for rendered in (
        chart_objects("certManager.enabled=true", "logLevel=debug"),
        kustomize_objects(MANIFESTS / "overlays" / "cert-manager"),
    ):
        for key, obj in rendered.items():
            if key[0] != "Deployment":
                continue
            container = obj["spec"]["template"]["spec"]["containers"][0]
            # argparse exits on anything it does not know.
            build_parser().parse_args(expanded(container)[1:])
