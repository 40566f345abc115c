"""AWS refusals in the user's terms: which table, index or queue is missing, or that no AWS answered."""

from __future__ import annotations

import os
from typing import Any


def _client_error(error: Any, table: str | None) -> str:
    """An AWS refusal in the user's terms: which table, index or queue is missing, or that no AWS answered."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    text = str(error.response.get("Error", {}).get("Message", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if text.lstrip().startswith("<") or code.isdigit():
        # Not an AWS error document: something else listens there (a web server, a proxy's error page).
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or "the AWS endpoint"
        return (
            f"{error.operation_name} failed: {endpoint} answered HTTP {status or code} with a page that is not an "
            "AWS answer; is the endpoint (--endpoint-url, AWS_ENDPOINT_URL) right?"
        )
    if code == "ResourceNotFoundException" and table:
        missing = _missing_indexes(table)
        if missing:
            return (
                f"table {table} has no {', '.join(missing)}: it was not created with this project's schema "
                "(order-creator table create)"
            )
        return f"table {table} does not exist ({error.operation_name})"
    if code == "ResourceInUseException" and table:
        return f"table {table} already exists: pass another --table, or use it as it is"
    if code == "ResourceInUseException":
        return f"{error.operation_name} failed: {text or code}: choose another --name"
    if "NonExistentQueue" in code or code == "QueueDoesNotExist":
        return f"no such queue ({error.operation_name}): {text or code}"
    if "starting key" in text.lower() or "ExclusiveStartKey" in text:
        return "the --after cursor does not fit this listing: list again without --after"
    return f"{error.operation_name} failed: {code}: {text}"


def _missing_indexes(table: str) -> list[str]:
    """The schema's indexes the table lacks; empty when it has them all or does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    from order_creator import clients
    from order_creator.store.keys import missing_indexes

    try:
        return missing_indexes(clients.dynamodb().describe_table(TableName=table)["Table"])
    except (BotoCoreError, ClientError):
        return []
