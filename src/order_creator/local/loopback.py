"""The mechanism every local HTTP server shares: loopback, a thread per connection, quiet, stoppable.

A server subclasses `LoopbackServer` and implements `handle` (one request, any method); `reply` sends
an answer. The local Cart API, the test and benchmark Cart APIs and the wire proxy are such subclasses.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = (("Content-Type", "application/json"),)


class LoopbackServer:
    """Serves `handle` on `host:port` (port 0: any free one). `start()` returns `url`; `stop()` ends it."""

    path = ""  # what `url` adds to `http://host:port`, e.g. the Cart API's version
    scheme = "http"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one request (any method), typically with `reply`."""
        raise NotImplementedError

    def start(self) -> str:
        """Serve in daemon threads; return `url`."""
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        """`scheme://host:port` and `path`."""
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}{self.path}"

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def reply(request: BaseHTTPRequestHandler, status: int, body: bytes, headers: Iterable[tuple[str, str]] = JSON) -> bool:
    """Send a whole answer; False when the client had already gone (it timed out or was killed)."""
    try:
        request.send_response(status)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
        request.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        request.close_connection = True
        return False
    return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a batch fetches ten carts at once.
    request_queue_size = 128


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as boto3 and requests expect
        disable_nagle_algorithm = True  # else headers and body in two segments cost a 40 ms delayed ACK

        def handle(self) -> None:
            with contextlib.suppress(ConnectionError):  # a client killed between two requests
                super().handle()

        def do_GET(self) -> None:
            with contextlib.suppress(ConnectionError):  # a client killed or timed out mid-request
                server.handle(self)

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the caller's output is its own, not an access log."""

    return _Handler
