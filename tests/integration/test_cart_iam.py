"""CART_API_AUTH=iam against a local Cart API that checks SigV4 as API Gateway does: the signature is
recomputed with botocore's own signer from the test credentials (tests/conftest.py) and the request as
received, so a request passes only when it is really signed, its query string included."""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests

from order_creator.cart import CartService
from order_creator.errors import CartRejected
from order_creator.local import CartApiServer, IamAuth
from order_creator.settings import Settings
from tests.factories import cart, invoke, message, new_tenant, orders_of, record
from tests.integration.test_pipeline import dead_letters

SIGNATURE_MISMATCH = "The request signature we calculated does not match the signature you provided"


def function_credentials() -> IamAuth:
    """What the Cart API accepts: exactly the credentials the tests give the function (conftest)."""
    return IamAuth(
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
        os.environ["AWS_SESSION_TOKEN"],
        os.environ["AWS_REGION"],
    )


def serve(monkeypatch: pytest.MonkeyPatch, iam: IamAuth, *, auth: str = "iam", retries: int = 2) -> Any:
    """An IAM-authorised local Cart API as the handler's, the function signing with `auth`."""
    server = CartApiServer(iam=iam)
    for name, value in {
        "CART_LAMBDA_API_URL": server.start(),
        "CART_API_AUTH": auth,
        "CART_API_TIMEOUT_SECONDS": "1",
        "CART_API_MAX_RETRIES": str(retries),
    }.items():
        monkeypatch.setenv(name, value)
    return server


def signed_by_the_function(base_url: str, tenant_id: str) -> requests.PreparedRequest:
    """A GET of cart c-1 of the tenant, signed by CartService's own signer (CART_API_AUTH=iam)."""
    settings = Settings.from_env(
        {"DYNAMODB_TABLE_NAME": "orders", "CART_LAMBDA_API_URL": base_url, "CART_API_AUTH": "iam"}
    )
    prepared = requests.Request("GET", f"{base_url}/carts/c-1", params={"tenantId": tenant_id}).prepare()
    signer = CartService(settings)._signer
    assert signer is not None
    prepared.headers.update(signer.sign(str(prepared.url), {"Accept": "application/json"}))
    return prepared


@pytest.fixture
def signed_cart_api(monkeypatch: pytest.MonkeyPatch, lambda_env: dict[str, str]) -> Any:
    server = serve(monkeypatch, function_credentials())
    yield server
    server.stop()


def test_signed_requests_are_served_and_the_order_is_created(signed_cart_api, dynamodb, table_name):
    # Given a Cart API that serves only requests signed with the function's credentials
    tenant = new_tenant()
    signed_cart_api.put(cart(tenant, "c-1"))
    first, second = message(tenant, "c-1"), message(tenant, "c-1")

    # When the handler processes two orders with CART_API_AUTH=iam
    failures = invoke(record(first), record(second))

    # Then both carts were fetched with a valid signature and both orders exist
    assert failures == []
    assert signed_cart_api.refused == []
    assert signed_cart_api.requests == 2
    assert {o["id"] for o in orders_of(dynamodb, table_name, tenant)} == {first["orderId"], second["orderId"]}


def test_the_query_string_is_part_of_the_signature(signed_cart_api, lambda_env):
    # Given a request the function's signer signed for one tenant's cart
    tenant = new_tenant()
    signed_cart_api.put(cart(tenant, "c-1"))
    signed_cart_api.put(cart("someone-else", "c-1"))
    signed = signed_by_the_function(signed_cart_api.url, tenant)

    # When it is sent as signed, and again with only the tenant in the query string changed
    with requests.Session() as session:
        as_signed = session.send(signed.copy(), timeout=5)
        tampered = signed.copy()
        tampered.url = signed.url.replace(tenant, "someone-else")
        refused = session.send(tampered, timeout=5)

    # Then the first is served and the second refused: the signature covers the query string
    assert as_signed.status_code == 200
    assert as_signed.json()["tenantId"] == tenant
    assert refused.status_code == 403
    assert signed_cart_api.refused == [SIGNATURE_MISMATCH]


def test_every_retry_of_a_signed_request_carries_a_valid_signature(signed_cart_api):
    # Given a Cart API that checks the signature first, then answers 503 (down)
    tenant = new_tenant()
    signed_cart_api.put(cart(tenant, "c-1"))
    signed_cart_api.available = False
    msg = message(tenant, "c-1")

    # When the handler fetches the cart with two retries allowed
    failures = invoke(record(msg, message_id="m-1"))

    # Then all three attempts passed the signature check (a 503 each, never a 403) and the record is transient
    assert failures == ["m-1"]
    assert signed_cart_api.requests == 3
    assert signed_cart_api.refused == []


def test_after_a_retry_the_signed_request_is_served(monkeypatch, lambda_env):
    # Given a Cart API that is down for the first attempt only
    server = serve(monkeypatch, function_credentials(), retries=1)
    tenant = new_tenant()
    server.put(cart(tenant, "c-1"))
    server.available = False
    answer = server.answer

    def recover_after_first(path: str, headers: Any = None) -> tuple[int, str]:
        result = answer(path, headers)
        server.available = True
        return result

    server.answer = recover_after_first  # type: ignore[method-assign]
    try:
        # When the adapter fetches the cart
        fetched = CartService(Settings.from_env()).get_cart(tenant, "c-1")
    finally:
        server.stop()

    # Then the retry was signed as well and the cart came back
    assert fetched.tenant_id == tenant
    assert server.requests == 2
    assert server.refused == []


@pytest.mark.parametrize(
    ("function_auth", "api_secret", "reason"),
    [
        ("none", None, "Missing Authentication Token"),
        ("iam", "not-the-functions-secret", SIGNATURE_MISMATCH),
    ],
    ids=["unsigned", "mis-signed"],
)
def test_an_unsigned_or_mis_signed_call_is_a_permanent_failure(
    monkeypatch, lambda_env, sqs, dead_letter_queue, dynamodb, table_name, function_auth, api_secret, reason
):
    # Given a Cart API whose credentials the function's signature does not match (or no signature at all)
    base = function_credentials()
    api = IamAuth(base.access_key, api_secret or base.secret_key, base.token, base.region)
    server = serve(monkeypatch, api, auth=function_auth)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dead_letter_queue)
    tenant = new_tenant()
    server.put(cart(tenant, "c-1"))
    msg = record(message(tenant, "c-1"))
    try:
        # When the handler processes the record
        failures = invoke(msg)
    finally:
        server.stop()

    # Then the 403 is permanent (contract §3): not retried, dead-lettered with its reason, no order
    assert failures == []
    assert server.refused == [reason]
    [letter] = dead_letters(sqs, dead_letter_queue)
    assert letter["Body"] == msg["body"]
    assert letter["MessageAttributes"]["errorType"]["StringValue"] == "CartRejected"
    assert "403" in letter["MessageAttributes"]["errorMessage"]["StringValue"]
    assert orders_of(dynamodb, table_name, tenant) == []


def test_a_mis_signed_adapter_call_raises_cart_rejected(monkeypatch, lambda_env):
    # Given a Cart API that knows another secret for the function's access key
    base = function_credentials()
    server = serve(monkeypatch, IamAuth(base.access_key, "rotated", base.token, base.region))
    try:
        # When the adapter asks for a cart, Then it is refused as permanent
        with pytest.raises(CartRejected, match="403"):
            CartService(Settings.from_env()).get_cart(new_tenant(), "c-1")
    finally:
        server.stop()
    assert server.requests == 1


@pytest.mark.parametrize(
    ("amz_date", "reason"),
    [
        (None, "Authorization header requires a valid X-Amz-Date"),
        ("20251230T101500", "Authorization header requires a valid X-Amz-Date"),
        ("old", "Signature expired"),
    ],
)
def test_a_signature_without_a_valid_recent_date_is_refused(amz_date, reason):
    # Given a request signed by the function's signer, its X-Amz-Date then removed, malformed or 6 minutes old
    from datetime import UTC, datetime, timedelta

    server = CartApiServer([cart("t-1", "c-1")], iam=function_credentials())
    signed = signed_by_the_function(server.url, "t-1")
    headers = {name.lower(): value for name, value in signed.headers.items()}
    headers["host"] = str(signed.url).split("/")[2]
    path = str(signed.url).split(headers["host"], 1)[1]
    assert server.answer(path, headers)[0] == 200  # as signed, it is served
    headers.pop("x-amz-date")
    if amz_date == "old":
        headers["x-amz-date"] = (datetime.now(UTC) - timedelta(minutes=6)).strftime("%Y%m%dT%H%M%SZ")
    elif amz_date is not None:
        headers["x-amz-date"] = amz_date

    # When the Cart API answers it, Then it is refused before the signature is even compared
    status, body = server.answer(path, headers)
    assert status == 403
    assert reason in body
    server.stop()
