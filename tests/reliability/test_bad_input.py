"""Bad input, generated: every message and cart ends as an order or as a permanent failure with a reason.

Never an unhandled exception, never a transient failure for a record that can never succeed (SQS would
retry it forever), never a partial write. Most examples run the batch on in-memory fakes of the ports;
a smaller number go through the real handler, the Cart API on loopback and the moto server.
"""

from __future__ import annotations

import json
import string
import uuid
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_creator.batch import BatchProcessor, Record, Status, settle
from order_creator.errors import PermanentError
from order_creator.handler import lambda_handler
from order_creator.numbering import day_key
from tests.factories import LambdaContext, cart, cart_json, message, new_tenant, record, sqs_event
from tests.integration.support import assert_gapless, invoke, orders_of
from tests.reliability.fakes import FakeCarts, FakeDeadLetters, FakeStore
from tests.reliability.faults import CartReply
from tests.reliability.scenario import read_dead_letters

TENANT = "tenant-bad-input"
VALID, PERMANENT, EITHER = "valid", "permanent", "either"
PERMANENT_TYPES = {"InvalidMessage", "CartNotFound", "CartRejected", "InvalidCart", "OrderConflict"}

SEPARATORS = "#|/:?&=% \t\n\x00.,;@"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


# --- one case: a message body, its cart's text, and what it must end as -------------------------------


def _case(
    expect: str, body: Any = None, cart_document: Any = None, text: str | None = None, text_cart: str | None = None
) -> dict[str, Any]:
    return {"expect": expect, "body": body, "cart": cart_document, "text": text, "text_cart": text_cart}


@st.composite
def cases(draw: st.DrawFn, mutations: list[Any] | None = None) -> dict[str, Any]:
    """A valid message and cart with at most one thing wrong with them (or nothing)."""
    cart_id = f"cart-{uuid.uuid4().hex[:12]}"
    body = message(TENANT, cart_id)
    document = cart(TENANT, cart_id, prices=("149.99", "0.01"))
    mutation = draw(st.sampled_from(mutations or MUTATIONS))
    return {**mutation(draw, body, document), "cart_id": cart_id, "mutation": mutation.__name__}


def _valid(draw, body, document):
    return _case(VALID, body, document)


def _body_not_json(draw, body, document):
    return _case(PERMANENT, text=draw(st.text(max_size=200).filter(lambda t: not _is_json_object(t))))


def _body_wrong_shape(draw, body, document):
    return _case(PERMANENT, text=json.dumps(draw(JSON_VALUES)))


def _field_any_json(draw, body, document):
    field = draw(st.sampled_from(["orderId", "tenantId", "cartId", "customerEmail", "billingAddress", "dateCreated"]))
    body[field] = draw(JSON_VALUES)
    return _case(EITHER, body, document)


def _optional_any_json(draw, body, document):
    body[draw(st.sampled_from(["campaign", "paymentDetails", "unknown"]))] = draw(JSON_VALUES)
    return _case(EITHER, body, document)


def _separator_in_id(draw, body, document):
    field = draw(st.sampled_from(["tenantId", "cartId"]))
    body[field] = draw(st.text(string.ascii_letters, min_size=1, max_size=8)) + draw(st.sampled_from(SEPARATORS))
    return _case(PERMANENT, body, document)


def _huge_string(draw, body, document):
    size = draw(st.sampled_from([257, 5000, 200_000]))  # SQS bodies stop at 256 KB
    where = draw(st.sampled_from(["street", "city", "email", "product", "tenant"]))
    if where == "product":
        document["items"][0]["productName"] = "x" * size
    elif where == "email":
        body["customerEmail"] = "a" * size + "@example.com"
    elif where == "tenant":
        body["tenantId"] = "t" * size
    else:
        body["billingAddress"][where] = "x" * size
    return _case(PERMANENT, body, document)


def _unicode_text(draw, body, document):
    # Any Unicode but lone surrogates, control characters included: stored as given
    body["billingAddress"]["street"] = draw(st.text(min_size=1, max_size=256))
    document["items"][0]["productName"] = draw(st.text(min_size=1, max_size=256))
    return _case(VALID, body, document)


def _lone_surrogate(draw, body, document):
    surrogate = chr(draw(st.integers(0xD800, 0xDFFF)))
    if draw(st.booleans()):
        body["billingAddress"]["street"] = f"1 Long St {surrogate}"  # json.dumps writes the escape \udxxx
        return _case(PERMANENT, body, document)
    document["items"][0]["productName"] = f"Hosting {surrogate}"
    return _case(PERMANENT, body, document)


def _number_as_string(draw, body, document):
    where = draw(st.sampled_from(["discountPercentage", "unitPrice", "quantity", "total", "tax"]))
    if where == "discountPercentage":
        body["campaign"] = {"id": "c", "code": "C", "discountPercentage": "25"}
    elif where in ("unitPrice", "quantity"):
        document["items"][0][where] = str(document["items"][0][where])
    else:
        document[where] = str(document[where])
    return _case(PERMANENT, body, document)


def _many_digits(draw, body, document):
    digits = draw(st.integers(1, 50))
    value = Decimal("12." + "".join(draw(st.sampled_from("0123456789")) for _ in range(digits)))
    if draw(st.booleans()):
        # DynamoDB holds 38 significant digits: a percentage may have 36 decimals, no more
        value = draw(st.sampled_from([value, Decimal(f"1E-{digits * 4}")]))
        body["campaign"] = {"id": "c", "code": "C", "discountPercentage": value}
        return _case(_expected_for_number(value, decimals=36), body, document)
    with localcontext() as exact:
        exact.prec = 80
        document["items"][0].update(unitPrice=value, subtotal=value)
        document["subtotal"] = value + Decimal("0.01")
        document["total"] = document["subtotal"] + document["tax"]
    return _case(_expected_for_number(value, decimals=8), body, document)


def _expected_for_number(value: Decimal, decimals: int) -> str:
    """Valid when its value needs at most `decimals` decimals and 38 digits (12.50000 is 12.5); written with
    more than 38 digits it may be refused for its form, so either outcome is right then."""
    normalized = value.normalize().as_tuple()
    needed_decimals = max(0, -int(normalized.exponent))
    if needed_decimals > decimals or max(len(normalized.digits), needed_decimals) > 38:
        return PERMANENT
    return VALID if len(value.as_tuple().digits) <= 38 else EITHER


def _quantity(draw, body, document):
    document["items"][0]["quantity"] = draw(st.sampled_from([0, -1, -100, 2.0, True, None]))
    return _case(PERMANENT, body, document)


def _date_without_offset(draw, body, document):
    stamp = draw(st.sampled_from(["2025-12-30T10:15:00", "2025-12-30 10:15", "2025-12-30", "30/12/2025", ""]))
    if draw(st.booleans()):
        body["dateCreated"] = stamp
    else:
        body["paymentDetails"] = {"paymentId": "pay-1", "paidAt": stamp}
    return _case(PERMANENT, body, document)


def _edge_of_the_calendar(draw, body, document):
    # Instants near year 1 and year 9999 with extreme offsets: an order or a clear refusal, never a crash
    day = draw(
        st.sampled_from(["0001-01-01T00:30:00", "0001-01-02T00:00:00", "9999-12-31T23:30:00", "9999-12-30T12:00:00"])
    )
    stamp = day + draw(st.sampled_from(["+14:00", "-14:00", "+00:00", "+02:00", "-12:00"]))
    if draw(st.booleans()):
        body["dateCreated"] = stamp
    else:
        body["paymentDetails"] = {"paymentId": "pay-1", "paidAt": stamp}
    return _case(EITHER, body, document)


def _off_by_one_cent(draw, body, document):
    cent = draw(st.sampled_from([Decimal("0.01"), Decimal("-0.01")]))
    where = draw(st.sampled_from(["total", "subtotal", "item"]))
    if where == "item":
        document["items"][0]["subtotal"] += cent
    else:
        document[where] += cent
    return _case(PERMANENT, body, document)


def _cart_mismatch(draw, body, document):
    document[draw(st.sampled_from(["tenantId", "cartId"]))] = "someone-else"
    return _case(PERMANENT, body, document)


def _cart_not_json(draw, body, document):
    return _case(PERMANENT, body, text_cart=draw(st.text(max_size=100).filter(lambda t: not _is_json_object(t))))


def _cart_wrong_shape(draw, body, document):
    return _case(PERMANENT, body, draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict))))


MUTATIONS = [
    _valid,
    _body_not_json,
    _body_wrong_shape,
    _field_any_json,
    _optional_any_json,
    _separator_in_id,
    _huge_string,
    _unicode_text,
    _lone_surrogate,
    _number_as_string,
    _many_digits,
    _quantity,
    _date_without_offset,
    _edge_of_the_calendar,
    _off_by_one_cent,
    _cart_mismatch,
    _cart_not_json,
    _cart_wrong_shape,
]


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _body_text(case: dict[str, Any]) -> str:
    return case["text"] if case["text"] is not None else cart_json(case["body"])  # Decimals as JSON numbers


def _cart_text(case: dict[str, Any]) -> str | None:
    if case.get("text_cart") is not None:
        return case["text_cart"]
    document = case["cart"]
    if document is None:
        return None
    return cart_json(document) if isinstance(document, dict) else json.dumps(document)


# --- the properties -------------------------------------------------------------------------------------

ZONE = ZoneInfo("Africa/Johannesburg")
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def fakes():
    carts, store = FakeCarts(), FakeStore()
    processor = BatchProcessor(carts, store, ZONE, cart_worst_case_seconds=0.0, sleep=lambda _: None)
    return carts, store, processor


def _records(batch, serve):
    records = []
    for case in batch:
        text = _cart_text(case)
        if text is not None:
            serve(case["cart_id"], text)
        records.append(record(_body_text(case)))
    return records


def _personal(case):
    body = case["body"] if isinstance(case["body"], dict) else {}
    address = body.get("billingAddress") if isinstance(body.get("billingAddress"), dict) else {}
    values = [body.get("customerEmail"), address.get("street")]
    return [v for v in values if isinstance(v, str) and len(v) > 3]


@settings(PROPERTY, max_examples=400)
@given(batch=st.lists(cases(), min_size=1, max_size=10))
def test_every_record_ends_as_an_order_or_a_permanent_failure_with_a_reason(fakes, batch):
    # Given a batch of messages and carts, each with at most one thing wrong
    carts, store, processor = fakes
    carts.texts.clear()
    store.items.clear()
    store.counters.clear()
    records = _records(batch, lambda cart_id, text: carts.texts.__setitem__((TENANT, cart_id), text))

    # When the batch runs (on fakes of the ports) and its outcomes are settled with a dead-letter queue
    report = processor.process([_as_record(r) for r in records], lambda: 30.0)
    letters = FakeDeadLetters()
    failures = settle(report.outcomes, letters)

    # Then each record is created or a permanent failure with a reason, as its case says
    assert failures == []
    for case, outcome in zip(batch, report.outcomes, strict=True):
        assert outcome.status in (Status.CREATED, Status.PERMANENT), (case["mutation"], outcome)
        if case["expect"] != EITHER:
            assert outcome.status == (Status.CREATED if case["expect"] == VALID else Status.PERMANENT), case["mutation"]
        if outcome.status is Status.PERMANENT:
            assert isinstance(outcome.error, PermanentError)
            assert outcome.error.error_type in PERMANENT_TYPES
            assert str(outcome.error).strip()
            assert not any(value in str(outcome.error) for value in _personal(case))
    # And the store holds exactly the created orders, numbered 1..N per day with N the counter
    created = [o for o in report.outcomes if o.status is Status.CREATED]
    assert len(store.items) == len(created)
    by_day: dict[str, list[int]] = {}
    for item in store.items.values():
        _, day, sequence = item["orderNumber"].split("-")
        by_day.setdefault(day, []).append(int(sequence))
    assert {day: sorted(numbers) for day, numbers in by_day.items()} == {
        day_key(key.day): list(range(1, value + 1)) for key, value in store.counters.items()
    }
    # And every permanent failure is dead-lettered with its body byte for byte
    permanent = {o.record.message_id: o.record.body for o in report.outcomes if o.status is Status.PERMANENT}
    assert {letter.message_id: letter.body for letter in letters.letters} == permanent


def _as_record(raw):
    return Record(raw["messageId"], raw["body"], int(raw["attributes"]["SentTimestamp"]), 1)


@settings(PROPERTY, max_examples=15)
@given(batch=st.lists(cases(), min_size=1, max_size=10))
def test_the_real_handler_ends_each_record_as_an_order_or_a_dead_letter(rig, batch):
    # Given a batch of messages and carts, served by the Cart API on loopback
    records = _records(batch, lambda cart_id, text: rig.carts.put(TENANT, cart_id, CartReply(text)))
    before = {o["id"] for o in orders_of(rig.dynamodb, rig.table, TENANT)}

    # When the real handler runs it against the moto server, with a dead-letter queue
    failures = invoke(*records)

    # Then nothing is left for SQS: each record became an order or a dead letter, never both
    assert failures == []
    created = {o["sourceMessageId"] for o in orders_of(rig.dynamodb, rig.table, TENANT) if o["id"] not in before}
    dead = {letter.source_message_id: letter for letter in read_dead_letters(rig.sqs, rig.dead_letter_queue)}
    for case, raw in zip(batch, records, strict=True):
        message_id = raw["messageId"]
        assert (message_id in created) != (message_id in dead), case["mutation"]
        if case["expect"] == VALID:
            assert message_id in created, case["mutation"]
        elif case["expect"] == PERMANENT:
            assert dead[message_id].error_type in PERMANENT_TYPES, case["mutation"]
        if message_id in dead:
            assert dead[message_id].body == raw["body"]
    # And no order is half-written: numbers 1..N per day, N the counter
    assert_gapless(rig.dynamodb, rig.table, TENANT)


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        {},
        {"Records": "not a list"},
        {"Records": [{"body": "{}"}]},
        {"Records": [{"eventSource": "aws:sns", "messageId": "m-1", "body": "{}"}]},
        {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]},
        {"detail-type": "Scheduled Event", "source": "aws.events"},
    ],
)
def test_an_event_that_is_not_an_sqs_event_raises(rig, event):
    # Given an event that is not a Lambda SQS event / When the handler gets it / Then it raises ValueError
    with pytest.raises(ValueError, match="not an SQS event"):
        lambda_handler(event, LambdaContext())


def test_a_record_with_an_empty_or_missing_body_is_a_permanent_failure(rig):
    # Given a valid record between a record with an empty body and one without a body
    rig.carts.put(TENANT, "cart-ok", CartReply(cart_json(cart(TENANT, "cart-ok"))))
    good = record(message(TENANT, "cart-ok"))
    empty = record("")
    missing = {k: v for k, v in record("").items() if k != "body"}

    # When the handler runs the batch
    failures = invoke(empty, good, missing)

    # Then the valid one is an order, the other two are dead-lettered as InvalidMessage
    assert failures == []
    assert [o["sourceMessageId"] for o in orders_of(rig.dynamodb, rig.table, TENANT)] == [good["messageId"]]
    dead = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert sorted((d.source_message_id, d.error_type, d.body) for d in dead) == sorted(
        [(empty["messageId"], "InvalidMessage", ""), (missing["messageId"], "InvalidMessage", "")]
    )


def test_an_event_with_no_records_creates_nothing(rig):
    # Given an SQS event without records / When the handler runs / Then it reports nothing and writes nothing
    assert lambda_handler(sqs_event(), LambdaContext()) == {"batchItemFailures": []}
    assert orders_of(rig.dynamodb, rig.table, TENANT) == []


# --- found by these tests (fixed since): inputs that failed the whole batch instead of one record ------


def _one_bad_among_good(rig, **bad_fields):
    """A valid record, a record with `bad_fields`, another valid record; both carts served."""
    records = []
    for i, fields in enumerate([{}, bad_fields, {}]):
        rig.carts.put(TENANT, f"cart-{i}", CartReply(cart_json(cart(TENANT, f"cart-{i}"))))
        records.append(record(cart_json(message(TENANT, f"cart-{i}", **fields))))
    return records


def _assert_only_the_bad_one_is_dead_lettered(rig, records):
    failures = invoke(*records)
    assert failures == []
    created = sorted(o["sourceMessageId"] for o in orders_of(rig.dynamodb, rig.table, TENANT))
    assert created == sorted([records[0]["messageId"], records[2]["messageId"]])
    dead = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert [(d.source_message_id, d.error_type) for d in dead] == [(records[1]["messageId"], "InvalidMessage")]
    assert_gapless(rig.dynamodb, rig.table, TENANT)


@pytest.mark.parametrize("field", ["dateCreated", "paidAt"])
@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_timestamp_outside_the_range_of_dates_is_a_permanent_failure(rig, field, stamp):
    # Given a timestamp with an offset whose UTC instant is before year 1 or after year 9999
    fields = (
        {"dateCreated": stamp} if field == "dateCreated" else {"paymentDetails": {"paymentId": "p", "paidAt": stamp}}
    )
    records = _one_bad_among_good(rig, **fields)
    # When / Then the other records are created and that one is dead-lettered as InvalidMessage
    _assert_only_the_bad_one_is_dead_lettered(rig, records)


def test_a_date_whose_business_day_is_after_year_9999_is_a_permanent_failure(rig):
    # Given 9999-12-31 23:00 UTC, which is already year 10000 in Johannesburg (the rig's zone)
    records = _one_bad_among_good(rig, dateCreated="9999-12-31T23:00:00+00:00")
    # When / Then the other records are created and that one is dead-lettered as InvalidMessage
    _assert_only_the_bad_one_is_dead_lettered(rig, records)


@pytest.mark.parametrize("percentage", ["12.345678901234567890123456789012345678901", "1E-200"])
def test_a_discount_percentage_dynamodb_cannot_hold_is_a_permanent_failure(rig, percentage):
    # Given a campaign whose discountPercentage is a JSON number between 0 and 100 that DynamoDB cannot hold
    records = _one_bad_among_good(rig, campaign={"id": "c", "code": "C", "discountPercentage": Decimal(percentage)})
    # When / Then the other records are created and that one is dead-lettered as InvalidMessage
    _assert_only_the_bad_one_is_dead_lettered(rig, records)


@pytest.mark.parametrize(
    ("stamp", "day"), [("0999-06-15T12:00:00+00:00", "09990615"), ("0001-01-01T12:00:00+00:00", "00010101")]
)
def test_orders_dated_before_year_1000_get_an_eight_digit_day_or_are_refused(rig, stamp, day):
    # Given two messages of one tenant dated before year 1000, arriving in two batches
    tenant = new_tenant("edge")
    for i in range(2):
        rig.carts.put(tenant, f"cart-{i}", CartReply(cart_json(cart(tenant, f"cart-{i}"))))
        sent = record(message(tenant, f"cart-{i}", dateCreated=stamp))

        # When the handler runs each batch
        failures = invoke(sent)

        # Then neither batch fails
        assert failures == []
    # And both are orders numbered with the day written YYYYMMDD, or both are refused as invalid
    numbers = sorted(o["orderNumber"] for o in orders_of(rig.dynamodb, rig.table, tenant))
    dead = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert numbers == [f"ORD-{day}-00001", f"ORD-{day}-00002"] or (
        numbers == [] and [d.error_type for d in dead] == ["InvalidMessage"] * 2
    )
