"""CartService: the HTTP adapter for the Cart API (contract §3).

Transient failures (408, 429, 5xx, timeouts, refused connections) are retried by urllib3's `Retry` with
exponential backoff and jitter; `Retry-After` is not honoured, so the worst case stays
timeout × (retries + 1) plus a little backoff, which the batch's deadline check accounts for.

A hostile or broken Cart API cannot stretch that: CART_API_TIMEOUT_SECONDS bounds each request as a
whole (a server trickling its headers or body a byte at a time is cut off at the deadline, not merely
between bytes), a body over 2 MB is refused without being read whole, and a redirect is never followed
(a 3xx is permanent), so a signed request never reaches another host.
"""

from __future__ import annotations

import functools
import http.client
import io
import os
import socket
import time
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from order_creator.errors import CartNotFound, CartRejected, CartUnavailable, InvalidCart
from order_creator.models import Cart, load_json, parse_cart
from order_creator.settings import Settings

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MAX_BODY_BYTES = 2_000_000
_CHUNK_BYTES = 64 * 1024


class CartService:
    """Fetches and validates carts; implements `ports.CartSource`. Thread-safe for concurrent GETs."""

    def __init__(self, settings: Settings, *, pool_size: int = 16) -> None:
        self._base = settings.cart_api_base
        self._timeout = settings.cart_api_timeout_seconds
        retry = Retry(
            total=settings.cart_api_max_retries,
            connect=settings.cart_api_max_retries,
            read=settings.cart_api_max_retries,
            status=settings.cart_api_max_retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=_TRANSIENT_STATUS,
            backoff_factor=0.1,
            backoff_jitter=0.1,
            backoff_max=1.0,
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        self._session = requests.Session()
        self._session.mount("http://", _BoundedAdapter(max_retries=retry, pool_maxsize=pool_size))
        self._session.mount("https://", _BoundedAdapter(max_retries=retry, pool_maxsize=pool_size))
        self._session.headers["Accept"] = "application/json"
        # The environment's proxy and CA bundle settings, read once here instead of on every request (requests'
        # trust_env looks them up, and ~/.netrc, per call: a tenth of a GET's CPU). A .netrc is not consulted.
        self._session.proxies = requests.utils.get_environ_proxies(self._base)
        self._session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._session.trust_env = False
        if settings.cart_api_auth == "iam":
            self._session.auth = _SigV4()

    def get_cart(self, tenant_id: str, cart_id: str) -> Cart:
        """The validated cart, or CartNotFound / CartRejected / InvalidCart / CartUnavailable."""
        url = f"{self._base}/carts/{quote(cart_id, safe='')}"
        try:
            # stream: the status decides before any of the body is read, and the body is read in bounded steps
            with self._session.get(
                url, params={"tenantId": tenant_id}, timeout=self._timeout, stream=True, allow_redirects=False
            ) as response:
                _check_status(response.status_code, tenant_id, cart_id)
                body = _read_body(response)
        except requests.RequestException as exc:
            raise CartUnavailable(f"Cart API unreachable: {type(exc).__name__}") from None
        try:
            return parse_cart(load_json(body))
        except (ValueError, UnicodeError, RecursionError):
            raise InvalidCart("Cart API answered with malformed JSON") from None


def _check_status(status: int, tenant_id: str, cart_id: str) -> None:
    if status == 404:
        raise CartNotFound(f"cart {cart_id} not found for tenant {tenant_id}")
    if status in _TRANSIENT_STATUS or status >= 500:
        raise CartUnavailable(f"Cart API answered {status} after retries")
    if 400 <= status < 500:
        raise CartRejected(f"Cart API refused the request with {status}")
    if 300 <= status < 400:
        raise CartRejected(f"Cart API answered {status}, a redirect; redirects are not followed")
    if status != 200:
        raise CartUnavailable(f"Cart API answered {status}")


def _read_body(response: requests.Response) -> bytes:
    """The JSON body, at most 2 MB of it: refused as soon as it is known to be larger, never read whole."""
    content_type = response.headers.get("Content-Type", "")
    if "json" not in content_type.lower():
        raise InvalidCart(f"Cart API answered with content type {content_type[:100] or 'none'!r}, not JSON")
    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) > _MAX_BODY_BYTES:
        raise InvalidCart("Cart API answered with a body over 2 MB")
    body = bytearray()
    # Decoded chunks: a small compressed body cannot expand past the limit unnoticed either.
    for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
        body += chunk
        if len(body) > _MAX_BODY_BYTES:
            raise InvalidCart("Cart API answered with a body over 2 MB")
    return bytes(body)


# --- one deadline for the whole request ------------------------------------------------------------------
#
# urllib3's (and requests') timeouts apply to each socket operation: a server sending one byte just
# before each timeout holds a request for ever. These connections give each request one deadline,
# CART_API_TIMEOUT_SECONDS after it starts (from its connect, for a new connection), and every read of
# its status line, headers and body waits only for what is left of it.


class _DeadlineReader(io.RawIOBase):
    """The socket's own reader, each read waiting at most until the request's deadline."""

    def __init__(self, raw: Any, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._raw = raw  # it also keeps the socket open while the response is read (as makefile's readers do)
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the Cart API request ran past CART_API_TIMEOUT_SECONDS")
        self._sock.settimeout(left)
        result: int | None = self._raw.readinto(buffer)
        return result

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _BoundedResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        raw = self.fp.detach()  # the socket's reader, now read only through the deadline
        self.fp = io.BufferedReader(_DeadlineReader(raw, sock, deadline))


class _BoundedConnectionMixin:
    """Gives each request on the connection its deadline (the connection's timeout is the whole budget)."""

    timeout: Any
    response_class: Any
    _started: float | None = None

    def connect(self) -> None:
        # HTTPS connects (and shakes hands) before the request is written: the budget starts here.
        self._started = time.monotonic()
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.timeout is not None:
            deadline = (self._started or time.monotonic()) + float(self.timeout)
            # http.client builds the response with `response_class(sock, method=...)`: a partial carries the deadline
            self.response_class = functools.partial(_BoundedResponse, deadline=deadline)
        try:
            super().request(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._started = None  # a reused connection's next request starts its own budget


class _BoundedConnection(_BoundedConnectionMixin, HTTPConnection):
    pass


class _BoundedTlsConnection(_BoundedConnectionMixin, HTTPSConnection):
    pass


class _BoundedPool(HTTPConnectionPool):
    ConnectionCls = _BoundedConnection


class _BoundedTlsPool(HTTPSConnectionPool):
    ConnectionCls = _BoundedTlsConnection


class _BoundedAdapter(HTTPAdapter):
    """requests' adapter on the connections above."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _BoundedPool, "https": _BoundedTlsPool}


class _SigV4(requests.auth.AuthBase):
    """Signs each request for `execute-api` with the function's credentials (CART_API_AUTH=iam)."""

    def __init__(self) -> None:
        import boto3

        session = boto3.session.Session()
        self._credentials = session.get_credentials()
        self._region = session.region_name or "us-east-1"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        if self._credentials is None:
            raise CartUnavailable("CART_API_AUTH=iam but no AWS credentials are available")
        signed = AWSRequest(method=request.method, url=request.url, headers={"Accept": "application/json"})
        SigV4Auth(self._credentials.get_frozen_credentials(), "execute-api", self._region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request
