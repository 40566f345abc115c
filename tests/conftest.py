"""Session-wide real servers on loopback: a single-threaded moto server (DynamoDB, SQS), the fault-injecting
proxy in front of it, and the Cart API.

Integration tests reach them over HTTP only: boto3 through `AWS_ENDPOINT_URL`, requests through
`CART_LAMBDA_API_URL`. Nothing in boto3 or requests is patched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.reliability.faults import WireProxy

# Credentials for the emulator, set before any boto3 client exists; never real ones.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A single-threaded moto server for the whole session; boto3 finds it through AWS_ENDPOINT_URL."""
    from order_creator.local import MotoServer

    server = MotoServer()
    url = server.start()
    os.environ["AWS_ENDPOINT_URL"] = url
    yield url
    server.stop()


@pytest.fixture(scope="session")
def wire_proxy(moto_url: str) -> Iterator[WireProxy]:
    """The fault-injecting proxy in front of the session's moto server (`tests.reliability.faults.WireProxy`):
    the handler's AWS_ENDPOINT_URL in the tests that use it, which reset it before and after."""
    from tests.reliability.faults import WireProxy

    proxy = WireProxy(moto_url)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def dynamodb(moto_url: str) -> Any:
    """A DynamoDB client of the emulator."""
    import boto3

    return boto3.client("dynamodb", endpoint_url=moto_url)


@pytest.fixture(scope="session")
def sqs(moto_url: str) -> Any:
    """An SQS client of the emulator."""
    import boto3

    return boto3.client("sqs", endpoint_url=moto_url)


@pytest.fixture(scope="session")
def table_name(dynamodb: Any) -> str:
    """The orders table, created once with the contract's schema; tests isolate by tenant id."""
    from order_creator.store.keys import table_definition

    name = "orders-test"
    dynamodb.create_table(**table_definition(name))
    return name


@pytest.fixture
def dead_letter_queue(sqs: Any) -> str:
    """A fresh dead-letter queue for one test."""
    return str(sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:10]}")["QueueUrl"])


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, table_name: str, httpserver: Any, moto_url: str) -> dict[str, str]:
    """The contract's environment for the handler: the emulator's table and the local Cart API."""
    env = {
        "DYNAMODB_TABLE_NAME": table_name,
        "CART_LAMBDA_API_URL": httpserver.url_for("/v1.0"),
        "CART_API_TIMEOUT_SECONDS": "2",
        "CART_API_MAX_RETRIES": "1",
        "AWS_ENDPOINT_URL": moto_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    monkeypatch.delenv("ORDER_NUMBER_TIMEZONE", raising=False)
    return env


@pytest.fixture(scope="session")
def make_httpserver() -> Iterator[Any]:
    """pytest-httpserver's Cart API, threaded so that concurrent cart fetches are served concurrently."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()
