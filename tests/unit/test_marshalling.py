"""The DAO's marshalling gives exactly what boto3's TypeSerializer gives, for every value an order holds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from order_creator.dao import _marshal
from order_creator.models import OrderStatus

_scalars = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.none(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12),
    st.sampled_from(list(OrderStatus)),  # a str subclass: goes through TypeSerializer
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
