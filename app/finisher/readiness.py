"""The postStart gate: the finisher says "I am watching"; the hook waits to hear it.

kubelet starts a pod's containers in order and waits for each one's postStart hook before
starting the next (Istio's holdApplicationUntilProxyStarts relies on the same rule). Our
container comes first and its hook returns only once the finisher is watching, so the
Locust master can never start, or end, unseen.

The signal is an abstract Unix socket: it lives in the pod's network namespace and needs
no file, so it works with a read-only root filesystem and no volume. A ``hostNetwork`` pod
shares the node's network namespace, where every such pod's socket would meet: the name
therefore carries our container's mount namespace. The hook is exec'd into our container,
so it joins that namespace and computes the same name; no other running container has it
(the kernel reuses a namespace's number only once it is gone). This needs nothing from the
webhook, so pods mutated by older versions get it too.
"""

import os
import socket
import time

from app.core.env_names import ENV_READY_SOCKET

DEFAULT_NAME = "locust-finisher.ready"


NAMESPACE_LINK = "/proc/self/ns/mnt"


def socket_name() -> str:
    """The abstract socket's name: per container, or as configured (tests run several)."""
    configured = os.environ.get(ENV_READY_SOCKET)
    if configured:
        return configured
    try:
        namespace = os.readlink(NAMESPACE_LINK)  # "mnt:[4026532417]"
    except OSError:
        return DEFAULT_NAME
    number = "".join(character for character in namespace if character.isdigit())
    return f"{DEFAULT_NAME}.{number}" if number else DEFAULT_NAME


def announce_ready(name: str | None = None) -> socket.socket:
    """Start listening; keep the returned socket open for as long as we watch."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + (name or socket_name()))
    listener.listen(8)
    listener.setblocking(False)
    return listener


def await_ready(timeout: float, name: str | None = None) -> bool:
    """Wait until the finisher listens; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    address = "\0" + (name or socket_name())
    while True:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(address)
                return True
            except OSError:
                pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
