"""CartService: the HTTP adapter for the Cart API (contract §3), on urllib3 directly: transient failures retried
with back-off, each request bounded as a whole by CART_API_TIMEOUT_SECONDS, a body over 2 MB (decoded) refused
unread, no redirect followed, each attempt signed afresh with CART_API_AUTH=iam."""

from __future__ import annotations

import functools
import http.client
import io
import os
import socket
import ssl
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from urllib3 import BaseHTTPResponse, PoolManager, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import DecodeError, HTTPError, MaxRetryError
from urllib3.util import make_headers, parse_url
from urllib3.util.retry import Retry

from order_creator.deadlines import CART_BACKOFF_FACTOR, CART_BACKOFF_JITTER, CART_BACKOFF_MAX
from order_creator.errors import CartNotFound, CartRejected, CartUnavailable, ConfigurationError, InvalidCart
from order_creator.models import Cart, load_json, parse_cart
from order_creator.settings import Settings

# Contract §3: 408, 429 and every 5xx are transient (a 501, 505, 507 or 599 too), retried like a timeout.
_TRANSIENT_STATUS = frozenset({408, 429, *range(500, 600)})
_MAX_BODY_BYTES = 2_000_000
_CHUNK_BYTES = 64 * 1024


class CartService:
    """Fetches and validates carts; implements `ports.CartSource`. Thread-safe for concurrent GETs."""

    def __init__(self, settings: Settings, *, pool_size: int = 16) -> None:
        self._base = settings.cart_api_base
        self._timeout = settings.cart_api_timeout_seconds
        # Every transient failure (connect, read, status) counts against the total; any other error (TLS) is final.
        self._retry = Retry(
            total=settings.cart_api_max_retries,
            other=0,
            backoff_factor=CART_BACKOFF_FACTOR,
            backoff_jitter=CART_BACKOFF_JITTER,
            backoff_max=CART_BACKOFF_MAX,
            respect_retry_after_header=False,
        )
        self._headers = {"Accept": "application/json", **make_headers(accept_encoding=True)}
        self._http = _pool_manager(self._base, pool_size)
        # Without a proxy every request goes to the base URL's one pool, asked directly with the request target.
        self._pool = None if isinstance(self._http, ProxyManager) else self._http.connection_from_url(self._base)
        self._base_path = parse_url(self._base).path or ""
        self._signer = _SigV4() if settings.cart_api_auth == "iam" else None

    def get_cart(self, tenant_id: str, cart_id: str) -> Cart:
        """The validated cart, or CartNotFound / CartRejected / InvalidCart / CartUnavailable."""
        path = f"/carts/{quote(cart_id, safe='')}?{urlencode({'tenantId': tenant_id})}"
        url = self._base + path
        retry = self._retry
        while True:
            try:
                return parse_cart(load_json(self._fetch(url, path, tenant_id, cart_id)))
            except _Retryable as retryable:
                try:
                    retry = retry.increment("GET", url, response=retryable.response, error=retryable.error)
                except MaxRetryError:
                    if retryable.response is not None:
                        raise CartUnavailable(f"Cart API answered {retryable.response.status} after retries") from None
                    raise CartUnavailable(f"Cart API unreachable: {type(retryable.error).__name__}") from None
                retry.sleep()
            except (ValueError, UnicodeError, RecursionError):  # load_json's refusals
                raise InvalidCart("Cart API answered with malformed JSON") from None

    def _fetch(self, url: str, path: str, tenant_id: str, cart_id: str) -> bytes:
        """One attempt: the body of a 200, or the permanent error, or `_Retryable`."""
        headers = self._headers if self._signer is None else self._signer.sign(url, self._headers)
        # not preloaded: the status decides before any of the body is read, and the body is read in bounded steps
        options: dict[str, Any] = {"timeout": self._timeout, "retries": False, "redirect": False}
        options["preload_content"] = False
        try:
            if self._pool is not None:
                response = self._pool.urlopen("GET", self._base_path + path, headers=headers, **options)
            else:
                response = self._http.urlopen("GET", url, headers=headers, **options)
        except HTTPError as exc:
            raise _Retryable(error=exc) from None
        complete = False
        try:
            if response.status in _TRANSIENT_STATUS:
                raise _Retryable(response=response)
            _check_status(response.status, tenant_id, cart_id)
            body = _read_body(response)
            complete = True
            return body
        except DecodeError:  # it arrived whole but is not what its Content-Encoding says: malformed, like bad JSON
            raise InvalidCart("Cart API answered with a body its Content-Encoding does not decode") from None
        except HTTPError as exc:  # a body cut off or trickled past the deadline
            raise _Retryable(error=exc) from None
        finally:
            if not complete:
                response.close()  # what is left unread is never read: the connection is not reused
            response.release_conn()


class _Retryable(Exception):
    """An attempt that failed transiently: its response (a transient status) or its error."""

    def __init__(self, *, response: BaseHTTPResponse | None = None, error: Exception | None = None) -> None:
        super().__init__()
        self.response = response
        self.error = error


def _check_status(status: int, tenant_id: str, cart_id: str) -> None:
    if status == 404:
        raise CartNotFound(f"cart {cart_id} not found for tenant {tenant_id}")
    if 400 <= status < 500:
        raise CartRejected(f"Cart API refused the request with {status}")
    if 300 <= status < 400:
        raise CartRejected(f"Cart API answered {status}, a redirect; redirects are not followed")
    if status != 200:
        raise CartUnavailable(f"Cart API answered {status}")


def _read_body(response: BaseHTTPResponse) -> bytes:
    """The JSON body, at most 2 MB of it: refused as soon as it is known to be larger, never read whole."""
    content_type = response.headers.get("Content-Type", "")
    if "json" not in content_type.lower():
        raise InvalidCart(f"Cart API answered with content type {content_type[:100] or 'none'!r}, not JSON")
    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) > _MAX_BODY_BYTES:
        raise InvalidCart("Cart API answered with a body over 2 MB")
    body = bytearray()
    # Decoded chunks: a small compressed body cannot expand past the limit unnoticed either.
    for chunk in response.stream(_CHUNK_BYTES, decode_content=True):
        body += chunk
        if len(body) > _MAX_BODY_BYTES:
            raise InvalidCart("Cart API answered with a body over 2 MB")
    return bytes(body)


def _pool_manager(base: str, pool_size: int) -> PoolManager:
    """Connections through the environment's proxy (`_proxy`) and with REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE
    (else botocore's bundle), as `requests` read them."""
    from botocore.httpsession import get_cert_path

    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or str(get_cert_path(True))
    tls: dict[str, Any] = {"ca_cert_dir" if os.path.isdir(ca_bundle) else "ca_certs": ca_bundle}
    proxy = _proxy(base)
    if proxy is None:
        manager = PoolManager(maxsize=pool_size, **tls)
    else:
        manager = ProxyManager(proxy[0], proxy_headers=proxy[1], maxsize=pool_size, **tls)
    manager.pool_classes_by_scheme = {"http": _BoundedPool, "https": _BoundedTlsPool}
    return manager


def _proxy(base: str) -> tuple[str, dict[str, str]] | None:
    """The proxy for `base` (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY; `http://` when it has no scheme) and its
    Proxy-Authorization, kept out of its URL; a SOCKS proxy is a ConfigurationError naming the variable."""
    parts = urlsplit(base)
    proxies = urllib.request.getproxies_environment()
    variable = parts.scheme if proxies.get(parts.scheme) else "all"
    url = proxies.get(variable)
    if not url or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    proxy = parse_url(url if "://" in url else f"http://{url}")
    if proxy.scheme not in ("http", "https"):
        raise ConfigurationError(f"{variable.upper()}_PROXY: a {proxy.scheme} proxy is not supported, only http(s)://")
    headers = make_headers(proxy_basic_auth=unquote(proxy.auth)) if proxy.auth else {}
    return proxy._replace(auth=None).url, headers


def _bound(sock: Any, deadline: float | None) -> None:
    """Let `sock` wait only for what is left until `deadline` (None: no deadline); TimeoutError once it is past.
    A request's deadline is CART_API_TIMEOUT_SECONDS after its start (after its connect, for a new connection)."""
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the Cart API request ran past CART_API_TIMEOUT_SECONDS")
    sock.settimeout(left)


class _DeadlineReader(io.RawIOBase):
    """The socket's own reader, each read waiting at most until the request's deadline."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._raw = raw  # it also keeps the socket open while the response is read (as makefile's readers do)
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        _bound(self._sock, self._deadline)
        return self._raw.readinto(buffer)

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
    """Gives each request on the connection its deadline (the connection's timeout is the whole budget); a new
    connection's starts at its connect: a proxy's CONNECT and the TLS handshakes wait only for what is left."""

    timeout: Any
    response_class: Any
    _deadline: float | None = None  # until the request is written; None between requests
    _request_deadline: float | None = None  # the last budget's, for the proxy's TLS socket (TLS in TLS)

    def connect(self) -> None:
        self._start_budget()
        super().connect()  # type: ignore[misc]

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        try:
            _bound(sock, self._deadline)  # the proxy's tunnel and the TLS handshake that follow
        except TimeoutError:
            sock.close()
            raise
        return sock

    def _connect_tls_proxy(self, hostname: str, sock: socket.socket) -> Any:
        tls = super()._connect_tls_proxy(hostname, sock)  # type: ignore[misc]
        return _DeadlineSocket(tls, lambda: self._request_deadline)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self._deadline is None:  # a reused connection: the budget starts with the request
            self._start_budget()
        try:
            super().request(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._deadline = None  # the next request, or connect, starts its own budget

    def _start_budget(self) -> None:
        if self.timeout is None:
            return
        self._deadline = self._request_deadline = time.monotonic() + float(self.timeout)
        # http.client makes every response (CONNECT's too) as `response_class(sock, ...)`: the partial adds the deadline
        self.response_class = functools.partial(_BoundedResponse, deadline=self._deadline)


class _DeadlineSocket:
    """The TLS socket to an https:// proxy, under the Cart API's own TLS (TLS in TLS): each read and write
    waits only for what is left of the request's deadline; everything else is the socket's own."""

    def __init__(self, sock: ssl.SSLSocket, deadline: Callable[[], float | None]) -> None:
        self._sock = sock
        self._deadline = deadline

    def recv(self, size: int, flags: int = 0) -> bytes:
        _bound(self._sock, self._deadline())
        return self._sock.recv(size, flags)

    def recv_into(self, buffer: Any, size: int = 0, flags: int = 0) -> int:
        _bound(self._sock, self._deadline())
        return self._sock.recv_into(buffer, size, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        _bound(self._sock, self._deadline())
        return self._sock.send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        _bound(self._sock, self._deadline())
        self._sock.sendall(data, flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _BoundedConnection(_BoundedConnectionMixin, HTTPConnection): ...


class _BoundedTlsConnection(_BoundedConnectionMixin, HTTPSConnection): ...


class _BoundedPool(HTTPConnectionPool):
    ConnectionCls = _BoundedConnection


class _BoundedTlsPool(HTTPSConnectionPool):
    ConnectionCls = _BoundedTlsConnection


class _SigV4:
    """Signs each attempt for `execute-api` with the function's credentials (CART_API_AUTH=iam)."""

    def __init__(self) -> None:
        import botocore.session

        session = botocore.session.Session()
        self._credentials = session.get_credentials()
        self._region = session.get_config_variable("region") or "us-east-1"

    def sign(self, url: str, headers: dict[str, str]) -> dict[str, str]:
        """`headers` and the signature of a GET of `url` (its query string included), signed now."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        if self._credentials is None:
            raise CartUnavailable("CART_API_AUTH=iam but no AWS credentials are available")
        signed = AWSRequest(method="GET", url=url, headers={"Accept": headers["Accept"]})
        SigV4Auth(self._credentials.get_frozen_credentials(), "execute-api", self._region).add_auth(signed)
        return {**headers, **dict(signed.headers.items())}
