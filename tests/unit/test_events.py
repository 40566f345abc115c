"""The order-events publisher's pure part: stream record → OrderCreated detail, filtering, chunking (contract §7)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_creator.errors import ConfigurationError
from order_creator.events import lambda_handler
from order_creator.publishing import (
    MAX_ENTRIES,
    MAX_REQUEST_BYTES,
    MalformedOrder,
    OrderEvent,
    chunks,
    event_from_record,
    order_events,
)
from tests.factories import ORDER_CREATED_FIELDS


def order_image(**overrides: Any) -> dict[str, Any]:
    """An order item's NewImage in DynamoDB JSON, as the stream carries it (contract §4)."""
    image: dict[str, Any] = {
        "PK": {"S": "TENANT#acme"},
        "SK": {"S": "ORDER#3f0b6c1e-8d0a-4f6e-9f57-2b1f8f3f9a10"},
        "entityType": {"S": "ORDER"},
        "id": {"S": "3f0b6c1e-8d0a-4f6e-9f57-2b1f8f3f9a10"},
        "orderNumber": {"S": "ORD-20251230-00001"},
        "tenantId": {"S": "acme"},
        "cartId": {"S": "cart-9f2c"},
        "customerEmail": {"S": "jane@example.com"},
        "billingAddress": {"M": {"street": {"S": "1 Long St"}, "city": {"S": "Cape Town"}, "country": {"S": "ZA"}}},
        "items": {"L": [{"M": {"id": {"S": "li-1"}, "quantity": {"N": "2"}}}, {"M": {"id": {"S": "li-2"}}}]},
        "subtotal": {"N": "289.98"},
        "tax": {"N": "43.5"},
        "total": {"N": "333.48"},
        "currency": {"S": "ZAR"},
        "status": {"S": "PAID"},
        "dateCreated": {"S": "2025-12-30T10:15:00+02:00"},
        "sourceMessageId": {"S": "3597cfbf-0000-4000-8000-000000000001"},
    }
    image.update(overrides)
    return {k: v for k, v in image.items() if v is not None}


def stream_record(image: dict[str, Any] | None, event_name: str = "INSERT", sequence: str = "100") -> dict[str, Any]:
    """A Lambda DynamoDB stream record."""
    dynamodb: dict[str, Any] = {
        "Keys": {"PK": {"S": "TENANT#acme"}, "SK": {"S": "ORDER#x"}},
        "SequenceNumber": sequence,
    }
    if image is not None:
        dynamodb["NewImage"] = image
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


def detail_of(event: OrderEvent) -> dict[str, Any]:
    return dict(json.loads(event.detail, parse_float=Decimal, parse_int=Decimal))


def test_an_order_insert_becomes_the_contracts_detail_with_exact_amounts():
    # Given the INSERT of an order
    record = stream_record(order_image(total={"N": "1234567890.12345678"}, subtotal={"N": "1234567846.62345678"}))

    # When it becomes an event
    event = event_from_record(record)

    # Then the detail holds exactly the contract's fields, the amounts with the stored digits
    assert event is not None
    detail = detail_of(event)
    assert set(detail) == ORDER_CREATED_FIELDS
    assert '"total": 1234567890.12345678' in event.detail
    assert '"tax": 43.5' in event.detail
    assert detail["orderId"] == "3f0b6c1e-8d0a-4f6e-9f57-2b1f8f3f9a10"
    assert detail["itemCount"] == 2
    assert detail["version"] == 1
    assert event.sequence_number == "100"
    assert "jane@example.com" not in event.detail
    assert "Long St" not in event.detail
    assert event.entry("bus")["Source"] == "order-creator"
    assert event.entry("bus")["DetailType"] == "OrderCreated"


@pytest.mark.parametrize(
    "record",
    [
        stream_record(order_image(), event_name="MODIFY"),
        stream_record(order_image(), event_name="REMOVE"),
        stream_record({"PK": {"S": "COUNTER#acme"}, "SK": {"S": "ORDER_NUMBER#20251230"}, "currentValue": {"N": "1"}}),
        stream_record(order_image(entityType={"S": "INVOICE"})),
        stream_record(None),
        {"eventName": "INSERT"},
    ],
    ids=["modify", "remove", "counter", "other-entity", "keys-only", "no-dynamodb"],
)
def test_anything_but_an_order_insert_is_ignored(record):
    assert event_from_record(record) is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"total": None},
        {"total": {"S": "333.48"}},
        {"tax": {"N": "NaN"}},
        {"orderNumber": {"N": "1"}},
        {"items": {"L": []}},
        {"items": None},
        {"sourceMessageId": {"S": ""}},
    ],
)
def test_a_malformed_order_image_is_refused_whole(overrides):
    with pytest.raises(MalformedOrder) as error:
        event_from_record(stream_record(order_image(**overrides)))
    assert "333.48" not in str(error.value)  # names the field, never a value


def test_order_events_skips_malformed_and_foreign_records_and_keeps_order():
    records = [
        stream_record(order_image(), sequence="1"),
        stream_record(order_image(total=None), sequence="2"),
        stream_record(order_image(), event_name="MODIFY", sequence="3"),
        "not a record",
        stream_record(order_image(id={"S": "other"}), sequence="5"),
    ]
    assert [e.sequence_number for e in order_events(records)] == ["1", "5"]


def _event(size: int) -> OrderEvent:
    return OrderEvent("o", "t", '{"x": "' + "a" * size + '"}', "1")


def test_chunks_hold_at_most_ten_entries_and_256_kb_in_order():
    events = [_event(10)] * 25 + [_event(100_000)] * 5 + [_event(10)] * 3
    ranges = list(chunks(events))
    assert [i for r in ranges for i in r] == list(range(len(events)))
    for r in ranges:
        assert 1 <= len(r) <= MAX_ENTRIES
        assert sum(events[i].size for i in r) <= MAX_REQUEST_BYTES
    # ten small a request; a request closes before its size would pass 256 KB (two 100 KB entries fit)
    assert [len(r) for r in ranges] == [10, 10, 7, 2, 4]
    assert len(list(chunks([_event(500)] * 100))) == 10  # a stream batch of 100 orders: 10 requests


# Hypothesis: arbitrary stream records never crash the publisher, and an event is whole or absent.

_values = st.recursive(
    st.one_of(
        st.fixed_dictionaries({"S": st.text(max_size=30)}),
        st.fixed_dictionaries({"N": st.sampled_from(["1", "0.10", "-3", "1E+2", "NaN", "x", "", "1e400"])}),
        st.fixed_dictionaries({"BOOL": st.booleans()}),
        st.fixed_dictionaries({"NULL": st.just(True)}),
        st.text(max_size=5),
        st.integers(),
        st.none(),
    ),
    lambda children: st.one_of(
        st.fixed_dictionaries({"L": st.lists(children, max_size=3)}),
        st.fixed_dictionaries({"M": st.dictionaries(st.text(max_size=5), children, max_size=3)}),
    ),
    max_leaves=8,
)
_names = st.sampled_from(
    [
        *("id", "tenantId", "orderNumber", "cartId", "status", "currency", "subtotal", "tax", "total", "items"),
        *("dateCreated", "sourceMessageId", "entityType", "customerEmail"),
    ]
)


@st.composite
def mutated_records(draw: st.DrawFn) -> Any:
    image = order_image()
    for name in draw(st.lists(_names, max_size=4)):
        if draw(st.booleans()):
            image.pop(name, None)
        else:
            image[name] = draw(_values)
    if draw(st.booleans()):  # a huge order: many items, long strings
        image["items"] = {"L": [{"M": {"id": {"S": "x" * 100}}}] * draw(st.integers(1, 2000))}
    record = stream_record(image, event_name=draw(st.sampled_from(["INSERT", "INSERT", "MODIFY", "REMOVE", "?"])))
    return draw(st.one_of(st.just(record), st.just(image), _values, st.just({"dynamodb": image})))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_records(), max_size=5))
def test_arbitrary_records_never_crash_and_never_make_a_partial_event(records):
    for event in order_events(records):
        detail = detail_of(event)
        assert set(detail) == ORDER_CREATED_FIELDS
        assert all(v not in ("", None) for v in detail.values())
        assert all(Decimal(detail[name]).is_finite() for name in ("subtotal", "tax", "total"))
        assert "customerEmail" not in event.detail
        assert event.size <= MAX_REQUEST_BYTES


def test_the_handler_refuses_an_event_that_is_not_a_stream_batch():
    with pytest.raises(ValueError, match="not a DynamoDB stream event"):
        lambda_handler({"body": "x"}, None)


def test_without_an_order_no_bus_is_needed_and_with_one_a_missing_bus_is_named(monkeypatch):
    monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    counter = stream_record({"PK": {"S": "COUNTER#acme"}, "SK": {"S": "ORDER_NUMBER#20251230"}})
    assert lambda_handler({"Records": [counter]}, None) == {"batchItemFailures": []}
    with pytest.raises(ConfigurationError, match="EVENT_BUS_NAME"):
        lambda_handler({"Records": [stream_record(order_image())]}, None)


def test_a_malformed_order_is_logged_with_ids_only(monkeypatch, caplog):
    # Given a batch whose only order image lacks its total (the e-mail and address are in the image)
    monkeypatch.setenv("EVENT_BUS_NAME", "bus")
    record = stream_record(order_image(total=None), sequence="42")

    # When the publisher handles it
    response = lambda_handler({"Records": [record]}, None)

    # Then nothing is published or failed, and the log line names the record and the field, nothing personal
    assert response == {"batchItemFailures": []}
    from order_creator.events import logger

    logged = "\n".join(logger.registered_formatter.format(r) for r in caplog.records)  # the JSON lines Lambda logs
    assert "malformed order image" in logged
    assert '"sequence_number":"42"' in logged
    assert "total is missing" in logged
    for personal in ("jane@example.com", "Long St", "Cape Town", "333.48"):
        assert personal not in logged
