"""Reading an HTTP request's head off a raw socket, for the hostile servers tests and benches run.

Those servers answer by hand (a drip, an endless body, a wrong length), so they read the
request themselves: up to the blank line, at most 64 KiB, as a real server would bound it.
"""

import socket

MAX_HEAD_BYTES = 65536


def read_head(connection: socket.socket) -> bytes | None:
    """The request's head (with whatever of the body came along); None if the client left."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < MAX_HEAD_BYTES:
        data = connection.recv(4096)
        if not data:
            return None
        head += data
    return head
