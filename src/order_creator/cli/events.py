"""`order-creator events show | replay`: look at the events a rule's queue target holds, and publish a tenant's
events again from the table.

Errors from AWS propagate (`order_creator.cli` turns them into one line).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from order_creator.cli.base import _command, _group, _table_of, _table_option
from order_creator.cli.inputs import _bounded_int, _check_range, _moment, _tenant_id

if TYPE_CHECKING:
    from order_creator.publishing import EventPublisher, OrderEvent


def register(commands: Any) -> None:
    """`events show` and `events replay`."""
    events = _group(commands, "events", "order events (OrderCreated)")
    show = _command(events, "show", "the events waiting in a rule's queue target")
    show.add_argument("--queue-url", metavar="URL", required=True, help="the queue a rule on the bus delivers to")
    show.add_argument("--max", metavar="N", type=_bounded_int(1, 10**6), help="at most N events")
    show.add_argument("--json", action="store_true", help="one event detail per line")
    show.set_defaults(command=_events, action="show")
    replay = _command(events, "replay", "publish a tenant's events again, from the table")
    replay.add_argument("--tenant", required=True, type=_tenant_id, help="the tenant id")
    replay.add_argument(
        "--from", dest="created_from", metavar="DATE", type=_moment, required=True, help="as orders list"
    )
    replay.add_argument("--to", dest="created_to", metavar="DATE", type=_moment, help="as --from; inclusive")
    replay.add_argument("--bus", default=os.environ.get("EVENT_BUS_NAME"), help="(default: $EVENT_BUS_NAME)")
    _table_option(replay)
    replay.set_defaults(command=_events, action="replay")


def _events(args: argparse.Namespace) -> int:
    if args.action == "replay":
        _table_of(args)  # --table or DYNAMODB_TABLE_NAME, checked
        _check_range(args.created_from, args.created_to)
        return _replay_command(args)
    return _show(args)


def _show(args: argparse.Namespace) -> int:
    """`order-creator events show`: the events of the queue target as a table (or their details as JSON lines)."""
    from order_creator import clients
    from order_creator.queues import delivered_events
    from order_creator.tooling import exact_json, render_table

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


def _replay_command(args: argparse.Namespace) -> int:
    """`order-creator events replay`: each published order on stderr, then what the replay did."""
    from order_creator import clients
    from order_creator.errors import ConfigurationError
    from order_creator.publishing import EventPublisher, eventbridge
    from order_creator.store.listings import OrderListings

    if not args.bus:
        raise ConfigurationError("no event bus: pass --bus NAME or set EVENT_BUS_NAME")
    if not args.table:
        raise ConfigurationError("no table: pass --table NAME or set DYNAMODB_TABLE_NAME")
    _check_bus(eventbridge(), args.bus)
    publisher = EventPublisher(eventbridge(), args.bus)

    def progress(event: OrderEvent) -> None:
        print(f"  published order {event.order_id}", file=sys.stderr)

    report = replay(
        OrderListings(args.table, clients.dynamodb()),
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

    from order_creator.tooling import OperationError

    try:
        events.describe_event_bus(Name=bus)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        raise OperationError(
            f"no event bus {bus!r} in this account and region: pass --bus NAME or set EVENT_BUS_NAME to an existing bus"
        ) from None


# the replay -----------------------------------------------------------------------------------------


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
    from order_creator.tooling import OperationError

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
    from order_creator.events import logger
    from order_creator.publishing import MalformedOrder, event_from_item

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
