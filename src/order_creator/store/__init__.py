"""The orders table (contract §4), one module a job (docs/design.md names them); what they share: `TableAccess`."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from order_creator.errors import StoreUnavailable
from order_creator.store.attributes import marshal, unmarshal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_GET_LIMIT = 100
UNPROCESSED_ATTEMPTS = 5


class TableAccess:
    """One table through the low-level client: the (table name, client) pair each job's class shares."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client

    def _batch_get(self, keys: list[dict[str, str]], **options: Any) -> Iterator[dict[str, Any]]:
        """The items of `keys` (BatchGetItem), unprocessed keys asked again; StoreUnavailable if some stay."""
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            chunk = [marshal(k) for k in keys[start : start + BATCH_GET_LIMIT]]
            request: Any = {self._table: {"Keys": chunk, **options}}
            for attempt in range(UNPROCESSED_ATTEMPTS):
                if attempt:
                    time.sleep(random.uniform(0, 0.05 * 2 ** (attempt - 1)))  # noqa: S311 - jitter
                response = self._client.batch_get_item(RequestItems=request)
                yield from map(unmarshal, response.get("Responses", {}).get(self._table, []))
                request = response.get("UnprocessedKeys")
                if not request:
                    break
            else:
                raise StoreUnavailable("DynamoDB left keys unprocessed after retries")

    def _pages(self, operation: str, **request: Any) -> Iterator[dict[str, Any]]:
        """Every page DynamoDB answers a query or scan (`operation`) of the table with, from the first to the last."""
        request["TableName"] = self._table
        while True:
            page: dict[str, Any] = getattr(self._client, operation)(**request)
            yield page
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _update_if(self, **update: Any) -> float | None:
        """One conditional UpdateItem: the write units DynamoDB reports, or None when its condition failed."""
        try:
            response = self._client.update_item(TableName=self._table, ReturnConsumedCapacity="TOTAL", **update)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return consumed_units(response)


def consumed_units(response: Any) -> float:
    """The capacity units DynamoDB reports a call consumed; 1.0 when it reports none."""
    return float((response.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0) or 1.0
