"""The orders table (contract §4), one module a job: `keys` (its shape), `attributes` (values marshalled and
sized), `orders` (the batch's reads and writes), `listings` (the CLI's reads), `scans` (the audit's and the
migration's), `table` (every job in one object, for the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_GET_LIMIT = 100
UNPROCESSED_ATTEMPTS = 5


class TableAccess:
    """One table through the low-level client: the (table name, client) pair each job's class shares."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client
