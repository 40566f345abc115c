"""The table's DynamoDB stream driving the order-events publisher off Lambda, the way `worker.SqsWorker`
stands in for the SQS event source mapping.

`StreamWorker` does what Lambda's DynamoDB event source mapping does for `order_creator.events`: it reads
each shard from a checkpoint, keeps only the records the template's `FilterCriteria` lets through (order
INSERTs), hands them to the handler as a standard DynamoDB stream event, and moves the checkpoint past a
batch only when the handler succeeded; with `batchItemFailures` it moves to the record named and reads
again from there (at least once). A handler that raises (or a process that dies) leaves the checkpoint
where it was, so the batch is read and published again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from order_creator import clients

StreamHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@cache
def dynamodb_streams(endpoint_url: str | None = None) -> Any:
    """The DynamoDB Streams client the stream worker reads with, of the process's botocore session."""
    return clients.create("dynamodbstreams", endpoint_url=endpoint_url)


def is_order_insert(record: dict[str, Any]) -> bool:
    """The template's FilterCriteria: `eventName` INSERT and `NewImage.entityType` ORDER."""
    image = record.get("dynamodb", {}).get("NewImage", {})
    return record.get("eventName") == "INSERT" and image.get("entityType", {}).get("S") == "ORDER"


@dataclass
class StreamTotals:
    """What a worker did so far."""

    batches: int = 0
    records_read: int = 0
    records_delivered: int = 0
    retries: int = 0  # invocations that reported a failure or raised
    errors: list[str] = field(default_factory=list)


class _Context:
    """A Lambda context with a fixed time budget per invocation."""

    function_name = "order-creator-events-local"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:order-creator-events-local"
    aws_request_id = "local"

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class StreamWorker:
    """Polls the stream of `table_name` and invokes `handler` with batches of at most `batch_size` records."""

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        handler: StreamHandler,
        *,
        batch_size: int = 100,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._streams = streams
        self._arn = stream_arn
        self._handler = handler
        self._batch_size = batch_size
        self._timeout = timeout_seconds
        self._checkpoints: dict[str, tuple[str, str | None]] = {}  # shard → (iterator type, sequence number)
        self.totals = StreamTotals()

    @classmethod
    def for_table(cls, dynamodb: Any, streams: Any, table_name: str, handler: StreamHandler, **kwargs: Any) -> Any:
        """The worker of a table's latest stream (ValueError when the table has none)."""
        arn = dynamodb.describe_table(TableName=table_name)["Table"].get("LatestStreamArn")
        if not arn:
            raise ValueError(f"table {table_name} has no stream")
        return cls(streams, arn, handler, **kwargs)

    def poll(self) -> int:
        """Read every shard once from its checkpoint and deliver what passes the filter; returns how many
        records were read (0: nothing new)."""
        read = 0
        for shard in self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]:
            read += self._poll_shard(shard["ShardId"])
        return read

    def drain(self, *, idle_polls: int = 1, timeout: float = 60.0, pause: float = 0.05) -> StreamTotals:
        """Poll until `idle_polls` polls in a row read nothing (or `timeout` passes)."""
        deadline, idle = time.monotonic() + timeout, 0
        while idle < idle_polls and time.monotonic() < deadline:
            if self.poll():
                idle = 0
            else:
                idle += 1
                time.sleep(pause)
        return self.totals

    def _poll_shard(self, shard_id: str) -> int:
        kind, sequence = self._checkpoints.get(shard_id, ("TRIM_HORIZON", None))
        kwargs: dict[str, Any] = {"StreamArn": self._arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            kwargs["SequenceNumber"] = sequence
        iterator = self._streams.get_shard_iterator(**kwargs)["ShardIterator"]
        records = self._streams.get_records(ShardIterator=iterator, Limit=self._batch_size).get("Records", [])
        if not records:
            return 0
        self.totals.records_read += len(records)
        chosen = [_lambda_record(r, self._arn) for r in records if is_order_insert(r)]
        last = records[-1]["dynamodb"]["SequenceNumber"]
        if not chosen:  # filtered out: the event source mapping checkpoints past them without an invocation
            self._checkpoints[shard_id] = ("AFTER_SEQUENCE_NUMBER", last)
            return len(records)
        self.totals.batches += 1
        try:
            response = self._handler({"Records": chosen}, _Context(self._timeout))
        except Exception as error:  # the whole batch again, as Lambda does after a function error
            self.totals.retries += 1
            self.totals.errors.append(f"{type(error).__name__}: {error}")
            return len(records)
        failures = [f.get("itemIdentifier") for f in response.get("batchItemFailures", [])]
        if failures:
            self.totals.retries += 1
            first = min(failures, key=lambda s: int(s or 0))
            delivered = [r for r in chosen if int(r["dynamodb"]["SequenceNumber"]) < int(first or 0)]
            self.totals.records_delivered += len(delivered)
            self._checkpoints[shard_id] = ("AT_SEQUENCE_NUMBER", str(first))
        else:
            self.totals.records_delivered += len(chosen)
            self._checkpoints[shard_id] = ("AFTER_SEQUENCE_NUMBER", last)
        return len(records)


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record as Lambda delivers it (creation time in epoch seconds, the source ARN added)."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": stream, "eventSourceARN": stream_arn}
