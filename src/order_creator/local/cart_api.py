"""A local Cart API on loopback: serves carts from memory (loaded from a JSON file) the way contract §3 says.

`GET /v1.0/carts/{cartId}?tenantId=T` answers the cart as JSON (amounts written as the exact decimals
they were read as), 404 when the tenant has no such cart. For tests and demonstrations it can be made
slow (`delay_seconds`) or down (`available = False`: every request answers 503). Thread-safe: one
thread per request, the carts behind a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from order_creator.operations import exact_json

API_PREFIX = "/v1.0"


class CartApiServer:
    """Start with `start()`, which returns the base URL including `/v1.0`; `stop()` shuts it down."""

    def __init__(self, carts: Iterable[dict[str, Any]] = (), host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._carts: dict[tuple[str, str], str] = {}
        self._available = True
        self._delay = 0.0
        self.requests = 0
        for cart in carts:
            self.put(cart)
        self._server = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @classmethod
    def from_file(cls, path: str | Path, host: str = "127.0.0.1", port: int = 0) -> CartApiServer:
        """A server of the carts in `path`: a JSON array of cart documents. Raises OSError or ValueError."""
        from order_creator.local.run import read_json

        document = read_json(path)
        if not isinstance(document, list) or not all(
            isinstance(c, dict) and isinstance(c.get("tenantId"), str) and isinstance(c.get("cartId"), str)
            for c in document
        ):
            raise ValueError(f"{path}: expected a JSON array of carts, each with a tenantId and a cartId")
        return cls(document, host, port)

    def put(self, cart: dict[str, Any]) -> None:
        """Serve this cart (numbers as int or Decimal) from now on, replacing any with its tenant and id."""
        text = exact_json(cart)
        with self._lock:
            self._carts[(str(cart["tenantId"]), str(cart["cartId"]))] = text

    @property
    def available(self) -> bool:
        """False: every request answers 503, as a Cart API that is down would."""
        with self._lock:
            return self._available

    @available.setter
    def available(self, value: bool) -> None:
        with self._lock:
            self._available = value

    @property
    def delay_seconds(self) -> float:
        """How long every answer waits before it is sent."""
        with self._lock:
            return self._delay

    @delay_seconds.setter
    def delay_seconds(self, value: float) -> None:
        with self._lock:
            self._delay = value

    def answer(self, path: str) -> tuple[int, str]:
        """The status and JSON body for a request path (with its query string)."""
        with self._lock:
            self.requests += 1
            available, delay = self._available, self._delay
        if delay:
            time.sleep(delay)
        if not available:
            return 503, '{"message": "Service Unavailable"}'
        url = urlsplit(path)
        prefix = f"{API_PREFIX}/carts/"
        tenant = parse_qs(url.query).get("tenantId", [""])[0]
        if not url.path.startswith(prefix) or not tenant:
            return 400, '{"message": "expected GET /v1.0/carts/{cartId}?tenantId=..."}'
        with self._lock:
            text = self._carts.get((tenant, unquote(url.path.removeprefix(prefix))))
        return (200, text) if text is not None else (404, '{"message": "cart not found"}')

    def start(self) -> str:
        """Serve in a daemon thread; return the base URL, e.g. `http://127.0.0.1:8123/v1.0`."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="cart-api", daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        """The base URL for CART_LAMBDA_API_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PREFIX}"

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> CartApiServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a batch fetches ten carts at once.
    request_queue_size = 128


def _handler_for(api: CartApiServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, text = api.answer(self.path)
            body = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the caller's output is the table, not an access log."""

    return _Handler
