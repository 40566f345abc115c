"""The Cart API's statuses as contract §3 classes them, through the real handler and a real loopback Cart API:
408, 429 and every 5xx are transient and retried; the other 4xx are permanent and tried once."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug import Response

from tests.factories import cart, cart_json, invoke, message, new_tenant, orders_of, record


def _failing_once(httpserver: Any, tenant: str, cart_id: str, status: int) -> None:
    """The Cart API answers `status` to the first request for the cart, then the cart."""
    answers = iter([Response("failing", status=status)])
    document = cart(tenant, cart_id)

    def cart_api(_request: Any) -> Response:
        return next(answers, None) or Response(cart_json(document), content_type="application/json")

    httpserver.expect_request(f"/v1.0/carts/{cart_id}").respond_with_handler(cart_api)


def _requests(httpserver: Any, cart_id: str) -> int:
    return len([r for r, _ in httpserver.log if r.path == f"/v1.0/carts/{cart_id}"])


@pytest.mark.parametrize("status", [408, 429, 500, 501, 505, 507, 511, 599])
def test_a_transient_status_is_retried_and_the_order_created(lambda_env, httpserver, dynamodb, table_name, status):
    # Given a Cart API that answers `status` once, then the cart (one retry configured)
    tenant = new_tenant("status")
    _failing_once(httpserver, tenant, "c1", status)

    # When the record is processed
    failures = invoke(record(message(tenant, "c1")))

    # Then the cart was asked for again, and the order is created
    assert failures == []
    assert _requests(httpserver, "c1") == 2
    assert len(orders_of(dynamodb, table_name, tenant)) == 1


@pytest.mark.parametrize("status", [400, 403, 409, 422, 451])
def test_another_4xx_is_permanent_and_tried_once(lambda_env, httpserver, dynamodb, table_name, status):
    # Given a Cart API that answers `status` once, then the cart
    tenant = new_tenant("status")
    _failing_once(httpserver, tenant, "c1", status)
    sent = record(message(tenant, "c1"))

    # When the record is processed (no dead-letter queue: a permanent failure is reported for the redrive policy)
    failures = invoke(sent)

    # Then it was asked for once, and nothing is written
    assert failures == [sent["messageId"]]
    assert _requests(httpserver, "c1") == 1
    assert orders_of(dynamodb, table_name, tenant) == []
