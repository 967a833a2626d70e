"""The master is recognised the ways Locust itself is told to be one."""

import os
from pathlib import Path

import pytest

from app.finisher.processes import Process, config_role, find_master, role


def fake_process(
    proc: Path,
    pid: int,
    argv: list[str],
    *,
    environ: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
    cwd: str = "/",
    start: int = 100,
) -> Process:
    """A /proc/PID entry with its command line, environment and filesystem (``root``)."""
    entry = proc / str(pid)
    entry.mkdir(parents=True)
    (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (entry / "stat").write_text(f"{pid} (x) S 1 " + " ".join(["0"] * 17) + f" {start} 0\n")
    if environ is not None:
        (entry / "environ").write_bytes(
            b"\0".join(f"{k}={v}".encode() for k, v in environ.items()) + b"\0"
        )
    root = entry / "root"
    root.mkdir()
    for path, text in (files or {}).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (root / cwd.lstrip("/")).mkdir(parents=True, exist_ok=True)
    os.symlink(root / cwd.lstrip("/"), entry / "cwd")
    return Process(pid, tuple(argv), start)


LOCUST = ["/usr/local/bin/python", "/usr/local/bin/locust", "-f", "/mnt/locust/test.py"]


def test_the_command_line_is_read_first(tmp_path: Path) -> None:
    master = fake_process(tmp_path, 10, [*LOCUST, "--master"])
    worker = fake_process(tmp_path, 11, [*LOCUST, "--worker"], environ={"LOCUST_MODE_MASTER": "1"})
    assert (role(master, tmp_path), role(worker, tmp_path)) == ("master", "worker")


@pytest.mark.parametrize("value", ["true", "True", "1", "yes"])
def test_locust_mode_master_in_the_environment_makes_a_master(tmp_path: Path, value: str) -> None:
    process = fake_process(tmp_path, 10, LOCUST, environ={"LOCUST_MODE_MASTER": value})
    assert role(process, tmp_path) == "master"


def test_locust_conf_in_the_working_directory_makes_a_master(tmp_path: Path) -> None:
    process = fake_process(
        tmp_path,
        10,
        LOCUST,
        environ={},
        cwd="/home/locust",
        files={"/home/locust/locust.conf": "master = true\n"},
    )
    assert role(process, tmp_path) == "master"


def test_a_config_file_named_by_flag_or_env_and_the_home_one_are_read(tmp_path: Path) -> None:
    by_flag = fake_process(
        tmp_path,
        10,
        [*LOCUST, "--config=/etc/l.conf"],
        environ={},
        files={"/etc/l.conf": "master: true"},
    )
    by_env = fake_process(
        tmp_path,
        11,
        LOCUST,
        environ={"LOCUST_CONFIG": "/c/x.conf"},
        files={"/c/x.conf": "master=yes"},
    )
    home = fake_process(
        tmp_path,
        12,
        LOCUST,
        environ={"HOME": "/root"},
        files={"/root/.locust.conf": "master = true"},
    )
    assert [role(p, tmp_path) for p in (by_flag, by_env, home)] == ["master"] * 3


def test_config_files_say_worker_over_master_and_ignore_comments() -> None:
    assert config_role("# master = true\nworker = true\nmaster = true\n") == "worker"
    assert config_role("[locust]\nusers = 5\n") is None
    assert config_role("--master = true") == "master"


def test_an_unreadable_locust_is_still_taken_when_no_marked_master_runs(tmp_path: Path) -> None:
    # Another uid's environment cannot be read (no environ file here): the webhook injected
    # us into a master pod, so the Locust process in it is the one to watch.
    fake_process(tmp_path, 5, ["/pause"])
    fake_process(tmp_path, 7, ["/bin/locust_exporter", "--locust.uri=http://localhost:8089"])
    fake_process(tmp_path, 8, ["python", "/app/locust-finisher", "finish"], environ={})
    unmarked = fake_process(tmp_path, 20, LOCUST, start=300)
    assert role(unmarked, tmp_path) == "locust"
    assert find_master(proc=tmp_path) == unmarked


def test_a_marked_master_wins_over_an_older_unmarked_locust(tmp_path: Path) -> None:
    fake_process(tmp_path, 20, LOCUST, start=100)
    master = fake_process(tmp_path, 30, [*LOCUST, "--master"], start=200)
    fake_process(tmp_path, 40, [*LOCUST, "--worker"], start=50)
    assert find_master(proc=tmp_path) == master


def test_workers_the_exporter_and_ourselves_are_never_the_master(tmp_path: Path) -> None:
    fake_process(tmp_path, 40, [*LOCUST, "--worker"])
    fake_process(tmp_path, 41, LOCUST, environ={"LOCUST_MODE_WORKER": "true"})
    fake_process(tmp_path, 42, ["/bin/locust_exporter"])
    fake_process(tmp_path, 43, ["/usr/bin/python3", "/usr/local/bin/locust-finisher", "finish"])
    assert find_master(proc=tmp_path) is None
