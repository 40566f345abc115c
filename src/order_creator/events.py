"""Lambda entry of the order events (contract §7): the table's DynamoDB stream in, `OrderCreated` events out.

Parses the stream batch, publishes its order INSERTs (`publishing`), and names the first record not published in
`batchItemFailures` so Lambda retries from there; the publisher is built once per bus while the Lambda is warm.
Imports stay light (no boto3 until the first publish): they are part of the publisher's cold start.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from order_creator.errors import ConfigurationError
from order_creator.publishing import EventPublisher, eventbridge, logger, order_events

__all__ = ["bus_name", "lambda_handler", "logger"]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Publish an `OrderCreated` event for every order INSERT of a DynamoDB stream batch (contract §7).

    Returns `{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}]}` naming the first record not
    published (Lambda retries from it), or an empty list. Other records are ignored; a malformed order
    image is logged (ids only) and skipped. Raises ValueError for an event that is not a stream batch and
    ConfigurationError without EVENT_BUS_NAME.
    """
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise ValueError("not a DynamoDB stream event: no Records list")
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    events = order_events(records)
    if not events:
        return {"batchItemFailures": []}
    publisher = _publisher(bus_name())
    report = publisher.publish(events, lambda: context.get_remaining_time_in_millis() / 1000)
    if report.first_unpublished is None:
        logger.info("events published", extra={"published": report.published, "requests": report.requests})
        return {"batchItemFailures": []}
    first = events[report.first_unpublished]
    logger.warning(
        "events not published; the batch is retried from the first",
        extra={
            "order_id": first.order_id,
            "tenant_id": first.tenant_id,
            "sequence_number": first.sequence_number,
            "unpublished": len(events) - report.first_unpublished,
            "errors": sorted(set(report.errors)),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": first.sequence_number}]}


def bus_name() -> str:
    """EVENT_BUS_NAME, or ConfigurationError naming it."""
    name = os.environ.get("EVENT_BUS_NAME", "").strip()
    if not name:
        raise ConfigurationError("invalid environment: EVENT_BUS_NAME: the event bus to publish to is not set")
    return name


@cache
def _publisher(bus: str) -> EventPublisher:
    return EventPublisher(eventbridge(), bus)
