"""AWS SDK (botocore) clients of one session, created once per process on first use (a warm Lambda reuses them),
with `deadlines`' timeouts and attempts, without parameter validation (every request is built from valid models)."""

from __future__ import annotations

import json
import logging
import threading
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from order_creator import deadlines

if TYPE_CHECKING:
    import botocore.session
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient


_creating = threading.Lock()  # a botocore session is not thread-safe; the clients it makes are


@cache
def _session() -> botocore.session.Session:
    """The process's one botocore session (not boto3's), whose loader reads each data file once for all its clients."""
    import botocore.session

    return botocore.session.Session()


def create(service: str, **kwargs: Any) -> Any:
    """A client of `service` from the process's session, with this package's `Config`."""
    with _creating:
        return _session().create_client(service, config=_config(), **kwargs)


def _config() -> Any:
    """The `Config` of every client; botocore's DEBUG records are never written."""
    from botocore.config import Config

    sdk = logging.getLogger("botocore")  # its DEBUG records carry whole request and response bodies (contract §5)
    if sdk.level < logging.INFO:  # NOTSET (inherit the root's level) or DEBUG
        sdk.setLevel(logging.INFO)
    # The worst case of a call follows from these (`deadlines.call_worst_case_seconds`); the batch waits less.
    return Config(
        connect_timeout=deadlines.AWS_CONNECT_TIMEOUT_SECONDS,
        read_timeout=deadlines.AWS_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": deadlines.AWS_MAX_ATTEMPTS},
        max_pool_connections=20,
        parameter_validation=False,
    )


@cache
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client."""
    client = create("dynamodb")
    _PlainJsonBodies.install(client)
    return cast("DynamoDBClient", client)


class _PlainJsonBodies:
    """botocore's JSON serializer, with the body of a batch's two requests (`PLAIN`) written by one `json.dumps`:
    the same bytes as botocore's own; a request holding bytes or a datetime is botocore's own."""

    PLAIN = frozenset({"TransactWriteItems", "BatchGetItem"})

    def __init__(self, stock: Any) -> None:
        self._stock = stock

    @classmethod
    def install(cls, client: Any) -> None:
        """Put the fast path in front of the client's `_serializer`, when that is botocore's `JSONSerializer`."""
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
    return cast("SQSClient", create("sqs"))
