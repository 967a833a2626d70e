"""Start one container process inside its pod's namespaces (run as root by the process kubelet).

This is the part of a container runtime the tests need, and nothing more:

* the pod's network namespace (its own IP; ``localhost`` is the pod's) and hostname;
* a PID namespace: the pod's shared one (``shareProcessNamespace``) or a fresh one per
  container, with a matching ``/proc``;
* a private mount namespace whose root is a bind of the host's (read-only when the
  container asks for ``readOnlyRootFilesystem``), with the container's volumes,
  ``/etc/hosts`` and ``/dev/termination-log`` bind-mounted into it;
* the container's user and group; ``no_new_privs``.

Modes (one JSON document on stdin describes the work):

* ``run``: start the container's command and exit with its status (128+N for signal N);
* ``pause``: the pod's PID-namespace holder, which reaps orphans until killed;
* ``exec``: run a command inside a running container's namespaces (hooks, probes).

It uses only the standard library and ctypes: Python 3.11 has no ``os.setns``.
"""

import ctypes
import json
import os
import signal
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _setns(path: str, kind: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _check(_libc.setns(fd, kind), f"setns {path}")
    finally:
        os.close(fd)


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _mount(source: str, target: str, fstype: str | None, flags: int) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            None,
        ),
        f"mount {source} on {target}",
    )


def _bind(source: str, target: str, read_only: bool) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        _mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _wait_for(child: int) -> int:
    """Wait for ``child`` and return its status as a container exit code."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
        except InterruptedError:
            continue
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        return os.WEXITSTATUS(status)


def _become(spec: dict[str, Any]) -> None:
    """Drop to the container's identity and working directory."""
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    gid = spec.get("gid")
    uid = spec.get("uid")
    if gid is not None or uid is not None:
        os.setgroups([])
    if gid is not None:
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)
    os.chdir(spec.get("workdir") or "/")


def _exec(spec: dict[str, Any]) -> None:
    argv = spec["argv"]
    env = spec["env"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as error:
        print(f"exec {argv[0]}: {error.strerror}", file=sys.stderr)
        os._exit(127)


def _prepare_mounts(spec: dict[str, Any]) -> None:
    """In the new mount and PID namespaces: a root of its own, volumes, /proc; then chroot.

    The host's root is bind-mounted (with its submounts) onto an empty directory, so the
    container's root is a mount of its own that can be made read-only without touching the
    host's, and so volumes can be mounted anywhere inside it.
    """
    root = spec["rootfs"]
    _mount("/", root, None, MS_BIND | MS_REC)
    if spec.get("read_only_root"):
        _mount("none", root, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    for mount in spec.get("mounts", []):
        # The root mirrors the host's, so the host resolves symlinks in the target the way
        # the container will (/var/run -> /run): resolve here, then mount inside the root.
        target = os.path.realpath(mount["target"])
        _bind(mount["source"], root + target, mount.get("readOnly", False))
    os.chroot(root)
    os.chdir("/")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def run(spec: dict[str, Any]) -> int:
    """Start the container and wait for it; our exit status is the container's."""
    _setns(spec["netns"], CLONE_NEWNET)
    _unshare(CLONE_NEWNS | CLONE_NEWUTS)
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    if spec.get("hostname"):
        name = spec["hostname"].encode()
        _check(_libc.sethostname(name, len(name)), "sethostname")
    if spec.get("pidns"):
        _setns(spec["pidns"], CLONE_NEWPID)
    else:
        _unshare(CLONE_NEWPID)
    child = os.fork()
    if child == 0:
        try:
            _prepare_mounts(spec)
            _become(spec)
        except OSError as error:
            print(f"container set-up failed: {error}", file=sys.stderr)
            os._exit(128)
        _exec(spec)
    # The kubelet signals our whole process group; the container decides what a signal means.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if spec.get("pid_file"):
        with open(spec["pid_file"], "w") as pid_file:
            pid_file.write(str(child))
    return _wait_for(child)


def pause(spec: dict[str, Any]) -> int:
    """Hold the pod's PID namespace: be its init, reap orphans, until killed."""
    _setns(spec["netns"], CLONE_NEWNET)
    _unshare(CLONE_NEWPID)
    child = os.fork()
    if child == 0:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        while True:
            try:
                os.wait()
            except ChildProcessError:
                signal.pause()
    with open(spec["pid_file"], "w") as pid_file:
        pid_file.write(str(child))
    return _wait_for(child)


def exec_in(spec: dict[str, Any]) -> int:
    """Run a command in a running container's namespaces (postStart/preStop hooks, probes)."""
    target = spec["target_pid"]
    # The PID namespace first (it applies to our children), the mount namespace last: after
    # it, /proc/<target> may no longer name the same process.
    namespace_fds = [
        (os.open(f"/proc/{target}/ns/{name}", os.O_RDONLY), kind)
        for name, kind in (
            ("net", CLONE_NEWNET),
            ("uts", CLONE_NEWUTS),
            ("pid", CLONE_NEWPID),
            ("mnt", CLONE_NEWNS),
        )
    ]
    for fd, kind in namespace_fds:
        _check(_libc.setns(fd, kind), "setns")
        os.close(fd)
    child = os.fork()
    if child == 0:
        _become(spec)
        _exec(spec)
    return _wait_for(child)


def main() -> int:
    """Read the spec from stdin and act on it."""
    mode = sys.argv[1]
    spec = json.load(sys.stdin)
    # Our stdin was the spec; the container gets none, as in Kubernetes by default.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    try:
        return {"run": run, "pause": pause, "exec": exec_in}[mode](spec)
    except OSError as error:
        print(f"launcher {mode}: {error}", file=sys.stderr)
        return 128


if __name__ == "__main__":
    sys.exit(main())
