"""CART_API_AUTH=iam against a local Cart API that checks SigV4 as API Gateway does: the signature is
recomputed with botocore's own signer from the test credentials (tests/conftest.py) and the request as
received, so a request passes only when it is really signed, its query string included."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from order_creator.cart import CartService
from order_creator.errors import CartRejected
from order_creator.local import CartApiServer, IamAuth
from order_creator.settings import Settings
from tests.factories import cart, invoke, message, new_tenant, orders_of, record
from tests.integration.iam_policies import allows
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


# the role's permission, for every URL layout the README allows -------------------------------------------------

API_ID, ACCOUNT, REGION = "a1b2c3d4e5", "123456789012", "us-east-1"


@dataclass(frozen=True)
class Layout:
    """Where CART_LAMBDA_API_URL points: an `execute-api` host (a REST API's URL starts with its stage; an HTTP
    API's `$default` stage has none), or a custom domain (no stage in the URL: the base path mapping names the
    API and stage, and its `base_path`, "" for none, is removed before the API sees the path)."""

    url: str
    stage: str = "prod"
    stage_in_url: bool = True
    base_path: str = ""


LAYOUTS = {
    "execute-api, stage, /v1.0": Layout(f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/prod/v1.0"),
    "execute-api, stage, no version": Layout(f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/prod"),
    "execute-api, $default stage, /v1.0": Layout(
        f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/v1.0", stage="$default", stage_in_url=False
    ),
    "custom domain, v1.0 mapped to the stage": Layout(
        "https://api-dev.example.io/v1.0", stage_in_url=False, base_path="v1.0"
    ),
    "custom domain, no mapping, the API's paths carry /v1.0": Layout(
        "https://api-dev.example.io/v1.0", stage_in_url=False
    ),
}


def execute_api_arn(layout: Layout, method: str, cart_id: str) -> str:
    """The ARN API Gateway authorises a request against (API Gateway Developer Guide, "Control access to an API
    with IAM permissions"): `arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}/{resource path}`,
    where the resource path is the request's path as the API sees it, the stage and any base path mapping off."""
    path = urlsplit(f"{layout.url}/carts/{cart_id}").path.lstrip("/").split("/")
    if layout.base_path:
        assert path[0] == layout.base_path
        path = path[1:]
    if layout.stage_in_url:
        assert path[0] == layout.stage
        path = path[1:]
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{layout.stage}/{method}/{'/'.join(path)}"


def cart_api_policy(**parameters: str) -> dict[str, Any]:
    """The orders function's inline policy for the Cart API, as deployed with these parameters."""
    from tests.integration.test_template import Stack, transformed_template

    stack = Stack(transformed_template(), placeholders=True, **parameters)
    policies = {p["PolicyName"]: p["PolicyDocument"] for p in stack.properties("OrderCreatorRole")["Policies"]}
    return dict(policies["cart-api"])


@pytest.fixture(scope="module")
def iam_policy() -> dict[str, Any]:
    return cart_api_policy(CartApiAuth="iam", CartApiId=API_ID)


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_the_role_may_get_a_cart_through_every_url_layout(iam_policy, layout):
    # Given CART_LAMBDA_API_URL in one of the layouts the README allows, and the role's policy with CartApiAuth=iam
    # When the ARN API Gateway checks for the function's GET of a cart is built as API Gateway builds it
    arn = execute_api_arn(layout, "GET", "cart-9f2c")

    # Then the policy allows it, and allows no other method, API or path
    assert allows(iam_policy, "execute-api:Invoke", arn), arn
    assert not allows(iam_policy, "execute-api:Invoke", execute_api_arn(layout, "POST", "cart-9f2c"))
    assert not allows(iam_policy, "execute-api:Invoke", arn.replace(API_ID, "otherapi01"))
    assert not allows(iam_policy, "execute-api:Invoke", arn.replace("/carts/", "/orders/"))
    assert not allows(iam_policy, "execute-api:Invoke", arn.replace(ACCOUNT, "210987654321"))


def test_without_iam_the_role_gets_no_cart_api_permission():
    # Given the template with CartApiAuth=none (the default)
    from tests.integration.test_template import Stack, transformed_template

    policies = Stack(transformed_template(), placeholders=True).properties("OrderCreatorRole")["Policies"]

    # Then the role has no execute-api permission at all
    assert "cart-api" not in {p["PolicyName"] for p in policies}
