"""AWS SDK (botocore) clients, created once per process on first use (a warm Lambda reuses them).

Endpoints come from botocore's own variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, ...),
so an emulator needs no code path of its own. Timeouts and attempts come from `order_creator.deadlines`, where the
SDK's worst case is computed (botocore's default standard mode would try 4 times and back off for up to 20 s).

Parameter validation is off: every request is built by this package from models that are validated already,
and the service validates what it receives (its refusal is a `ClientError`, mapped like any other). botocore's
client-side check walked every attribute of every item once more, a fifth of the warm CPU per order
(`docs/benchmarks.md`). For the same reason the DynamoDB client writes the body of the two requests each batch
makes with one `json.dumps` (`_PlainJsonBodies`) instead of botocore's walk of it against the service model.
"""

from __future__ import annotations

import json
import logging
import threading
from functools import cache
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import botocore.session
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient


_creating = threading.Lock()  # a botocore session is not thread-safe; the clients it makes are


@cache
def _session() -> botocore.session.Session:
    """The process's one botocore session, whose loader reads each data file once for all its clients (a client
    from a session of its own read them all again: 49 ms of CPU against 4 ms for the DLQ's SQS client after
    the DynamoDB one). botocore rather than boto3: boto3's `Session().client()` adds nothing a low-level client
    uses, and importing boto3 costs the cold start about 16 ms of CPU beyond botocore's own."""
    import botocore.session

    return botocore.session.Session()


def _create(service: str, **kwargs: Any) -> Any:
    with _creating:
        return _session().create_client(service, config=_config(), **kwargs)


def _config() -> Any:
    from botocore.config import Config

    from order_creator import deadlines

    _quiet_sdk_payload_logs()

    # The worst case of a call follows from these (`deadlines.call_worst_case_seconds`); the batch waits less.
    return Config(
        connect_timeout=deadlines.AWS_CONNECT_TIMEOUT_SECONDS,
        read_timeout=deadlines.AWS_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": deadlines.AWS_MAX_ATTEMPTS},
        max_pool_connections=20,
        parameter_validation=False,
    )


def _quiet_sdk_payload_logs() -> None:
    """Keep botocore's DEBUG records from ever being written: they carry whole request and response bodies.

    With the root logger at DEBUG (AWS_LAMBDA_LOG_LEVEL=DEBUG does that in Lambda), botocore logs the
    TransactWriteItems and SendMessageBatch parameters and DynamoDB's answers, the customer's e-mail and
    address among them (contract §5: never, at any log level). Its INFO and above stay as configured.
    """
    sdk = logging.getLogger("botocore")
    if sdk.level < logging.INFO:  # NOTSET (inherit the root's level) or DEBUG
        sdk.setLevel(logging.INFO)


@cache
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client."""
    client = _create("dynamodb")
    _PlainJsonBodies.install(client)
    return cast("DynamoDBClient", client)


class _PlainJsonBodies:
    """botocore's JSON serializer, with the body of a batch's two requests written by one `json.dumps`.

    botocore's `JSONSerializer` walks every value of the parameters against the service model, then ends with
    `json.dumps` of what it built. For DynamoDB that walk changes only binary values (base64) and timestamps
    (epoch seconds): its input shapes rename no member and its operations have no host prefix. The two requests
    every batch makes (`PLAIN`) are built by `store.orders` from values it marshalled, where binary is always `bytes`
    and there are no timestamps; `json.dumps` refuses both, and the request is then botocore's own. So the body
    is the same bytes either way (`tests/unit/test_marshalling.py` holds them equal, binary included): the walk
    was 60% of the client's CPU for a transaction of ten orders (about 0.9 ms of a batch's 12 ms).
    Everything but the body (method, path, headers) is still botocore's, built for no parameters.
    """

    PLAIN = frozenset({"TransactWriteItems", "BatchGetItem"})

    def __init__(self, stock: Any) -> None:
        self._stock = stock

    @classmethod
    def install(cls, client: Any) -> None:
        """Put the fast path in front of the client's serializer (the client holds it as `_serializer`); a botocore
        whose client serializes otherwise keeps its own (a unit test fails then, rather than the handler)."""
        from botocore.serialize import JSONSerializer

        stock = getattr(client, "_serializer", None)
        if type(stock) is JSONSerializer and client.meta.service_model.protocol == "json":
            client._serializer = cls(stock)

    def serialize_to_request(self, parameters: dict[str, Any], operation_model: Any) -> dict[str, Any]:
        if operation_model.name not in self.PLAIN:
            return self._stock.serialize_to_request(parameters, operation_model)  # type: ignore[no-any-return]
        try:
            body = json.dumps(parameters)  # as botocore dumps what it built: the same defaults
        except TypeError:  # bytes or a datetime: botocore's shapes turn them into base64 and epoch seconds
            return self._stock.serialize_to_request(parameters, operation_model)  # type: ignore[no-any-return]
        request: dict[str, Any] = self._stock.serialize_to_request({}, operation_model)
        request["body"] = body.encode("utf-8")
        return request


@cache
def sqs() -> SQSClient:
    """The SQS client."""
    return cast("SQSClient", _create("sqs"))


@cache
def events(endpoint_url: str | None = None) -> Any:
    """The EventBridge client (order events, contract §7)."""
    return _create("events", endpoint_url=endpoint_url)


@cache
def dynamodb_streams(endpoint_url: str | None = None) -> Any:
    """The DynamoDB Streams client (the local stream worker)."""
    return _create("dynamodbstreams", endpoint_url=endpoint_url)
