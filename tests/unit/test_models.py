"""Message and cart validation: every contract rule has a case that passes and one that fails."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from order_creator.errors import InvalidCart, InvalidMessage
from order_creator.models import load_json, parse_cart, parse_message
from tests.factories import cart, cart_json, message


def body(**overrides: object) -> str:
    return json.dumps(message("tenant-001", "cart-9f2c", **overrides))


def test_the_contract_example_parses_with_every_optional_part():
    # Given the message of contract §2
    text = body(
        campaign={
            "id": "camp-1",
            "code": "SUMMER25",
            "name": "Summer",
            "discountPercentage": 25,
            "termsAndConditionsUrl": "https://example.com/terms",
            "fromDate": "2025-12-01",
            "toDate": "2026-01-31",
        },
        paymentDetails={"paymentId": "pay-77", "method": "card", "paidAt": "2025-12-30T10:16:00+02:00"},
        somethingNew="ignored",
    )

    # When it is parsed
    parsed = parse_message(text)

    # Then every field is there, unknown ones ignored, and dateCreated kept as given
    assert parsed.tenant_id == "tenant-001"
    assert parsed.campaign is not None and parsed.campaign.discount_percentage == Decimal(25)
    assert parsed.payment_details is not None and parsed.payment_details.paid_at == "2025-12-30T10:16:00+02:00"
    assert parsed.date_created == "2025-12-30T10:15:00+02:00"
    assert "somethingNew" not in parsed.to_attributes()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"orderId": "not-a-uuid"}, "orderId"),
        ({"tenantId": "tenant#1"}, "tenantId"),
        ({"tenantId": "x" * 65}, "tenantId"),
        ({"cartId": ""}, "cartId"),
        ({"customerEmail": "jane@"}, "customerEmail"),
        ({"customerEmail": None}, "customerEmail"),
        ({"billingAddress": {"street": "1 Long St", "city": "Cape Town", "country": "za"}}, "country"),
        ({"campaign": {"code": "X"}}, "campaign.id"),
        ({"campaign": {"id": "c", "code": "X", "discountPercentage": 101}}, "discountPercentage"),
        ({"campaign": {"id": "c", "code": "X", "discountPercentage": "25"}}, "discountPercentage"),
        ({"campaign": {"id": "c", "code": "X", "fromDate": "2026-02-01", "toDate": "2026-01-31"}}, "toDate"),
        ({"campaign": {"id": "c", "code": "X", "termsAndConditionsUrl": "ftp://x.org/t"}}, "termsAndConditionsUrl"),
        ({"paymentDetails": {"method": "card"}}, "paymentId"),
        ({"paymentDetails": {"paymentId": "p", "paidAt": "2025-12-30T10:16:00"}}, "paidAt"),
        ({"dateCreated": "2025-12-30T10:15:00"}, "dateCreated"),
        ({"dateCreated": "yesterday"}, "dateCreated"),
        ({"dateCreated": "0001-01-01T00:00:00+14:00"}, "dateCreated"),
        ({"paymentDetails": {"paymentId": "p", "paidAt": "9999-12-31T23:59:59-14:00"}}, "paidAt"),
    ],
)
def test_a_missing_or_malformed_known_field_is_a_permanent_failure_naming_it(overrides, field):
    with pytest.raises(InvalidMessage) as raised:
        parse_message(body(**overrides))

    assert field in str(raised.value)


@pytest.mark.parametrize("number", ["1E-200", "12.345678901234567890123456789012345678901"])
def test_a_percentage_dynamodb_cannot_hold_is_refused(number):
    text = body(campaign={"id": "c", "code": "X", "discountPercentage": "@"}).replace('"@"', number)

    with pytest.raises(InvalidMessage, match=r"discountPercentage: Value error, .* DynamoDB can store"):
        parse_message(text)


@pytest.mark.parametrize(
    ("number", "stored"),
    [("100", "100"), ("0", "0"), ("12.5" + "0" * 40, "12.5"), ("1E-130", "1E-130"), ("33.3333333333", "33.3333333333")],
)
def test_a_percentage_the_table_can_hold_is_kept_by_value(number, stored):
    text = body(campaign={"id": "c", "code": "X", "discountPercentage": "@"}).replace('"@"', number)

    campaign = parse_message(text).campaign

    assert campaign is not None and str(campaign.discount_percentage) == stored


@pytest.mark.parametrize(
    ("overrides", "value"),
    [
        ({"dateCreated": "leak.canary@example.com"}, "leak.canary"),
        ({"paymentDetails": {"paymentId": "p", "paidAt": "1 Long St"}}, "Long St"),
        ({"campaign": {"id": "c", "code": "X", "toDate": "Cape Town"}}, "Cape Town"),
        ({"orderId": "leak.canary@example.com"}, "`l`"),
    ],
)
def test_a_reason_never_repeats_the_value_it_refuses(overrides, value):
    # A value may be personal data even in the wrong field: the reason names the field and the rule only
    with pytest.raises(InvalidMessage) as raised:
        parse_message(body(**overrides))

    assert value not in str(raised.value)


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '"text"', "null", '{"a": NaN}', '{"a": "\\ud800"}'])
def test_bodies_that_are_not_a_json_object_are_refused(text):
    with pytest.raises(InvalidMessage):
        parse_message(text)


def test_an_upper_case_order_id_is_stored_in_canonical_form():
    parsed = parse_message(body(orderId="3F0B6C1E-8D0A-4F6E-9F57-2B1F8F3F9A10"))

    assert str(parsed.order_id) == "3f0b6c1e-8d0a-4f6e-9f57-2b1f8f3f9a10"


def test_amounts_are_exact_decimals_from_the_json_text():
    # Given a cart whose amounts a float would get wrong
    document = load_json(cart_json(cart("t", "c", prices=["0.10", "0.20"], tax="0.00")))

    # When it is parsed
    parsed = parse_cart(document)

    # Then 0.10 + 0.20 is exactly 0.30
    assert parsed.subtotal == Decimal("0.30")
    assert all(isinstance(item.unit_price, Decimal) for item in parsed.items)


def contract_cart() -> dict[str, object]:
    return load_json(
        '{"cartId": "cart-9f2c", "tenantId": "tenant-001", "currency": "ZAR",'
        ' "items": [{"id": "li-1", "productId": "p-1", "productName": "Hosting Pro", "quantity": 2,'
        ' "unitPrice": 149.99, "discount": 10.00, "subtotal": 289.98}],'
        ' "subtotal": 289.98, "tax": 43.50, "total": 333.48}'
    )


def test_the_contract_cart_is_valid():
    assert parse_cart(contract_cart()).total == Decimal("333.48")


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("items",), [], "items"),
        (("items", 0, "quantity"), 0, "quantity"),
        (("items", 0, "quantity"), 2.0, "quantity"),
        (("items", 0, "unitPrice"), "149.99", "unitPrice"),
        (("items", 0, "discount"), Decimal("-1"), "discount"),
        (("items", 0, "subtotal"), Decimal("289.97"), "subtotal"),
        (("subtotal",), Decimal("289.99"), "sum of the item subtotals"),
        (("total",), Decimal("333.49"), "subtotal + tax"),
        (("currency",), "zar", "currency"),
        (("tenantId",), "tenant#001", "tenantId"),
        (("items", 0, "unitPrice"), Decimal("1E-131"), "smallest number DynamoDB can store"),
        (("items", 0, "unitPrice"), Decimal("1E+126"), "beyond the numbers DynamoDB can store"),
        (("items", 0, "unitPrice"), Decimal("1." + "1" * 38), "more than 38 significant digits"),
    ],
)
def test_a_cart_that_breaks_a_rule_is_invalid(path, value, reason):
    document = contract_cart()
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    with pytest.raises(InvalidCart) as raised:
        parse_cart(document)

    assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        ("0.123456789", "0.123456789"),
        ("1E+16", "1E+16"),
        ("0.1" + "0" * 40, "0.1"),
        ("1" * 38, "1" * 38),
        ("1" * 38 + "0" * 10, "1" * 38 + "0" * 10),
    ],
)
def test_any_amount_the_table_can_hold_is_kept_by_value(amount, stored):
    # Given a one-line cart whose every amount is `amount` (the Cart API owns prices: no cap on decimals)
    document = cart("t", "c", prices=(amount,), tax="0")
    document["items"][0]["unitPrice"] = document["items"][0]["subtotal"] = Decimal(amount)
    document["subtotal"] = document["total"] = Decimal(amount)

    # When it is parsed / Then every amount is kept, written as given or, past 38 digits, without trailing zeros
    parsed = parse_cart(load_json(cart_json(document)))
    assert parsed.total == Decimal(stored) and Decimal(stored) == Decimal(amount)
    assert len(parsed.total.as_tuple().digits) <= 38


def test_a_cart_that_is_not_an_object_is_invalid():
    with pytest.raises(InvalidCart):
        parse_cart([])


@pytest.mark.parametrize(
    "text",
    [
        '{"street": "1 Long St \\ud800"}',  # an escaped lone surrogate in plain ASCII text
        '{"street": "1 Long St \ud800"}',  # a lone surrogate as a character (the SQS body is already decoded)
        '{"street": "1 Long St \ud800"}'.encode("utf-8", "surrogatepass"),  # in the Cart API's bytes
        '{"street": "S\\u00e3o Paulo \\uDFFF"}',  # a non-ASCII escape next to it, upper case
    ],
)
def test_a_lone_surrogate_is_refused_however_it_arrives(text):
    # Given JSON holding a lone surrogate, which DynamoDB can never store as UTF-8
    # When it is loaded, Then it is refused as a UnicodeError (a bad body, never a crash later)
    with pytest.raises(UnicodeError):
        load_json(text)


@pytest.mark.parametrize(
    ("text", "street"),
    [
        ('{"street": "1 Long St"}', "1 Long St"),
        ('{"street": "S\\u00e3o Paulo \\ud83d\\ude00"}', "São Paulo \U0001f600"),  # a valid pair of escapes
        ('{"street": "São Paulo"}'.encode(), "São Paulo"),
    ],
)
def test_text_without_a_lone_surrogate_loads(text, street):
    # Given JSON whose strings are all encodable, When loaded, Then it reads as written
    assert load_json(text) == {"street": street}


SENTINEL = "987654"  # a value no rule of the contract holds: it may appear in a reason only if a value was echoed


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("items", 0, "subtotal"), Decimal("987654.32")),
        (("items", 0, "unitPrice"), Decimal("987654.32")),
        (("items", 0, "quantity"), 987654),
        (("subtotal",), Decimal("987654.32")),
        (("tax",), Decimal("987654.32")),
        (("total",), Decimal("987654.32")),
        (("currency",), "X987654"),
        (("cartId",), "987654 x"),
        (("items", 0, "productName"), ["987654"]),
    ],
)
def test_a_cart_reason_names_the_field_and_the_rule_never_a_value(path, value):
    # Given a cart whose field holds the sentinel and breaks a rule (or makes an amount rule fail)
    document = contract_cart()
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    # When it is checked, the reason (what a dead letter's errorMessage carries) never echoes a value
    with pytest.raises(InvalidCart) as raised:
        parse_cart(document)
    assert SENTINEL not in str(raised.value)
    assert "149.99" not in str(raised.value) and "289.98" not in str(raised.value)


@pytest.mark.parametrize(
    "body",
    [
        '{"orderId": "987654"',
        "987654x",
        b"\xff987654",
        '{"a": NaN, "b": 987654}',
        '{"a": ' + "987654" * 1000 + "}",
        json.dumps({**message("t", "c"), "customerEmail": "987654", "dateCreated": "987654"}),
        json.dumps({**message("t", "c"), "campaign": {"id": "c", "code": "c", "discountPercentage": 987654}}),
    ],
)
def test_a_message_reason_never_echoes_the_body(body):
    with pytest.raises(InvalidMessage) as raised:
        parse_message(body)
    assert SENTINEL not in str(raised.value)
