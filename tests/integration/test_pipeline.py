"""The handler end to end: real HTTP to a moto server (DynamoDB, SQS) and to a local Cart API.

Every row of the contract's §5 has a test here that fails if the behaviour changes.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from werkzeug import Response

from order_creator.errors import ConfigurationError
from order_creator.handler import lambda_handler
from tests.factories import (
    assert_gapless,
    cart,
    counters_of,
    invoke,
    lambda_context,
    message,
    new_tenant,
    orders_of,
    record,
    serve_cart,
    sqs_event,
    unmarshal,
)


def dead_letters(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message in the queue (received once, not deleted)."""
    found: list[dict[str, Any]] = []
    while True:
        page = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
        )
        if not page.get("Messages"):
            return found
        found.extend(page["Messages"])


@pytest.fixture
def mixed_batch(httpserver: Any) -> dict[str, Any]:
    """One record of every kind the contract names, and the tenant they belong to."""
    tenant = new_tenant()
    for cart_id in ("valid", "dup", "redelivered"):
        serve_cart(httpserver, cart(tenant, cart_id))
    httpserver.expect_request("/v1.0/carts/missing").respond_with_data("{}", status=404)
    httpserver.expect_request("/v1.0/carts/broken").respond_with_data("oops", status=500)
    serve_cart(httpserver, cart("someone-else", "foreign"), tenant_id=tenant)
    redelivered = message(tenant, "redelivered")
    dup = message(tenant, "dup")
    records = {
        "valid": record(message(tenant, "valid")),
        "not_json": record("{this is not json"),
        "schema": record(message(tenant, "valid", billingAddress={"street": "x"})),
        "cart_404": record(message(tenant, "missing")),
        "cart_500": record(message(tenant, "broken")),
        "tenant_mismatch": record(message(tenant, "foreign")),
        "dup_first": record(dup),
        "dup_again": record(dup),
        "redelivered": record(redelivered, receive_count=2),
    }
    return {"tenant": tenant, "records": records, "redelivered": redelivered}


def test_a_mixed_batch_without_a_dead_letter_queue_reports_every_failure(lambda_env, mixed_batch, dynamodb, table_name):
    # Given an order that was created before, and is now redelivered in a batch of every kind of record
    tenant, records = mixed_batch["tenant"], mixed_batch["records"]
    assert invoke(record(mixed_batch["redelivered"])) == []

    # When the batch is processed
    failures = invoke(*records.values())

    # Then permanent and transient failures are reported, and only the valid ones became orders
    expected = {"not_json", "schema", "cart_404", "cart_500", "tenant_mismatch"}
    assert set(failures) == {records[name]["messageId"] for name in expected}
    orders = orders_of(dynamodb, table_name, tenant)
    assert sorted(o["cartId"] for o in orders) == ["dup", "redelivered", "valid"]
    assert counters_of(dynamodb, table_name, tenant) == {"20251230": 3}
    assert_gapless(dynamodb, table_name, tenant)


def test_with_a_dead_letter_queue_permanent_failures_go_there_with_their_reason(
    lambda_env, mixed_batch, monkeypatch, sqs, dead_letter_queue, dynamodb, table_name
):
    # Given a dead-letter queue
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dead_letter_queue)
    records = mixed_batch["records"]

    # When the mixed batch is processed
    failures = invoke(*records.values())

    # Then only the transient failure is reported; the permanent ones are in the DLQ, body byte for byte
    assert failures == [records["cart_500"]["messageId"]]
    letters = {
        m["MessageAttributes"]["sourceMessageId"]["StringValue"]: m for m in dead_letters(sqs, dead_letter_queue)
    }
    expected_types = {
        "not_json": "InvalidMessage",
        "schema": "InvalidMessage",
        "cart_404": "CartNotFound",
        "tenant_mismatch": "InvalidCart",
    }
    assert set(letters) == {records[name]["messageId"] for name in expected_types}
    for name, error_type in expected_types.items():
        letter = letters[records[name]["messageId"]]
        assert letter["Body"] == records[name]["body"]
        assert letter["MessageAttributes"]["errorType"]["StringValue"] == error_type
        assert letter["MessageAttributes"]["errorMessage"]["StringValue"]
    assert (
        "another tenant"
        in letters[records["tenant_mismatch"]["messageId"]]["MessageAttributes"]["errorMessage"]["StringValue"]
    )
    assert_gapless(dynamodb, table_name, mixed_batch["tenant"])


def test_the_same_batch_twice_creates_nothing_new(lambda_env, httpserver, dynamodb, table_name):
    tenant = new_tenant()
    records = []
    for i in range(10):
        serve_cart(httpserver, cart(tenant, f"c{i}"))
        records.append(record(message(tenant, f"c{i}")))
    assert invoke(*records) == []
    before = {o["id"]: o["orderNumber"] for o in orders_of(dynamodb, table_name, tenant)}

    assert invoke(*records) == []

    after = {o["id"]: o["orderNumber"] for o in orders_of(dynamodb, table_name, tenant)}
    assert after == before
    assert len(after) == 10
    assert counters_of(dynamodb, table_name, tenant) == {"20251230": 10}


def test_same_order_id_with_another_cart_is_a_permanent_conflict(lambda_env, httpserver, dynamodb, table_name):
    tenant = new_tenant()
    serve_cart(httpserver, cart(tenant, "c1"))
    serve_cart(httpserver, cart(tenant, "c2"))
    first = message(tenant, "c1")
    assert invoke(record(first)) == []
    clash = record({**first, "cartId": "c2"})

    assert invoke(clash) == [clash["messageId"]]
    assert [o["cartId"] for o in orders_of(dynamodb, table_name, tenant)] == ["c1"]


def test_orders_on_both_sides_of_midnight_count_in_their_own_day(
    lambda_env, httpserver, monkeypatch, dynamodb, table_name
):
    # Given the business day in Johannesburg (UTC+2) and orders just before and after its midnight
    monkeypatch.setenv("ORDER_NUMBER_TIMEZONE", "Africa/Johannesburg")
    tenant = new_tenant()
    stamps = [
        "2025-12-30T23:59:59.999+02:00",
        "2025-12-30T21:59:59Z",
        "2025-12-30T22:00:00Z",
        "2025-12-31T00:30:00+02:00",
    ]
    records = []
    for i, stamp in enumerate(stamps):
        serve_cart(httpserver, cart(tenant, f"c{i}"))
        records.append(record(message(tenant, f"c{i}", dateCreated=stamp)))

    # When they are processed in one batch
    assert invoke(*records) == []

    # Then each day has its own gapless sequence, and dateCreated is stored as given
    numbers = {o["dateCreated"]: o["orderNumber"] for o in orders_of(dynamodb, table_name, tenant)}
    assert numbers == {
        stamps[0]: "ORD-20251230-00001",
        stamps[1]: "ORD-20251230-00002",
        stamps[2]: "ORD-20251231-00001",
        stamps[3]: "ORD-20251231-00002",
    }
    assert counters_of(dynamodb, table_name, tenant) == {"20251230": 2, "20251231": 2}


def test_amounts_stay_exact_decimals_in_the_table(lambda_env, httpserver, dynamodb, table_name):
    tenant = new_tenant()
    serve_cart(httpserver, cart(tenant, "c1", prices=["0.10", "0.20"], tax="0.05"))

    assert invoke(record(message(tenant, "c1"))) == []

    (order,) = orders_of(dynamodb, table_name, tenant)
    assert order["subtotal"] == Decimal("0.3")
    assert order["total"] == Decimal("0.35")
    assert [item["unitPrice"] for item in order["items"]] == [Decimal("0.1"), Decimal("0.2")]


def test_the_order_reads_back_through_each_index_with_every_contract_attribute(
    lambda_env, httpserver, dynamodb, table_name
):
    # Given an order with every optional part
    tenant = new_tenant()
    serve_cart(httpserver, cart(tenant, "c1"))
    body = message(
        tenant,
        "c1",
        dateCreated="2025-12-30T10:15:00+02:00",
        campaign={"id": "camp-1", "code": "SUMMER25", "discountPercentage": 25, "fromDate": "2025-12-01"},
        paymentDetails={"paymentId": "pay-77", "method": "card", "paidAt": "2025-12-30T10:16:00+02:00"},
    )
    source = record(body)
    assert invoke(source) == []
    order_id = body["orderId"]

    # When it is read through GSI1 (tenant, date range) and GSI2 (order id)
    by_date = dynamodb.query(
        TableName=table_name,
        IndexName="OrdersByDateIndex",
        KeyConditionExpression="GSI1_PK = :pk AND GSI1_SK BETWEEN :from AND :to",
        ExpressionAttributeValues={
            ":pk": {"S": f"TENANT#{tenant}"},
            ":from": {"S": "2025-12-30T00:00:00.000Z"},
            ":to": {"S": "2025-12-30T23:59:59.999Z~"},
        },
    )["Items"]
    by_id = dynamodb.query(
        TableName=table_name,
        IndexName="OrderByIdIndex",
        KeyConditionExpression="GSI2_PK = :pk AND GSI2_SK = :sk",
        ExpressionAttributeValues={":pk": {"S": f"ORDER#{order_id}"}, ":sk": {"S": "METADATA"}},
    )["Items"]

    # Then both find it, with the contract's keys and attributes (OrderByIdIndex holds the keys: the order is read
    # from the table by them, as `orders get` does)
    assert len(by_date) == 1
    assert len(by_id) == 1
    key = {name: by_id[0][name] for name in ("PK", "SK")}
    order = unmarshal(dynamodb.get_item(TableName=table_name, Key=key, ConsistentRead=True)["Item"])
    assert order["PK"] == f"TENANT#{tenant}"
    assert order["SK"] == f"ORDER#{order_id}"
    assert order["GSI1_SK"] == f"2025-12-30T08:15:00.000Z#{order_id}"
    assert order["entityType"] == "ORDER"
    assert order["status"] == "PAID"
    assert order["orderNumber"] == "ORD-20251230-00001"
    assert order["sourceMessageId"] == source["messageId"]
    assert order["active"] is True
    assert order["createdBy"] == order["lastUpdatedBy"] == "OrderCreatorRecord"
    assert order["campaign"]["code"] == "SUMMER25"
    assert order["billingAddress"]["country"] == "ZA"
    assert set(order) >= {
        "id", "orderNumber", "tenantId", "cartId", "customerEmail", "items", "subtotal", "tax", "total",
        "currency", "status", "billingAddress", "dateCreated", "dateLastUpdated", "createdBy", "lastUpdatedBy",
        "active", "sourceMessageId", "GSI1_PK", "GSI2_PK", "GSI2_SK",
    }  # fmt: skip


def test_without_date_created_the_sent_timestamp_is_used_and_unpaid_orders_are_pending(
    lambda_env, httpserver, dynamodb, table_name
):
    tenant = new_tenant()
    serve_cart(httpserver, cart(tenant, "c1"))
    source = record(message(tenant, "c1", dateCreated=None))
    source["attributes"]["SentTimestamp"] = "1767089700123"  # 2025-12-30T10:15:00.123Z

    assert invoke(source) == []

    (order,) = orders_of(dynamodb, table_name, tenant)
    assert order["dateCreated"] == "2025-12-30T10:15:00.123Z"
    assert order["status"] == "PENDING_PAYMENT"
    assert "campaign" not in order
    assert "paymentDetails" not in order


def test_a_cart_api_5xx_is_retried_then_transient(lambda_env, httpserver, dynamodb, table_name):
    # Given a Cart API that fails every time, and one retry configured
    tenant = new_tenant()
    httpserver.expect_request("/v1.0/carts/c1").respond_with_data("busy", status=503)
    source = record(message(tenant, "c1"))

    # When the record is processed
    failures = invoke(source)

    # Then it was tried twice, and is reported for redelivery with nothing written
    assert failures == [source["messageId"]]
    assert len([r for r, _ in httpserver.log if r.path == "/v1.0/carts/c1"]) == 2
    assert orders_of(dynamodb, table_name, tenant) == []


def test_a_cart_api_429_then_success_creates_the_order(lambda_env, httpserver, dynamodb, table_name):
    tenant = new_tenant()
    answers = iter([Response("slow down", status=429)])
    document = cart(tenant, "c1")

    def cart_api(_request: Any) -> Response:
        from tests.factories import cart_json

        return next(answers, None) or Response(cart_json(document), content_type="application/json")

    httpserver.expect_request("/v1.0/carts/c1").respond_with_handler(cart_api)

    assert invoke(record(message(tenant, "c1"))) == []
    assert len(orders_of(dynamodb, table_name, tenant)) == 1


def test_a_cart_api_timeout_is_transient(lambda_env, httpserver, monkeypatch):
    import time

    monkeypatch.setenv("CART_API_TIMEOUT_SECONDS", "0.2")
    monkeypatch.setenv("CART_API_MAX_RETRIES", "0")
    tenant = new_tenant()

    def slow(_request: Any) -> Response:
        time.sleep(0.6)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/v1.0/carts/c1").respond_with_handler(slow)
    source = record(message(tenant, "c1"))

    assert invoke(source) == [source["messageId"]]


def test_the_cart_api_is_asked_for_the_tenants_cart_as_json(lambda_env, httpserver):
    tenant = new_tenant()
    serve_cart(httpserver, cart(tenant, "c1"))

    assert invoke(record(message(tenant, "c1"))) == []

    (request, _), *_ = [(r, s) for r, s in httpserver.log if r.path == "/v1.0/carts/c1"]
    assert request.args["tenantId"] == tenant
    assert request.headers["Accept"] == "application/json"


def test_with_too_little_time_left_nothing_is_started(lambda_env, httpserver, dynamodb, table_name):
    tenant = new_tenant()
    serve_cart(httpserver, cart(tenant, "c1"))
    source = record(message(tenant, "c1"))

    # CART_API_TIMEOUT_SECONDS=2 and one retry: the worst case is 4 s, plus 1 s of margin
    assert invoke(source, seconds=4.5) == [source["messageId"]]
    assert not [r for r, _ in httpserver.log if r.path == "/v1.0/carts/c1"]
    assert orders_of(dynamodb, table_name, tenant) == []


def test_a_failed_send_to_the_dead_letter_queue_keeps_the_message(lambda_env, monkeypatch, moto_url):
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", f"{moto_url}/123456789012/no-such-queue-{uuid.uuid4().hex[:6]}")
    source = record("not json")

    assert invoke(source) == [source["messageId"]]


def test_an_event_that_is_not_an_sqs_event_raises(lambda_env):
    with pytest.raises(ValueError, match="not an SQS event"):
        lambda_handler({"detail-type": "Scheduled Event"}, lambda_context())
    with pytest.raises(ValueError, match="not an SQS event"):
        lambda_handler({"Records": [{"eventSource": "aws:s3", "messageId": "x"}]}, lambda_context())


def test_an_empty_batch_succeeds(lambda_env):
    assert lambda_handler(sqs_event(), lambda_context()) == {"batchItemFailures": []}


def test_a_bad_environment_fails_the_invocation_naming_the_variable(lambda_env, monkeypatch):
    monkeypatch.delenv("DYNAMODB_TABLE_NAME")

    with pytest.raises(ConfigurationError, match="DYNAMODB_TABLE_NAME"):
        lambda_handler(sqs_event(record("{}")), lambda_context())


def test_logs_carry_ids_but_never_the_email_or_address(lambda_env, httpserver, caplog):
    from order_creator.observability import logger

    tenant = new_tenant()
    serve_cart(httpserver, cart(tenant, "c1"))
    good = record(message(tenant, "c1", customerEmail="secret.person@example.org"))
    bad = record(message(tenant, "c1", customerEmail="another.secret@example.org", orderId="nope"))

    invoke(good, bad)

    # The lines exactly as Powertools' JSON formatter writes them
    lines = [logger.registered_formatter.format(r) for r in caplog.records if r.name == "order-creator"]
    output = "\n".join(lines)
    assert {json.loads(line).get("message_id") for line in lines} >= {good["messageId"], bad["messageId"]}
    assert "secret.person@example.org" not in output
    assert "another.secret" not in output
    assert "1 Long St" not in output
