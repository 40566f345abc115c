"""A local Cart API on loopback: serves carts from memory the way contract §3 says.

`GET /v1.0/carts/{cartId}?tenantId=T` answers the cart as JSON (amounts written as the exact decimals
they were read as), 404 when the tenant has no such cart. For tests and demonstrations it can be made
slow (`delay_seconds`) or down (`available = False`: every request answers 503), and it can stand for an
API Gateway with IAM authorisation (`iam=IamAuth(...)`, what `CART_API_AUTH=iam` talks to): a request
without a valid SigV4 signature for `execute-api` is refused with 403 before anything else happens.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from order_creator.local.loopback import LoopbackServer, reply
from order_creator.tooling import exact_json

API_PREFIX = "/v1.0"
_SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
# API Gateway refuses a signature made more than five minutes before (or after) it arrives.
_SIGNATURE_LIFETIME = timedelta(minutes=5)


@dataclass(frozen=True)
class IamAuth:
    """The credentials the local Cart API accepts, as API Gateway does for an IAM-authorised route:
    every request must be SigV4-signed for `execute-api` in `region` with these (the test credentials
    the caller also has), its method, path, query string and signed headers included."""

    access_key: str
    secret_key: str
    token: str | None = None
    region: str = "us-east-1"

    def refusal(self, method: str, path: str, headers: Mapping[str, str]) -> str | None:
        """None when the request (`path` with its query string, `headers` with lower-case names) carries
        this signature; otherwise why not, in API Gateway's words. The signature is recomputed with
        botocore's own signer from the request as received, so nothing the client sent is trusted."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        authorization = headers.get("authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return "Missing Authentication Token"
        amz_date = headers.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(amz_date, _SIGV4_TIMESTAMP).replace(tzinfo=UTC)
        except ValueError:
            return "Authorization header requires a valid X-Amz-Date"
        if abs(datetime.now(UTC) - signed_at) > _SIGNATURE_LIFETIME:
            return "Signature expired"
        signed_headers = re.search(r"SignedHeaders=([^,\s]*)", authorization)
        names = set(signed_headers[1].split(";") if signed_headers else ()) | {"host", "x-amz-date"}
        if self.token is not None:
            names.add("x-amz-security-token")
        request = AWSRequest(
            method=method,
            url=f"http://{headers.get('host', '')}{path}",
            headers={name: headers[name] for name in sorted(names) if name in headers},
        )
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(self.access_key, self.secret_key, self.token), "execute-api", self.region)
        signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        expected = (
            f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, "
            f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, Signature={signature}"
        )
        if not hmac.compare_digest(expected.encode(), authorization.encode()):
            return "The request signature we calculated does not match the signature you provided"
        return None


class CartApiServer(LoopbackServer):
    """The carts given (documents with numbers as int or Decimal); `start()` returns the base URL with `/v1.0`."""

    path = API_PREFIX

    def __init__(
        self,
        carts: Iterable[dict[str, Any]] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        iam: IamAuth | None = None,
    ) -> None:
        super().__init__(host, port)
        self._iam = iam
        self.refused: list[str] = []  # with `iam`: why each refused request was refused, in order
        self._lock = threading.Lock()
        self._carts: dict[tuple[str, str], str] = {}
        self.available = True  # False: every request answers 503, as a Cart API that is down would
        self.delay_seconds = 0.0  # how long every answer waits before it is sent
        self.requests = 0
        for cart in carts:
            self.put(cart)

    def put(self, cart: dict[str, Any]) -> None:
        """Serve this cart from now on, replacing any with its tenant and id."""
        text = exact_json(cart)
        with self._lock:
            self._carts[(str(cart["tenantId"]), str(cart["cartId"]))] = text

    def cart_text(self, tenant_id: str, cart_id: str) -> str | None:
        """The cart's JSON text, or None when the tenant has no such cart."""
        with self._lock:
            return self._carts.get((tenant_id, cart_id))

    def answer(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
        """The status and JSON body for a GET of a request path (with its query string) and its headers
        (lower-case names): 403 with `iam` when the signature is missing or wrong."""
        refusal = self._iam.refusal("GET", path, headers or {}) if self._iam is not None else None
        with self._lock:
            self.requests += 1
            if refusal is not None:
                self.refused.append(refusal)
        if refusal is not None:
            return 403, exact_json({"message": refusal})
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if not self.available:
            return 503, '{"message": "Service Unavailable"}'
        url = urlsplit(path)
        prefix = f"{API_PREFIX}/carts/"
        tenant = parse_qs(url.query).get("tenantId", [""])[0]
        if not url.path.startswith(prefix) or not tenant:
            return 400, '{"message": "expected GET /v1.0/carts/{cartId}?tenantId=..."}'
        text = self.cart_text(tenant, unquote(url.path.removeprefix(prefix)))
        return (200, text) if text is not None else (404, '{"message": "cart not found"}')

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        status, text = self.answer(request.path, {name.lower(): value for name, value in request.headers.items()})
        reply(request, status, text.encode("utf-8"))
