"""The finisher's few HTTP calls, on the standard library.

It lives in every test pod, so it stays small: no HTTP client package, no event loop.
``http.client`` (which loads ``ssl``, megabytes) is imported on the first request, so the
supervisor, which only parses URLs, never pays for it.
"""

import json
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import http.client

QuitOutcome = Literal["quit", "gone", "answered"]


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

    def _connection(self, timeout: float) -> "http.client.HTTPConnection":
        import http.client

        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def get(self, path: str, timeout: float = 3.0) -> tuple[int, bytes]:
        """GET ``path``.

        Raises:
            OSError, http.client.HTTPException: when it cannot be read.
        """
        connection = self._connection(timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def get_json(self, path: str, timeout: float = 3.0) -> dict[str, Any] | None:
        """GET a JSON object; None if unreachable, not 200 or not JSON."""
        import http.client

        try:
            status, body = self.get(path, timeout)
            document = json.loads(body) if status == 200 else None
        except (OSError, http.client.HTTPException, ValueError):
            return None
        return document if isinstance(document, dict) else None

    def quit(self, path: str = "/quitquitquit", timeout: float = 3.0) -> tuple[QuitOutcome, str]:
        """POST ``path`` to make the exporter exit.

        locust_exporter exits inside the handler without answering, so a closed or reset
        connection means it worked; a refused one means it was already gone.
        """
        import http.client

        connection = self._connection(timeout)
        try:
            connection.request("POST", path)
            response = connection.getresponse()
            response.read()
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
