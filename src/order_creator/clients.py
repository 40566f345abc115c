"""boto3 clients, created once per process on first use (a warm Lambda reuses them).

Endpoints come from botocore's own variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, ...),
so an emulator needs no code path of its own. Retries are capped so that the SDK's worst case fits a
Lambda's deadline (botocore's default standard mode would back off for up to 20 s).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient


def _config() -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 3},
        max_pool_connections=20,
    )


@cache
def dynamodb(endpoint_url: str | None = None) -> DynamoDBClient:
    """The DynamoDB client (`endpoint_url` overrides the environment, for the CLI's --endpoint-url)."""
    import boto3

    return boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url, config=_config())


@cache
def sqs(endpoint_url: str | None = None) -> SQSClient:
    """The SQS client (`endpoint_url` overrides the environment, for the CLI's --endpoint-url)."""
    import boto3

    return boto3.session.Session().client("sqs", endpoint_url=endpoint_url, config=_config())


@cache
def events(endpoint_url: str | None = None) -> Any:
    """The EventBridge client (order events, contract §7)."""
    import boto3

    return boto3.session.Session().client("events", endpoint_url=endpoint_url, config=_config())


@cache
def dynamodb_streams(endpoint_url: str | None = None) -> Any:
    """The DynamoDB Streams client (the local stream worker)."""
    import boto3

    return boto3.session.Session().client("dynamodbstreams", endpoint_url=endpoint_url, config=_config())
