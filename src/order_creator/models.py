"""The message, the cart and the order (Pydantic v2). Money is `Decimal` from the JSON text to the table.

Unknown fields are ignored; numbers must be JSON numbers, dates carry an offset, amounts fit DynamoDB exactly."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, localcontext
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError, ValidationError

from order_creator.errors import InvalidCart, InvalidMessage, PermanentError

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_EXACT = 400  # digits: every sum and product of the amount checks is exact (docs/design.md)


def _amount(value: Any, *, at_most: int | None = None) -> Decimal:
    """A JSON number (no string, boolean or float), finite, from 0 to `at_most`, as DynamoDB holds it exactly (38
    significant digits, 1E-130 <= |x| < 1E+126): as given, or without trailing zeros past 38 digits. Else the error
    Pydantic's `Decimal` with `ge=0`, `le=at_most`, `allow_inf_nan=False` raises, or a ValueError naming the rule."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a JSON number")
    amount = value if isinstance(value, Decimal) else Decimal(value)
    if not amount.is_finite():
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    if amount < 0:
        raise PydanticCustomError("greater_than_equal", "Input should be greater than or equal to {ge}", {"ge": 0})
    if at_most is not None and amount > at_most:
        raise PydanticCustomError("less_than_equal", "Input should be less than or equal to {le}", {"le": at_most})
    if not amount:
        return Decimal(0)  # a zero of any exponent is the zero DynamoDB stores
    digits = len(amount.as_tuple().digits)
    if digits > 38:  # normalize() in a context as wide as the number: trailing zeros go, nothing is rounded
        amount = amount.normalize(Context(prec=digits, Emin=MIN_EMIN, Emax=MAX_EMAX))
        if len(amount.as_tuple().digits) > 38:
            raise ValueError("has more than 38 significant digits, more than DynamoDB can store")
    if amount.adjusted() < -130:  # adjusted(): the exponent of the leading digit
        raise ValueError("is below 1E-130, the smallest number DynamoDB can store")
    if amount.adjusted() >= 126:
        raise ValueError("is 1E+126 or more, beyond the numbers DynamoDB can store")
    return amount


def _aware_timestamp(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:  # its message repeats the value, which may be personal data in the wrong field
        raise ValueError("must be an ISO 8601 timestamp, e.g. 2025-12-30T10:15:00+02:00") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("must carry a UTC offset, e.g. 2025-12-30T10:15:00+02:00")
    try:
        moment.astimezone(UTC)
    except OverflowError:  # pydantic turns only ValueError into a validation error
        raise ValueError("is outside the range of dates an order can have") from None
    return value


def _iso_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:  # its message repeats the value
        raise ValueError("must be an ISO 8601 date, e.g. 2025-12-01") from None
    return value


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("must be a valid e-mail address")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value


Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Text = Annotated[str, Field(min_length=1, max_length=256)]  # so an order item stays far below DynamoDB's 400 KB
# Amounts dump to JSON as a plain Decimal does (PlainValidator's own serializer warns for each one).
_AS_DECIMAL = PlainSerializer(lambda amount: amount, return_type=Decimal, when_used="json")
Money = Annotated[Decimal, PlainValidator(_amount), _AS_DECIMAL]
Percentage = Annotated[Decimal, PlainValidator(lambda value: _amount(value, at_most=100)), _AS_DECIMAL]
Timestamp = Annotated[str, Field(max_length=64), AfterValidator(_aware_timestamp)]
IsoDate = Annotated[str, Field(max_length=10), AfterValidator(_iso_date)]
Email = Annotated[str, AfterValidator(_email)]
HttpUrl = Annotated[str, Field(max_length=2048), AfterValidator(_http_url)]


class _Model(BaseModel):
    """camelCase on the wire and in the table, snake_case in Python; unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    def to_attributes(self) -> dict[str, Any]:
        """The model as table attributes: camelCase keys, `Decimal` amounts, absent optionals left out."""
        return self.model_dump(by_alias=True, exclude_none=True)


class BillingAddress(_Model):
    """Where the invoice goes. `province` and `postalCode` are optional: not every country has them."""

    street: Text
    city: Text
    province: Text | None = None
    postal_code: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class Campaign(_Model):
    """The campaign as it was when the order was placed (kept on the order for history)."""

    id: Text
    code: Text
    name: Text | None = None
    discount_percentage: Percentage | None = None
    terms_and_conditions_url: HttpUrl | None = None
    from_date: IsoDate | None = None
    to_date: IsoDate | None = None

    @model_validator(mode="after")
    def _period(self) -> Campaign:
        if self.from_date and self.to_date and date.fromisoformat(self.to_date) < date.fromisoformat(self.from_date):
            raise ValueError("toDate is before fromDate")
        return self


class PaymentDetails(_Model):
    """The payment that settled the order, when there was one."""

    payment_id: Text
    method: Text | None = None
    paid_at: Timestamp | None = None


class OrderMessage(_Model):
    """The SQS record body (contract §2)."""

    order_id: UUID
    tenant_id: Identifier
    cart_id: Identifier
    customer_email: Email
    billing_address: BillingAddress
    campaign: Campaign | None = None
    payment_details: PaymentDetails | None = None
    date_created: Timestamp | None = None


class CartItem(_Model):
    """One line of the cart; `subtotal` must be `unitPrice × quantity − discount`."""

    id: Text
    product_id: Text
    product_name: Text
    quantity: Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
    unit_price: Money
    discount: Money = Decimal(0)
    subtotal: Money

    @model_validator(mode="after")
    def _adds_up(self) -> CartItem:
        with localcontext(prec=_EXACT):
            expected = self.unit_price * self.quantity - self.discount
        if self.subtotal != expected:  # the rule, never the amounts (contract §5)
            raise ValueError("subtotal is not unitPrice × quantity − discount")
        return self


class Cart(_Model):
    """The Cart API's answer (contract §3), with every amount check the contract lists."""

    cart_id: Identifier
    tenant_id: Identifier
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    items: Annotated[list[CartItem], Field(min_length=1, max_length=250)]
    subtotal: Money
    tax: Money
    total: Money

    @model_validator(mode="after")
    def _adds_up(self) -> Cart:
        with localcontext(prec=_EXACT):
            items_sum = sum((item.subtotal for item in self.items), Decimal(0))
            expected_total = self.subtotal + self.tax
        if self.subtotal != items_sum:
            raise ValueError("subtotal is not the sum of the item subtotals")
        if self.total != expected_total:
            raise ValueError("total is not subtotal + tax")
        return self


class OrderStatus(StrEnum):
    """`PAID` when the message says when it was paid, `PENDING_PAYMENT` otherwise."""

    PAID = "PAID"
    PENDING_PAYMENT = "PENDING_PAYMENT"


class Order(_Model):
    """The order as stored (contract §4), without its keys (`store.keys`); built unchecked (`model_construct`)
    from the validated message and cart."""

    id: str
    order_number: str
    tenant_id: str
    cart_id: str
    customer_email: str
    items: list[CartItem]
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    currency: str
    status: OrderStatus
    billing_address: BillingAddress
    campaign: Campaign | None = None
    payment_details: PaymentDetails | None = None
    date_created: str
    date_last_updated: str
    created_by: str
    last_updated_by: str
    active: Literal[True] = True
    source_message_id: str


def load_json(text: str | bytes) -> Any:
    """Parse JSON with every number as `int` or `Decimal`; refuse NaN/Infinity, a number past Decimal's range and
    text UTF-8 cannot encode, always as a `ValueError`, `UnicodeError` or `RecursionError`."""
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except ArithmeticError:
        raise ValueError("a number is past the range of a decimal") from None
    # A lone surrogate ("\ud800") parses but is no UTF-8; only an escape or a non-ASCII character can make one.
    if not text.isascii() or ("\\u" in text if isinstance(text, str) else b"\\u" in text):
        json.dumps(document, default=str, ensure_ascii=False).encode("utf-8")
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_message(body: str) -> OrderMessage:
    """The record body as an `OrderMessage`, or `InvalidMessage` with the reason."""
    try:
        document = load_json(body)
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise InvalidMessage(f"body is not valid JSON: {_json_reason(exc)}") from None
    return _validated(OrderMessage, document, InvalidMessage, "body")


def parse_cart(document: Any) -> Cart:
    """The Cart API's JSON document as a `Cart`, or `InvalidCart` with the reason."""
    return _validated(Cart, document, InvalidCart, "cart")


_M = TypeVar("_M", bound=_Model)


def _validated(model: type[_M], document: Any, error: type[PermanentError], name: str) -> _M:
    """`document` as `model`, or `error` naming each bad field and its rule, never a value (it may be personal data)."""
    if not isinstance(document, dict):
        raise error(f"{name} must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        reasons = []
        for detail in exc.errors(include_url=False, include_input=False):
            message, context = detail["msg"], detail.get("ctx") or {}
            if detail["type"] not in ("value_error", "assertion_error") and "error" in context:
                message = message.removesuffix(f", {context['error']}")  # a parse error's "found `l` at 0"
            reasons.append(f"{'.'.join(str(p) for p in detail['loc']) or 'body'}: {message}")
        raise error("; ".join(reasons)) from None


def _json_reason(exc: BaseException) -> str:
    """Why a body is not JSON, by position and rule only: a decoder's own text may quote the body's bytes."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"it is not UTF-8 (byte {exc.start})"
    if isinstance(exc, UnicodeError):
        return "it holds a character UTF-8 cannot encode (a lone surrogate)"
    if isinstance(exc, RecursionError):
        return "it nests too deeply"
    text = str(exc)
    if "digits" in text:
        return "a number has more digits than a number can have"
    return "a number is not finite" if "is not a number" in text else "a number is past the range of a decimal"
