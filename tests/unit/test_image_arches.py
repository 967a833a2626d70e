"""arm64 images are an option beside the node's amd64 ones, and never change those.

Building them takes minutes under qemu (``make images-arm64-check`` does, and runs them), so
these tests check only the plan: what each build is told, what it is named and keyed by.
"""

import os
import subprocess
from pathlib import Path

import pytest

from devcluster import images
from devcluster.images import AMD64, ARM64

ROOT = Path(__file__).resolve().parents[2]


def test_the_node_s_bases_name_no_architecture_so_their_keys_stay_as_they_were() -> None:
    for command in (images._base_command, images._bare_command):
        argv = command(Path("rootfs.tar"), AMD64)
        assert not [word for word in argv if word.startswith("--arch")], argv
    assert images._base().name == "debian-python"
    assert images._finisher_base().name == "debian-python-bare"


def test_arm64_bases_are_arm64_packages_without_arm64_iconv_modules() -> None:
    base = images._base_command(Path("rootfs.tar"), ARM64)
    bare = images._bare_command(Path("rootfs.tar"), ARM64)
    assert "--arch=arm64" in base
    assert "--arch=arm64" in bare
    assert "--dpkgopt=path-exclude=/usr/lib/aarch64-linux-gnu/gconv/*" in bare


def test_arm64_images_are_their_own_names_keys_and_bases() -> None:
    plan = images._plan_ours(ARM64)
    assert [image.name for image in plan] == [
        "debian-python-arm64",
        "debian-python-bare-arm64",
        "locust-finisher-finisher-arm64",
        "locust-finisher-app-arm64",
    ]
    native = {image.key for image in (images._base(), images._finisher_base())}
    assert not native & {image.key for image in plan}
    for ours in plan[2:]:
        assert ours.bases == (plan[0], plan[1])
        # Published under the same references as amd64: one multi-arch name per image.
        assert ours.references[0].startswith("ghcr.io/locust-finisher/")


def _binfmt(tmp_path: Path, status: str, entry: str) -> Path:
    (tmp_path / "status").write_text(status)
    (tmp_path / "qemu-aarch64").write_text(entry)
    return tmp_path / "qemu-aarch64"


# qemu-user-static's entry as update-binfmts registers it: F, the emulator opened up front.
_QEMU = "interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n"


@pytest.mark.parametrize(
    ("status", "entry", "emulated"),
    [
        ("enabled\n", f"enabled\n{_QEMU}", True),
        # Without F the kernel looks the emulator up in the chroot, where a RUN step has none.
        ("enabled\n", "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: P\n", False),
        ("enabled\n", f"disabled\n{_QEMU}", False),
        ("disabled\n", f"enabled\n{_QEMU}", False),
    ],
)
def test_emulation_counts_only_an_enabled_entry_with_the_emulator_opened_up_front(
    tmp_path: Path, status: str, entry: str, emulated: bool
) -> None:
    assert images._emulated(_binfmt(tmp_path, status, entry)) is emulated


def test_no_binfmt_misc_is_no_emulation(tmp_path: Path) -> None:
    assert not images._emulated(tmp_path / "qemu-aarch64")


@pytest.mark.parametrize(
    ("arguments", "environment", "arch"),
    [
        ([], {}, "amd64"),
        (["ARCH=arm64"], {}, "arm64"),
        # A kernel's ARCH in the environment is not ours.
        ([], {"ARCH": "x86_64"}, "amd64"),
    ],
)
def test_make_images_builds_amd64_unless_arch_is_given_on_its_command_line(
    arguments: list[str], environment: dict[str, str], arch: str
) -> None:
    shown = subprocess.run(
        ["make", "--no-print-directory", "-n", "images", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **environment},
    ).stdout
    (build,) = [line for line in shown.splitlines() if "devcluster.images" in line]
    assert build.endswith(f"--arch {arch}")
