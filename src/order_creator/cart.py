"""CartService: the HTTP adapter for the Cart API (contract §3).

Transient failures (408, 429, 5xx, timeouts, refused connections) are retried by urllib3's `Retry` with
exponential backoff and jitter; `Retry-After` is not honoured, so the worst case stays
timeout × (retries + 1) plus a little backoff, which the batch's deadline check accounts for.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from order_creator.errors import CartNotFound, CartRejected, CartUnavailable, InvalidCart
from order_creator.models import Cart, load_json, parse_cart
from order_creator.settings import Settings

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MAX_BODY_BYTES = 2_000_000


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
        self._session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=pool_size))
        self._session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=pool_size))
        self._session.headers["Accept"] = "application/json"
        if settings.cart_api_auth == "iam":
            self._session.auth = _SigV4()

    def get_cart(self, tenant_id: str, cart_id: str) -> Cart:
        """The validated cart, or CartNotFound / CartRejected / InvalidCart / CartUnavailable."""
        url = f"{self._base}/carts/{quote(cart_id, safe='')}"
        try:
            response = self._session.get(url, params={"tenantId": tenant_id}, timeout=self._timeout)
        except requests.RequestException as exc:
            raise CartUnavailable(f"Cart API unreachable: {type(exc).__name__}") from None
        status = response.status_code
        if status == 404:
            raise CartNotFound(f"cart {cart_id} not found for tenant {tenant_id}")
        if status in _TRANSIENT_STATUS or status >= 500:
            raise CartUnavailable(f"Cart API answered {status} after retries")
        if 400 <= status < 500:
            raise CartRejected(f"Cart API refused the request with {status}")
        if status != 200:
            raise CartUnavailable(f"Cart API answered {status}")
        return parse_cart(_json_body(response))


def _json_body(response: requests.Response) -> Any:
    content_type = response.headers.get("Content-Type", "")
    if "json" not in content_type.lower():
        raise InvalidCart(f"Cart API answered with content type {content_type or 'none'!r}, not JSON")
    if len(response.content) > _MAX_BODY_BYTES:
        raise InvalidCart("Cart API answered with a body over 2 MB")
    try:
        return load_json(response.content)
    except (ValueError, UnicodeError, RecursionError):
        raise InvalidCart("Cart API answered with malformed JSON") from None


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
