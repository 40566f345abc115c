"""The network the benchmark runs against: the emulator, a delaying proxy in front of it, and a slow Cart API.

Each runs in its own process (`python bench/servers.py moto|network ...`), so the code under test does
not share a GIL with the servers, and prints its URL(s) as one JSON line on stdout when ready.

- `moto`: the project's single-threaded moto server (`order_creator.local.MotoServer`), which serialises
  requests as DynamoDB does.
- `network`: a threaded loopback HTTP proxy that waits `--dynamodb-delay` seconds before forwarding each
  request to moto (clients reach it through `AWS_ENDPOINT_URL`), and a threaded Cart API that answers
  `GET /v1.0/carts/{cartId}?tenantId=...` with a valid three-item cart after `--cart-delay` seconds.
  Both serve concurrent requests, as the real services do.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.factories import cart, cart_json

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}
CART_PRICES = ("149.99", "49.50", "12.00")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class DelayProxy:
    """Forwards every request to `upstream` after `delay` seconds, one at a time; counts requests and moto's time."""

    def __init__(self, upstream: str, delay: float) -> None:
        target = urlsplit(upstream)
        self.delay = delay
        self.counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._upstream = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body in two segments cost a 40 ms delayed ACK

            def log_message(self, *_: Any) -> None:  # quiet: one line per request would dominate
                pass

            def do_GET(self) -> None:
                if self.path == "/__counts":
                    with proxy._lock:
                        body = json.dumps(proxy.counts).encode()
                    self._reply(200, [("Content-Type", "application/json")], body)
                else:
                    self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                operation = (self.headers.get("X-Amz-Target") or "other").rsplit(".", 1)[-1]
                time.sleep(proxy.delay)  # the network's round trip, paid once per request
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                connection = proxy._connection(target.hostname or "127.0.0.1", target.port or 80)
                # moto serves one request at a time anyway; queueing here instead of in its listen backlog
                # lets the time under the lock be moto's own processing time, without the wait.
                with proxy._upstream:
                    sent = time.perf_counter()
                    try:
                        connection.request(self.command, self.path, body=body, headers=headers)
                        response = connection.getresponse()
                        payload = response.read()
                    except (OSError, http.client.HTTPException):
                        proxy._local.connection = None
                        self._reply(502, [("Content-Type", "text/plain")], b"upstream failed")
                        return
                    busy = time.perf_counter() - sent
                with proxy._lock:
                    count, seconds = proxy.counts.get(operation, (0, 0.0))
                    proxy.counts[operation] = (count + 1, seconds + busy)
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
                self._reply(response.status, kept, payload)

            def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left: count it
                    with proxy._lock:
                        count, seconds = proxy.counts.get("abandoned by the client", (0, 0.0))
                        proxy.counts["abandoned by the client"] = (count + 1, seconds)
                    self.close_connection = True

        self._server = _Server(("127.0.0.1", 0), Handler)

    def _connection(self, host: str, port: int) -> http.client.HTTPConnection:
        # One upstream connection per proxy thread (per client connection), kept alive like the client's.
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(host, port, timeout=60)
            self._local.connection = connection
        return connection

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_in_thread(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="dynamodb-proxy", daemon=True).start()


class CartApi:
    """The Cart API: every cart exists, belongs to the tenant asked for, and holds three items."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                tenant = (parse_qs(url.query).get("tenantId") or [""])[0]
                cart_id = unquote(url.path.rsplit("/", 1)[-1])
                time.sleep(delay)
                body = cart_json(cart(tenant, cart_id, prices=CART_PRICES, tax="31.72")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = _Server(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1.0"

    def serve_in_thread(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="cart-api", daemon=True).start()


def cart_total() -> Decimal:
    """The total of every cart the Cart API serves."""
    return sum((Decimal(p) for p in CART_PRICES), Decimal(0)) + Decimal("31.72")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["moto", "network"])
    parser.add_argument("--moto-url")
    parser.add_argument("--dynamodb-delay", type=float, default=0.010)
    parser.add_argument("--cart-delay", type=float, default=0.050)
    args = parser.parse_args()
    if args.role == "moto":
        from order_creator.local import MotoServer

        urls = {"moto": MotoServer().start()}
    else:
        proxy = DelayProxy(args.moto_url, args.dynamodb_delay)
        carts = CartApi(args.cart_delay)
        proxy.serve_in_thread()
        carts.serve_in_thread()
        urls = {"dynamodb": proxy.url, "cart": carts.url}
    print(json.dumps(urls), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
