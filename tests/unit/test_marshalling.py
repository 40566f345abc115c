"""The DAO's marshalling gives exactly what boto3's TypeSerializer gives, for every value an order holds."""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from order_creator.dao import _item_size, _marshal, _unmarshal
from order_creator.models import OrderStatus

_scalars = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.none(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12),
    st.sampled_from(list(OrderStatus)),  # a str subclass
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, derandomize=True)
@given(st.dictionaries(st.text(min_size=1, max_size=12), _values, max_size=8))
def test_marshalling_equals_the_type_serializer(item):
    # Given any item made of an order's kinds of values, When marshalled, Then as TypeSerializer marshals it
    serializer = TypeSerializer()
    assert _marshal(item) == {key: serializer.serialize(value) for key, value in item.items()}


def test_a_number_dynamodb_cannot_hold_is_refused_as_the_type_serializer_refuses_it():
    # Given an amount with more significant digits than DynamoDB keeps, nested in an item's lines
    item = {"items": [{"unitPrice": Decimal("1." + "1" * 40)}]}

    # When marshalled, Then boto3's own check refuses it, as before
    with pytest.raises(Exception) as marshalled:
        _marshal(item)
    with pytest.raises(Exception) as serialized:
        TypeSerializer().serialize(item["items"])
    assert type(marshalled.value) is type(serialized.value)


@settings(max_examples=300, derandomize=True)
@given(st.dictionaries(st.text(min_size=1, max_size=12), _values, max_size=8))
def test_unmarshalling_equals_the_type_deserializer(item):
    # Given any stored item, When read back, Then as TypeDeserializer reads it (numbers as Decimal, exactly)
    stored = {key: TypeSerializer().serialize(value) for key, value in item.items()}
    deserializer = TypeDeserializer()
    read = _unmarshal(stored)
    assert read == {key: deserializer.deserialize(value) for key, value in stored.items()}
    assert all(type(read[key]) is type(deserializer.deserialize(value)) for key, value in stored.items())


@pytest.mark.parametrize(
    "value",
    [
        {"tags"},  # a string set
        {Decimal(1), Decimal("2.5")},  # a number set
        b"\x00\xff",  # binary
        (1, "two"),  # a tuple: a list to TypeSerializer
        OrderedDict(a=Decimal("0.10")),  # a mapping that is not a dict
    ],
    ids=["string set", "number set", "binary", "tuple", "mapping"],
)
def test_the_rarer_kinds_are_boto3s_both_ways(value):
    # Given a value of a kind an order never holds, When marshalled and read back, Then exactly as boto3 does
    stored = TypeSerializer().serialize(value)
    assert _marshal({"value": value}) == {"value": stored}
    assert _unmarshal({"value": stored}) == {"value": TypeDeserializer().deserialize(stored)}


@pytest.mark.parametrize(
    "number",
    [Decimal("1E+127"), Decimal("1E-170"), Decimal("Infinity"), Decimal("NaN"), 10**38 + 1, 1.5],
    ids=["too large", "too small", "infinity", "nan", "39 digits", "float"],
)
def test_a_number_the_table_cannot_hold_fails_as_the_type_serializer_fails(number):
    # Given a number outside DynamoDB's range or precision (or a float), When marshalled, Then the same error type
    with pytest.raises(Exception) as marshalled:
        _marshal({"value": number})
    with pytest.raises(Exception) as serialized:
        TypeSerializer().serialize(number)
    assert type(marshalled.value) is type(serialized.value)


def test_the_handler_path_does_not_import_boto3():
    # Given a fresh interpreter, When the handler, its adapters and the DAO's marshalling are loaded and used,
    # Then boto3 (16 ms of a cold start beyond botocore) is never imported: the Lambda pays botocore only
    code = (
        "import sys\n"
        "from order_creator import handler, cart, dao, clients, dead_letters\n"
        "from order_creator.models import OrderStatus\n"
        "from decimal import Decimal\n"
        "item = {'a': [Decimal('1.5'), 2, True, None, {'b': 'c'}], 'status': OrderStatus.PAID}\n"
        "assert dao._unmarshal(dao._marshal(item)) == item\n"
        "print('boto3' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def _size_by_the_rules(value):
    """DynamoDB's item-size rules, written plainly (the oracle for the DAO's faster count)."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | Decimal):
        return min(21, (len(Decimal(value).as_tuple().digits) + 1) // 2 + 1)
    if isinstance(value, dict):
        return 3 + sum(1 + len(k.encode("utf-8")) + _size_by_the_rules(v) for k, v in value.items())
    return 3 + sum(1 + _size_by_the_rules(v) for v in value)


@settings(max_examples=300, derandomize=True)
@given(st.dictionaries(st.text(min_size=1, max_size=12), _values, max_size=8))
def test_the_item_size_follows_dynamodbs_rules(item):
    # Given any item made of an order's kinds of values (text beyond ASCII included), When sized, Then by the rules
    assert _item_size(item) == sum(len(name.encode("utf-8")) + _size_by_the_rules(v) for name, v in item.items())
