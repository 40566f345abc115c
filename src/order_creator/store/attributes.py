"""Attribute values as boto3's `TypeSerializer` / `TypeDeserializer` make them, and sized, without boto3."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from functools import cache
from typing import Any

# boto3's DYNAMODB_CONTEXT: 38 significant digits, the table's exponents, any rounding an error
_TABLE_NUMBERS = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def marshal(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as attribute values (as boto3's `TypeSerializer` makes them)."""
    return marshal_sized(item)[0]


def marshal_sized(item: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """The item as attribute values, and its size in bytes by DynamoDB's rules, in one walk."""
    marshalled: dict[str, Any] = {}
    size = 0
    for name, value in item.items():
        marshalled[name], value_size = _attribute_value(value)
        size += _text_size(name) + value_size
    return marshalled, size


def _attribute_value(value: Any) -> tuple[dict[str, Any], int]:
    """What boto3's `TypeSerializer` makes of `value`, and its size by DynamoDB's rules; the common kinds by hand
    (`DecimalException` for a number the table cannot hold), the rarer ones (sets, binary...) by boto3."""
    kind = type(value)
    if kind is str:
        return {"S": value}, _text_size(value)
    if kind is dict:
        return _map_value(value)
    if kind is list:
        return _list_value(value)
    if kind is Decimal or kind is int:
        number = str(_TABLE_NUMBERS.create_decimal(value))
        if number in ("Infinity", "NaN"):  # as boto3 checks (models refuse every non-finite amount first)
            raise TypeError("Infinity and NaN not supported")
        return {"N": number}, _number_size(number)
    if kind is bool:
        return {"BOOL": value}, 1
    if value is None:
        return {"NULL": True}, 1
    if isinstance(value, str):  # a str subclass, such as the order's status
        return {"S": value}, _text_size(value)
    return _rare_value(value)


def _rare_value(value: Any) -> tuple[dict[str, Any], int]:
    """Other mappings and sequences as maps and lists; binary, sets and numbers' subclasses by boto3."""
    if isinstance(value, Mapping):
        return _map_value(value)
    if isinstance(value, list | tuple):
        return _list_value(value)
    serialized: dict[str, Any] = _boto3_types()[0].serialize(value)
    ((kind, inner),) = serialized.items()
    if kind in _SCALAR_SIZES:
        return serialized, _SCALAR_SIZES[kind](inner)
    return serialized, 3 + sum(1 + _SCALAR_SIZES[kind[0]](member) for member in inner)  # a set, sized as a list


def _map_value(value: Mapping[Any, Any]) -> tuple[dict[str, Any], int]:
    inner: dict[str, Any] = {}
    size = 3
    for key, item in value.items():
        inner[key], item_size = _attribute_value(item)
        size += 1 + _text_size(key) + item_size
    return {"M": inner}, size


def _list_value(value: list[Any] | tuple[Any, ...]) -> tuple[dict[str, Any], int]:
    items = []
    size = 3
    for item in value:
        marshalled, item_size = _attribute_value(item)
        items.append(marshalled)
        size += 1 + item_size
    return {"L": items}, size


def _text_size(text: Any) -> int:
    # a lone surrogate, which UTF-8 cannot encode, counts its 3 bytes: sizing never refuses (load_json does)
    return len(text) if type(text) is str and text.isascii() else len(str(text).encode("utf-8", "surrogatepass"))


def _number_size(number: str) -> int:
    """The size of a number as `str(Decimal)` writes it: its coefficient's digits, leading zeros aside."""
    digits = len(number.lstrip("-").partition("E")[0].replace(".", "").lstrip("0")) or 1
    return min(21, (digits + 1) // 2 + 1)


_SCALAR_SIZES: dict[str, Callable[[Any], int]] = {"S": _text_size, "N": _number_size, "B": len}


def unmarshal(item: dict[str, Any]) -> dict[str, Any]:
    """The item of attribute values as Python values (as boto3's `TypeDeserializer` makes them)."""
    return {key: _python_value(value) for key, value in item.items()}


def _python_value(value: dict[str, Any]) -> Any:
    """What boto3's `TypeDeserializer` makes of an attribute value: `N` as `Decimal`, sets and binary by boto3."""
    if not value:
        return _boto3_types()[1].deserialize(value)  # boto3's own error
    kind, inner = next(iter(value.items()))  # boto3 reads the first key, as here
    if kind in ("S", "BOOL"):
        return inner
    if kind == "N":
        return _TABLE_NUMBERS.create_decimal(inner)
    if kind == "M":
        return {key: _python_value(v) for key, v in inner.items()}
    if kind == "L":
        return [_python_value(v) for v in inner]
    if kind == "NULL":
        return None
    return _boto3_types()[1].deserialize(value)


@cache
def _boto3_types() -> tuple[Any, Any]:
    """boto3's serializer and deserializer, imported for the first value the table holds rarely (sets, binary)."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()
