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
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from order_creator.batch import OrderCreator, Record, Status, settle
from order_creator.errors import PermanentError
from order_creator.handler import lambda_handler
from order_creator.numbering import day_key
from tests.factories import (
    assert_gapless,
    cart,
    cart_json,
    invoke,
    lambda_context,
    message,
    new_tenant,
    orders_of,
    record,
    sqs_event,
)
from tests.fakes import FakeCarts, FakeDeadLetters, FakeStore
from tests.reliability.faults import CartReply
from tests.reliability.scenario import read_dead_letters

TENANT = "tenant-bad-input"
TWIN = "tenant-bad-input-twin"  # shares order ids (and cart id texts) with TENANT: its orders are its own
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
        value = draw(st.sampled_from([value, Decimal(f"1E-{digits * 4}")]))
        body["campaign"] = {"id": "c", "code": "C", "discountPercentage": value}
        return _case(VALID if _storable(value) else PERMANENT, body, document)
    _price_first_line(document, value)
    return _case(_expected_for_number(value), body, document)


def _past_38_digits_with_trailing_zeros(draw, body, document):
    # A value the table holds (1-38 significant digits, exponent in DynamoDB's range) written with enough
    # trailing zeros to pass 38 digits: it is stored by value, never refused for its form (issue 16, 1)
    significant = draw(st.text("0123456789", min_size=1, max_size=38).filter(lambda t: t[0] != "0"))
    exponent = draw(st.integers(-128, 80))
    zeros = draw(st.integers(39 - len(significant), 60))
    value = Decimal(f"{significant}{'0' * zeros}E{exponent - zeros}")
    assert len(value.as_tuple().digits) > 38
    if draw(st.booleans()):
        percentage = Decimal(f"{min(int(significant[:2]), 100)}.{significant[2:]}{'0' * zeros}")
        body["campaign"] = {"id": "c", "code": "C", "discountPercentage": percentage}
        return _case(VALID if _storable(percentage) else PERMANENT, body, document)
    _price_first_line(document, value)
    return _case(_expected_for_number(value), body, document)


def _price_first_line(document, value):
    """Make `value` the first line's price and subtotal; the cart's sums follow exactly."""
    with localcontext() as exact:
        exact.prec = 400
        document["items"][0].update(unitPrice=value, subtotal=value)
        document["subtotal"] = value + Decimal("0.01")
        document["total"] = document["subtotal"] + document["tax"]


def _expected_for_number(value: Decimal) -> str:
    """For a price: valid when DynamoDB can hold it and every sum it is part of (contract §3: no cap on decimals).

    The table holds 38 significant digits and magnitudes from 1E-130 to below 1E+126; trailing zeros
    do not count (12.50000 is 12.5). The cart's subtotal adds 0.01 to a price, so that sum must fit too.
    """
    with localcontext() as exact:
        exact.prec = 400
        values = [value, value + Decimal("0.01"), value + Decimal("0.01") + Decimal("43.50")]
    return VALID if all(_storable(v) for v in values) else PERMANENT


def _storable(value: Decimal) -> bool:
    if value == 0:
        return True
    digits = value.as_tuple().digits
    significant = len("".join(map(str, digits)).rstrip("0"))
    return significant <= 38 and Decimal("1E-130") <= abs(value) < Decimal("1E+126")


# Text fields and their length limits (characters): the message's and the cart's.
_MESSAGE_TEXT = {
    ("billingAddress", "street"): 256,
    ("billingAddress", "city"): 256,
    ("billingAddress", "province"): 256,
    ("billingAddress", "postalCode"): 16,
    ("campaign", "id"): 256,
    ("campaign", "code"): 256,
    ("campaign", "name"): 256,
    ("paymentDetails", "paymentId"): 256,
    ("paymentDetails", "method"): 256,
}
_CART_TEXT = ("id", "productId", "productName")
MULTI_BYTE = st.characters(min_codepoint=0x80, exclude_categories=("Cs",))  # 2, 3 and 4 bytes in UTF-8


def _exactly(draw, length):
    """`length` multi-byte characters: a drawn run repeated (a few thousand drawn characters would overrun
    Hypothesis's buffer and the example would be thrown away)."""
    run = draw(st.text(MULTI_BYTE, min_size=1, max_size=8))
    return (run * length)[:length]


def _multi_byte_text_at_every_limit(draw, body, document):
    # Every text field of the message and of the cart's lines filled to its limit with multi-byte
    # characters: limits count characters, so it is valid; one character more anywhere is refused
    body["campaign"] = {"id": "c", "code": "C"}
    body["paymentDetails"] = {"paymentId": "p"}
    for (part, name), limit in _MESSAGE_TEXT.items():
        body[part][name] = _exactly(draw, limit)
    for line in document["items"]:
        for name in _CART_TEXT:
            line[name] = _exactly(draw, 256)
    if not draw(st.booleans()):
        return _case(VALID, body, document)
    fields = [*(("message", *key) for key in _MESSAGE_TEXT), *(("cart", name, "") for name in _CART_TEXT)]
    where, first, second = draw(st.sampled_from(fields))
    if where == "message":
        body[first][second] += draw(MULTI_BYTE)
    else:
        document["items"][0][first] += draw(MULTI_BYTE)
    return _case(PERMANENT, body, document)


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
    _past_38_digits_with_trailing_zeros,
    _multi_byte_text_at_every_limit,
    _quantity,
    _date_without_offset,
    _edge_of_the_calendar,
    _off_by_one_cent,
    _cart_mismatch,
    _cart_not_json,
    _cart_wrong_shape,
]


@st.composite
def batches(draw: st.DrawFn, max_size: int = 10) -> list[dict[str, Any]]:
    """Cases, and for some of them a twin: the same order id and cart id text in another tenant (its own order)."""
    batch = draw(st.lists(cases(), min_size=1, max_size=max_size))
    twins = []
    for case in batch:
        if case["expect"] == VALID and draw(st.integers(0, 2)) == 0:
            body = {**case["body"], "tenantId": TWIN}
            document = {**case["cart"], "tenantId": TWIN} if isinstance(case["cart"], dict) else case["cart"]
            twins.append(
                {**case, "body": body, "cart": document, "tenant": TWIN, "mutation": "twin:" + case["mutation"]}
            )
    order = draw(st.permutations(batch + twins))
    return list(order)


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
    processor = OrderCreator(carts, store, ZONE, cart_worst_case_seconds=0.0, sleep=lambda _: None)
    return carts, store, processor


def _records(batch, serve):
    records = []
    for case in batch:
        event(case["mutation"])  # --hypothesis-show-statistics: how often each class was searched
        text = _cart_text(case)
        if text is not None:
            serve(case.get("tenant", TENANT), case["cart_id"], text)
        records.append(record(_body_text(case)))
    return records


def _personal(case):
    body = case["body"] if isinstance(case["body"], dict) else {}
    address = body.get("billingAddress") if isinstance(body.get("billingAddress"), dict) else {}
    values = [body.get("customerEmail"), address.get("street")]
    return [v for v in values if isinstance(v, str) and len(v) > 3]


@settings(PROPERTY, max_examples=400)
@given(batch=batches())
def test_every_record_ends_as_an_order_or_a_permanent_failure_with_a_reason(fakes, batch):
    # Given a batch of messages and carts, each with at most one thing wrong
    carts, store, processor = fakes
    carts.answers.clear()
    store.items.clear()
    store.counters.clear()
    records = _records(batch, lambda tenant, cart_id, text: carts.answers.__setitem__((tenant, cart_id), text))

    # When the batch runs (on fakes of the ports) and its outcomes are settled with a dead-letter queue
    report = processor.process([_as_record(r) for r in records], lambda: 30.0)
    letters = FakeDeadLetters()
    failures = settle(report.outcomes, letters, lambda: 30.0)

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
    # And the store holds exactly the created orders, each in its own tenant, numbered 1..N per tenant and
    # day with N the counter
    created = [o for o in report.outcomes if o.status is Status.CREATED]
    assert len(store.items) == len(created)
    assert {(o.tenant_id, o.order_id) for o in created} == {(i["tenantId"], i["id"]) for i in store.items.values()}
    by_day: dict[tuple[str, str], list[int]] = {}
    for item in store.items.values():
        _, day, sequence = item["orderNumber"].split("-")
        by_day.setdefault((item["tenantId"], day), []).append(int(sequence))
    assert {key: sorted(numbers) for key, numbers in by_day.items()} == {
        (key.tenant_id, day_key(key.day)): list(range(1, value + 1)) for key, value in store.counters.items()
    }
    # And every permanent failure is dead-lettered with its body byte for byte
    permanent = {o.record.message_id: o.record.body for o in report.outcomes if o.status is Status.PERMANENT}
    assert {letter.message_id: letter.body for letter in letters.letters} == permanent


def _as_record(raw):
    return Record(raw["messageId"], raw["body"], int(raw["attributes"]["SentTimestamp"]), 1)


@settings(PROPERTY, max_examples=15)
@given(batch=batches())
def test_the_real_handler_ends_each_record_as_an_order_or_a_dead_letter(rig, batch):
    # Given a batch of messages and carts, served by the Cart API on loopback
    records = _records(batch, lambda tenant, cart_id, text: rig.carts.put(tenant, cart_id, CartReply(text)))
    before = {(t, o["id"]) for t in (TENANT, TWIN) for o in orders_of(rig.dynamodb, rig.table, t)}

    # When the real handler runs it against the moto server, with a dead-letter queue
    failures = invoke(*records)

    # Then nothing is left for SQS: each record became an order or a dead letter, never both
    assert failures == []
    created = {
        o["sourceMessageId"]
        for t in (TENANT, TWIN)
        for o in orders_of(rig.dynamodb, rig.table, t)
        if (t, o["id"]) not in before
    }
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
    assert_gapless(rig.dynamodb, rig.table, TWIN)


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
        lambda_handler(event, lambda_context())


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
    assert lambda_handler(sqs_event(), lambda_context()) == {"batchItemFailures": []}
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


@pytest.mark.parametrize("number", ["1e99999999999999999999", "-1E-99999999999999999999"])
def test_a_number_past_decimal_range_in_a_message_is_a_permanent_failure_of_that_record_alone(rig, number):
    # Given a record whose body carries, in a field of its own, a number whose exponent is past what Decimal can
    # hold (json hands it to Decimal, which raises InvalidOperation: an ArithmeticError, not a ValueError)
    records = _one_bad_among_good(rig)
    records[1]["body"] = records[1]["body"].replace('"tenantId"', f'"weight": {number}, "tenantId"', 1)
    assert number in records[1]["body"]
    # When / Then the other records are created and that one is dead-lettered as InvalidMessage
    _assert_only_the_bad_one_is_dead_lettered(rig, records)
