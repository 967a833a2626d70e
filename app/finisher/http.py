"""The finisher's few HTTP calls, on the standard library, each bounded in bytes and time.

It lives in every test pod, so it stays small: no HTTP client package, no event loop.
``http.client`` is imported on the first request, so the supervisor, which only parses URLs,
never pays for it, and without ``ssl`` (:func:`load_http_client`): every call here is plain
HTTP, and OpenSSL would cost the container 6 MiB of its 64.

What Locust and the exporter answer is not ours: a test's error pages can make Locust's
stats tens of megabytes, and a stuck or hostile server can drip a byte at a time. A socket
timeout bounds each ``recv``, not a read, so every receive here is given what is left of one
wall-clock deadline, headers and chunk lines included; every body is read in chunks and
given up past its byte cap. Both raise :class:`ReadCapError`, which the callers turn into a
line of the summary: a read given up never costs the finisher its memory or its pod.
"""

import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import http.client

    from _typeshed import WriteableBuffer

QuitOutcome = Literal["quit", "gone", "answered"]

CHUNK = 64 * 1024
# Each receive waits at most this long for a first byte (what the finisher always allowed).
IDLE_SECONDS = 3.0
# The exporter's /metrics: about 1 KiB per request name and one line per kind of error, and
# Locust lists 500 of each at most; a bigger answer is given up (it is scanned as it streams,
# never held: app.finisher.run.MetricsScan). Also the cap of get(), which holds its answer.
GET_LIMIT = 4 * 1024 * 1024
# The exporter answers once it has read Locust (its own timeout is 5 s).
GET_SECONDS = 10.0
QUIT_SECONDS = 5.0


def load_http_client() -> None:
    """Import ``http.client`` with ``ssl`` kept out; call it before ``import http.client``.

    ``http.client`` imports ``ssl`` only for ``HTTPSConnection`` and does without it when
    the import fails. Loaded, ``ssl`` maps libssl and libcrypto (5.5 MB of page cache, which
    the container is charged for) and initialises OpenSSL (about 1 MiB more). ``ssl`` stays
    importable afterwards for anyone who needs it.
    """
    if "http.client" in sys.modules or "ssl" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # import ssl: ImportError
    try:
        import http.client  # noqa: F401
    finally:
        del sys.modules["ssl"]


class ReadCapError(OSError):
    """A read given up at its cap, in bytes or in time: the summary says which."""


class _DeadlineSocket(socket.socket):
    """A socket whose every receive ends by one deadline, however slowly bytes arrive."""

    deadline: float
    idle: float
    seconds: float

    def _arm(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ReadCapError(f"not read within {self.seconds:g} s")
        self.settimeout(min(self.idle, remaining))

    def _timed_out(self) -> ReadCapError | None:
        """The cap, when the deadline (not the idle timeout) ended the receive."""
        if time.monotonic() < self.deadline:
            return None
        return ReadCapError(f"not read within {self.seconds:g} s")

    def recv_into(self, buffer: "WriteableBuffer", nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        try:
            return super().recv_into(buffer, nbytes, flags)
        except TimeoutError:
            raise self._timed_out() or TimeoutError("timed out") from None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        try:
            return super().recv(bufsize, flags)
        except TimeoutError:
            raise self._timed_out() or TimeoutError("timed out") from None


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit / 2**10:g} KiB"


@dataclass(frozen=True)
class Endpoint:
    """An ``http://host:port`` base URL, split."""

    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> "Endpoint":
        """Parse ``http://host[:port]``.

        Raises:
            ValueError: for anything else.
        """
        shown = repr(url if len(url) <= 60 else url[:57] + "...")
        try:
            parts = urlsplit(url)
            port = 80 if parts.port is None else parts.port
        except ValueError:  # a port that is not a number in 0-65535
            raise ValueError(f"{shown} is not an http://host:port URL") from None
        if parts.scheme != "http" or not parts.hostname or port == 0:
            raise ValueError(f"{shown} is not an http://host:port URL")
        return cls(parts.hostname, port)

    def _connection(self, seconds: float, idle: float) -> "http.client.HTTPConnection":
        """A connection whose every receive ends ``seconds`` from now at the latest."""
        load_http_client()
        import http.client

        deadline = time.monotonic() + seconds
        connection = http.client.HTTPConnection(self.host, self.port)
        plain = socket.create_connection((self.host, self.port), min(idle, seconds))
        sock = _DeadlineSocket(fileno=plain.detach())
        sock.deadline, sock.idle, sock.seconds = deadline, idle, seconds
        sock.settimeout(min(idle, seconds))
        connection.sock = sock
        return connection

    def stream(
        self,
        path: str,
        sink: Callable[[bytes], object],
        *,
        limit: int,
        seconds: float,
        idle: float = IDLE_SECONDS,
    ) -> int:
        """GET ``path``; hand a 200's body to ``sink`` chunk by chunk. The HTTP status.

        Raises:
            ReadCapError: past ``limit`` bytes of body, or ``seconds`` after the start.
            OSError, http.client.HTTPException: when it cannot be read.
        """
        load_http_client()
        import http.client

        connection = self._connection(seconds, idle)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            if response.status != 200:
                return response.status
            size = 0
            # read1: what has arrived, so the deadline is looked at between any two receives.
            while chunk := response.read1(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ReadCapError(f"more than {_size(limit)}")
                sink(chunk)
            if response.length:  # the server closed before the Content-Length it announced
                raise http.client.IncompleteRead(b"", response.length)
            return response.status
        finally:
            connection.close()

    def get(
        self,
        path: str,
        timeout: float = IDLE_SECONDS,
        *,
        limit: int = GET_LIMIT,
        seconds: float = GET_SECONDS,
    ) -> tuple[int, bytes]:
        """GET ``path``: the status and (for a 200) the body, at most ``limit`` bytes.

        Raises:
            ReadCapError: past ``limit`` bytes, or ``seconds`` after the start.
            OSError, http.client.HTTPException: when it cannot be read.
        """
        pieces: list[bytes] = []
        status = self.stream(path, pieces.append, limit=limit, seconds=seconds, idle=timeout)
        return status, b"".join(pieces)

    def get_json(self, path: str, timeout: float = IDLE_SECONDS) -> dict[str, Any] | None:
        """GET a small JSON object; None if unreachable, too large, not 200 or not JSON."""
        load_http_client()
        import http.client

        try:
            status, body = self.get(path, timeout)
            document = json.loads(body) if status == 200 else None
        except (OSError, http.client.HTTPException, ValueError, RecursionError):
            return None
        return document if isinstance(document, dict) else None

    def quit(self, path: str = "/quitquitquit", timeout: float = 3.0) -> tuple[QuitOutcome, str]:
        """POST ``path`` to make the exporter exit.

        locust_exporter exits inside the handler without answering, so a closed or reset
        connection means it worked; a refused one means it was already gone.
        """
        load_http_client()
        import http.client

        try:
            connection = self._connection(QUIT_SECONDS, timeout)
        except ConnectionRefusedError:
            return "gone", "connection refused"
        except OSError as error:
            return "answered", f"no clean exit: {error}"
        try:
            connection.request("POST", path)
            response = connection.getresponse()  # an answer: it did not quit; its body is not read
            return "answered", f"HTTP {response.status}"
        except ConnectionRefusedError:
            return "gone", "connection refused"
        except (
            http.client.RemoteDisconnected,
            http.client.BadStatusLine,
            ConnectionResetError,
            BrokenPipeError,
        ):
            return "quit", "connection closed without an answer"
        except (TimeoutError, OSError, http.client.HTTPException) as error:
            return "answered", f"no clean exit: {error}"
        finally:
            connection.close()

    def accepts_connections(self, timeout: float = 1.0) -> bool:
        """Whether something still listens at the endpoint."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False
