"""The DAO's marshalling gives exactly what boto3's TypeSerializer gives, for every value an order holds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from order_creator.models import OrderStatus
from order_creator.store.attributes import marshal as _marshal
from order_creator.store.attributes import marshal_sized as _marshal_sized
from order_creator.store.attributes import unmarshal as _unmarshal

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

_rare = st.one_of(
    st.binary(max_size=8),
    st.frozensets(st.text(min_size=1, max_size=5), min_size=1, max_size=3),
    st.frozensets(st.integers(-(10**6), 10**6), min_size=1, max_size=3),
)


def _any_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[object]:
    """Values of every kind the DAO marshals (sets and binary too), with `text` for strings and map keys."""
    return st.recursive(
        _scalars | text | _rare,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=20,
    )


_any_text = st.text(st.characters(blacklist_categories=()), max_size=12)  # lone surrogates and controls too
_utf8_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # what UTF-8 can encode


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
        "from order_creator import handler, cart, clients, dead_letters\n"
        "from order_creator.store import attributes, orders\n"
        "from order_creator.models import OrderStatus\n"
        "from decimal import Decimal\n"
        "item = {'a': [Decimal('1.5'), 2, True, None, {'b': 'c'}], 'status': OrderStatus.PAID}\n"
        "assert attributes.unmarshal(attributes.marshal(item)) == item\n"
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
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(1 + len(k.encode("utf-8")) + _size_by_the_rules(v) for k, v in value.items())
    return 3 + sum(1 + _size_by_the_rules(v) for v in value)  # lists, tuples and sets alike


@settings(max_examples=300, derandomize=True)
@given(st.dictionaries(_utf8_text.filter(bool), _any_values(_utf8_text), max_size=8))
def test_the_item_size_follows_dynamodbs_rules(item):
    # Given any item (text beyond ASCII, sets, binary included), When marshalled and sized in one walk,
    # Then the size is by the rules and the attribute values are those of the plain marshalling
    marshalled, size = _marshal_sized(item)
    assert size == sum(len(name.encode("utf-8")) + _size_by_the_rules(v) for name, v in item.items())
    assert marshalled == _marshal(item)


# The request bodies: one json.dumps for the batch's two requests, byte for byte botocore's own -------------------


@pytest.fixture(scope="module")
def serializers():
    import botocore.session
    from botocore.config import Config

    from order_creator.clients import _PlainJsonBodies

    client = botocore.session.Session().create_client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(parameter_validation=False),  # as the handler's client (validation wraps the serializer)
    )
    stock = client._serializer
    _PlainJsonBodies.install(client)
    assert isinstance(client._serializer, _PlainJsonBodies)
    return client.meta.service_model, stock, client._serializer


def _requests(item: dict) -> dict[str, dict]:
    marshalled = _marshal(item)
    put = {"TableName": "orders", "Item": marshalled, "ConditionExpression": "attribute_not_exists(PK)"}
    update = {
        "TableName": "orders",
        "Key": marshalled,
        "UpdateExpression": "SET currentValue = :new",
        "ExpressionAttributeValues": {":new": {"N": "3"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    return {
        "TransactWriteItems": {"TransactItems": [{"Update": update}, {"Put": put}], "ClientRequestToken": "token"},
        "BatchGetItem": {
            "RequestItems": {"orders": {"Keys": [marshalled], "ConsistentRead": True, "ProjectionExpression": "PK"}}
        },
        "Query": {"TableName": "orders", "ExclusiveStartKey": marshalled, "Limit": 5},
    }


@settings(max_examples=300, derandomize=True)
@given(st.dictionaries(_any_text.filter(bool), _any_values(_any_text), max_size=6))
def test_the_request_is_botocores_own_byte_for_byte(serializers, item):
    # Given any item the DAO marshals (binary, sets, any text included) in each request the DAO sends,
    # When serialized by the fast path, Then method, path, headers and body are exactly botocore's
    model, stock, fast = serializers
    for operation, parameters in _requests(item).items():
        operation_model = model.operation_model(operation)
        assert fast.serialize_to_request(parameters, operation_model) == stock.serialize_to_request(
            parameters, operation_model
        )


def test_the_dynamodb_client_takes_the_fast_path(monkeypatch):
    # Given the handler's DynamoDB client, When a transaction is sent (its answer made here, before it leaves),
    # Then its body was written by the fast path: a botocore that serializes otherwise fails here, not in Lambda
    from botocore.awsrequest import AWSResponse

    from order_creator import clients

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    clients.dynamodb.cache_clear()
    try:
        client = clients.dynamodb()
        assert isinstance(client._serializer, clients._PlainJsonBodies)
        sent: list[bytes] = []

        class Body:
            def stream(self, **_: object):
                yield b"{}"

        def answer(request, **_):
            sent.append(request.body)
            return AWSResponse(request.url, 200, {"x-amzn-requestid": "r"}, Body())

        client.meta.events.register("before-send.dynamodb", answer)
        parameters = _requests({"PK": "TENANT#t", "SK": "ORDER#1"})["TransactWriteItems"]
        client.transact_write_items(**parameters)
        assert json.loads(sent[0]) == parameters
    finally:
        clients.dynamodb.cache_clear()
