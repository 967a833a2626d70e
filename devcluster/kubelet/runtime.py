"""Container processes: start them through the launcher, signal them, exec into them."""

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAUNCHER = Path(__file__).resolve().parent / "launcher.py"


async def launch(mode: str, spec: dict[str, Any], log_path: Path) -> asyncio.subprocess.Process:
    """Start the launcher in ``mode`` in a session of its own, output appended to ``log_path``."""
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(LAUNCHER),
            mode,
            stdin=asyncio.subprocess.PIPE,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    assert process.stdin is not None
    process.stdin.write(json.dumps(spec).encode())
    await process.stdin.drain()
    process.stdin.close()
    return process


def signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    """Send ``signum`` to the launcher's process group (the container process included)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)


async def stop_process(process: asyncio.subprocess.Process, grace_seconds: float) -> None:
    """SIGTERM, wait up to the grace period, then SIGKILL."""
    signal_group(process, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), max(grace_seconds, 0.1))
    except TimeoutError:
        signal_group(process, signal.SIGKILL)
        await process.wait()


async def read_pid(pid_file: Path, timeout: float = 10.0) -> int:
    """The host PID the launcher wrote once the container process existed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        with contextlib.suppress(OSError, ValueError):
            return int(pid_file.read_text())
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no pid in {pid_file}")


@dataclass
class ExecResult:
    """What a command run inside a container did."""

    exit_code: int
    output: str


async def exec_in_container(
    target_pid: int,
    argv: list[str],
    env: dict[str, str],
    uid: int | None,
    gid: int | None,
    timeout: float,
    log_path: Path,
) -> ExecResult:
    """Run ``argv`` in the namespaces of the process ``target_pid`` (hooks and probes)."""
    spec = {"target_pid": target_pid, "argv": argv, "env": env, "uid": uid, "gid": gid}
    output_path = log_path.with_suffix(f".exec{os.getpid()}.{id(spec)}")
    process = await launch("exec", spec, output_path)
    output = ""
    try:
        code = await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        signal_group(process, signal.SIGKILL)
        await process.wait()
        code = 137
    finally:
        with contextlib.suppress(OSError):
            output = output_path.read_text(errors="replace")
            output_path.unlink()
    return ExecResult(code, output)
