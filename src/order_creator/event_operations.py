"""What an operator does with order events (`order-creator events`, `order-creator local`): set up a local bus
whose rule delivers to a queue, look at what reached that queue, and replay a tenant's events from the table.

Every function takes its boto3 clients; errors from AWS propagate (the CLI turns them into one line).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from order_creator.operations import inspect_dead_letters, queue_arn
from order_creator.publishing import DETAIL_TYPE, SOURCE, EventPublisher, MalformedOrder, OrderEvent, event_from_item

# The rule's pattern: every OrderCreated event of this service (what a consumer's rule would match).
ORDER_CREATED_PATTERN = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}


@dataclass(frozen=True)
class DeliveredEvent:
    """An event as it reached a queue target: EventBridge's envelope, its detail, and the queue's message id."""

    message_id: str
    event_id: str
    time: str
    detail: dict[str, Any]

    @property
    def order_id(self) -> str:
        """The key consumers deduplicate on."""
        return str(self.detail.get("orderId", ""))


def create_bus_with_queue_target(events: Any, sqs: Any, name: str) -> tuple[str, str]:
    """A custom bus `name` and a rule on it delivering every OrderCreated event to a new queue `{name}-target`;
    returns (bus name, queue URL). A queue policy lets EventBridge send (moto delivers without one)."""
    events.create_event_bus(Name=name)
    queue_url = sqs.create_queue(QueueName=f"{name}-target")["QueueUrl"]
    target_arn = queue_arn(sqs, queue_url)
    rule_arn = events.put_rule(
        Name=f"{name}-order-created", EventBusName=name, EventPattern=json.dumps(ORDER_CREATED_PATTERN)
    )["RuleArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": target_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule=f"{name}-order-created", EventBusName=name, Targets=[{"Id": "queue", "Arn": target_arn}])
    return name, queue_url


def delivered_events(sqs: Any, queue_url: str, *, limit: int | None = None) -> list[DeliveredEvent]:
    """The events waiting in a queue target, deleting none (each is received and made visible again).

    A message that is not an EventBridge event is listed with an empty detail rather than refused.
    """
    found = []
    for message in inspect_dead_letters(sqs, queue_url, limit=limit):  # a plain peek: nothing DLQ-specific
        try:
            envelope = json.loads(message.body)
        except ValueError:
            envelope = {}
        if not isinstance(envelope, dict):
            envelope = {}
        detail = envelope.get("detail")
        found.append(
            DeliveredEvent(
                message_id=message.message_id,
                event_id=str(envelope.get("id", "")),
                time=str(envelope.get("time", "")),
                detail=detail if isinstance(detail, dict) else {},
            )
        )
    return found


@dataclass
class ReplayReport:
    """What a replay did."""

    orders: int = 0
    published: int = 0
    skipped: int = 0  # malformed order items (logged by id)
    requests: int = 0


def replay(
    dao: Any,
    publisher: EventPublisher,
    tenant_id: str,
    *,
    created_from: date | datetime | None,
    created_to: date | datetime | None,
    progress: Callable[[OrderEvent], None] | None = None,
    page_size: int = 100,
) -> ReplayReport:
    """Publish again the OrderCreated event of every order of `tenant_id` created in the range (both ends
    inclusive; OrdersByDateIndex), ten a request, in creation order. Raises OperationError when EventBridge
    still refuses entries after the publisher's retries (what was published stays published)."""
    from order_creator.operations import OperationError

    report = ReplayReport()
    pending: list[OrderEvent] = []

    def flush() -> None:
        result = publisher.publish(pending)
        report.requests += result.requests
        report.published += result.published
        if result.first_unpublished is not None:
            first = pending[result.first_unpublished]
            reasons = ", ".join(sorted(set(result.errors))) or "unknown"
            raise OperationError(
                f"EventBridge refused the event of order {first.order_id} after retries ({reasons}); "
                f"{report.published} published so far: run the replay again (consumers deduplicate on orderId)"
            )
        if progress is not None:
            for event in pending:
                progress(event)
        pending.clear()

    orders = dao.list_orders(tenant_id, created_from=created_from, created_to=created_to, page_size=page_size)
    for event in _events_of(orders, report):
        pending.append(event)
        if len(pending) == 10:
            flush()
    if pending:
        flush()
    return report


def _events_of(orders: Iterator[tuple[dict[str, Any], Any]], report: ReplayReport) -> Iterator[OrderEvent]:
    from order_creator.publishing import logger

    for order, _ in orders:
        report.orders += 1
        try:
            yield event_from_item(order)
        except MalformedOrder as error:
            report.skipped += 1
            logger.error(
                "malformed order item; not replayed",
                extra={"order_id": str(order.get("id", ""))[:64], "reason": str(error)},
            )


# the `order-creator events` command -------------------------------------------------------------------


def command(args: Any) -> int:
    """`order-creator events show|replay` (parsed by `order_creator.cli`); returns the exit code."""
    import sys

    from order_creator import clients
    from order_creator.errors import ConfigurationError
    from order_creator.models import exact_json
    from order_creator.operations import render_table

    if args.action == "show":
        delivered = delivered_events(clients.sqs(), args.queue_url, limit=args.max)
        found = [event for event in delivered if event.detail]
        if len(found) < len(delivered):
            print(
                f"{len(delivered) - len(found)} message(s) in the queue are not order events (not shown): "
                "is --queue-url the queue a rule on the bus delivers to?",
                file=sys.stderr,
            )
        if args.json:
            for event in found:
                print(exact_json(event.detail))
        else:
            rows = [
                (
                    e.time,
                    e.order_id,
                    str(e.detail.get("tenantId", "")),
                    str(e.detail.get("orderNumber", "")),
                    f"{e.detail.get('total', '')} {e.detail.get('currency', '')}".strip(),
                )
                for e in found
            ]
            print(render_table(("TIME", "ORDER ID", "TENANT", "ORDER NUMBER", "TOTAL"), rows))
        orders = {e.order_id for e in found}
        print(f"{len(found)} event(s) for {len(orders)} order(s) in the queue; none deleted", file=sys.stderr)
        return 0

    from order_creator.dao import OrderDAO

    if not args.bus:
        raise ConfigurationError("no event bus: pass --bus NAME or set EVENT_BUS_NAME")
    if not args.table:
        raise ConfigurationError("no table: pass --table NAME or set DYNAMODB_TABLE_NAME")
    _check_bus(clients.events(), args.bus)
    publisher = EventPublisher(clients.events(), args.bus)

    def progress(event: OrderEvent) -> None:
        print(f"  published order {event.order_id}", file=sys.stderr)

    report = replay(
        OrderDAO(args.table, clients.dynamodb()),
        publisher,
        args.tenant,
        created_from=args.created_from,
        created_to=args.created_to,
        progress=progress,
    )
    skipped = f", {report.skipped} malformed skipped" if report.skipped else ""
    print(
        f"replayed {report.published} event(s) of {report.orders} order(s) of tenant {args.tenant} to {args.bus} "
        f"in {report.requests} PutEvents request(s){skipped}",
        file=sys.stderr,
    )
    return 0


def _check_bus(events: Any, bus: str) -> None:
    """OperationError naming the bus when it does not exist: replaying to it could never succeed."""
    from botocore.exceptions import ClientError

    from order_creator.operations import OperationError

    try:
        events.describe_event_bus(Name=bus)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        raise OperationError(
            f"no event bus {bus!r} in this account and region: pass --bus NAME or set EVENT_BUS_NAME to an existing bus"
        ) from None
