"""Order events (contract §7): one `OrderCreated` EventBridge event per order INSERT of the table's stream.

The logic of the events publisher (`events.lambda_handler` is its thin entry): it reads only the attributes an
event needs straight from the stream's DynamoDB JSON (numbers stay the text DynamoDB stored, so amounts are
exact), publishes with `PutEvents` in chunks of at most 10 entries and 256 KB, retries a few times the entries
EventBridge did not confirm (an entry without an `EventId` is not published, whatever the answer's shape), starts
no request or back-off it could not finish before the deadline, and reports the first event it could not publish.
Publishing is at least once: consumers deduplicate on `orderId`.

Imports stay light (no boto3 until the first publish): this module's import is part of the publisher's
cold start. Powertools' `DynamoDBStreamEvent` was considered and left out: importing it added 27-120 ms here
(`python -X importtime`, 7 runs on a loaded two-core machine; its package imports every event class), and it
deserializes every attribute of every image, items included, where the event needs thirteen.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from order_creator.deadlines import call_worst_case_seconds

SOURCE = "order-creator"
DETAIL_TYPE = "OrderCreated"
DETAIL_VERSION = 1
MAX_ENTRIES = 10  # PutEvents' limit per request
MAX_REQUEST_BYTES = 256 * 1024  # PutEvents' limit on the sum of the entries' sizes
MAX_ATTEMPTS = 3  # PutEvents rounds per entry within one invocation; then Lambda retries the batch
# Kept from the Lambda's time for the answer (its log line and the return): no wait may reach into it.
ANSWER_MARGIN_SECONDS = 0.5
_AMOUNTS = ("subtotal", "tax", "total")
# Where each detail field comes from in the order item (contract §4): the item's `id` is the event's `orderId`.
_ITEM_NAMES = {"orderId": "id"}

logger = Logger(service="order-creator-events")


class MalformedOrder(ValueError):
    """An order image that cannot become a complete event; the message names fields, never their values."""


@dataclass(frozen=True)
class OrderEvent:
    """One `OrderCreated` entry, ready for PutEvents, with the stream record it came from."""

    order_id: str
    tenant_id: str
    detail: str  # exact JSON
    sequence_number: str = ""

    def entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry."""
        return {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": self.detail, "EventBusName": bus_name}

    @property
    def size(self) -> int:
        """The entry's size as EventBridge counts it against the 256 KB of a request."""
        return len(SOURCE) + len(DETAIL_TYPE) + len(self.detail.encode("utf-8"))


# building events -----------------------------------------------------------------------------------


def order_created_detail(order: Mapping[str, Any]) -> str:
    """The event's Detail as exact JSON, from an order item's plain values (numbers as Decimal, as
    `store.listings` reads them): the contract's fields and nothing else (never the e-mail or billing address).

    Raises MalformedOrder naming the first field missing or of the wrong type: no event is ever partial.
    """
    parts = [f'"version": {DETAIL_VERSION}']
    for name in ("orderId", "tenantId", "orderNumber", "cartId", "status", "currency"):
        parts.append(f"{json.dumps(name)}: {json.dumps(_string(order, _ITEM_NAMES.get(name, name)))}")
    for name in _AMOUNTS:
        parts.append(f'"{name}": {_amount(order, name)}')
    items = order.get("items")
    if not isinstance(items, list) or not items:
        raise MalformedOrder("items is missing or not a non-empty list")
    parts.append(f'"itemCount": {len(items)}')
    for name in ("dateCreated", "sourceMessageId"):
        parts.append(f"{json.dumps(name)}: {json.dumps(_string(order, name))}")
    return "{" + ", ".join(parts) + "}"


def event_from_item(order: Mapping[str, Any]) -> OrderEvent:
    """The event of an order item read from the table (replay); MalformedOrder as `order_created_detail`."""
    detail = order_created_detail(order)
    return OrderEvent(order_id=str(order["id"]), tenant_id=str(order["tenantId"]), detail=detail)


def event_from_record(record: Mapping[str, Any]) -> OrderEvent | None:
    """The event of one DynamoDB stream record: an `OrderEvent` for the INSERT of an order item, None for
    anything else (a counter, a MODIFY, a REMOVE, another entity type).

    Raises MalformedOrder for an order INSERT whose image cannot make a complete event.
    """
    if record.get("eventName") != "INSERT":
        return None
    stream = record.get("dynamodb")
    if not isinstance(stream, dict):
        return None
    image = stream.get("NewImage")
    if not isinstance(image, dict) or _typed(image, "entityType", "S") != "ORDER":
        return None
    order: dict[str, Any] = {}
    for name in ("id", "tenantId", "orderNumber", "cartId", "status", "currency", "dateCreated", "sourceMessageId"):
        order[name] = _typed(image, name, "S")
    for name in _AMOUNTS:
        text = _typed(image, name, "N")
        order[name] = _decimal(text) if isinstance(text, str) else None
    order["items"] = _typed(image, "items", "L")
    event = event_from_item(order)
    return OrderEvent(event.order_id, event.tenant_id, event.detail, str(stream.get("SequenceNumber", "")))


def _typed(image: Mapping[str, Any], name: str, kind: str) -> Any:
    value = image.get(name)
    return value.get(kind) if isinstance(value, dict) else None


def _string(order: Mapping[str, Any], name: str) -> str:
    value = order.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedOrder(f"{name} is missing or not a non-empty string")
    return value


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _amount(order: Mapping[str, Any], name: str) -> str:
    value = order.get(name)
    if isinstance(value, bool) or not isinstance(value, Decimal | int) or not Decimal(value).is_finite():
        raise MalformedOrder(f"{name} is missing or not a number")
    # str(Decimal) keeps every stored digit and is valid JSON number syntax (333.48, 1E+2, -0.5).
    return str(value)


# publishing -----------------------------------------------------------------------------------------


@dataclass
class PublishReport:
    """What one `publish` did: PutEvents requests made, entries accepted, and the index of the first
    event not published (None when all were)."""

    requests: int = 0
    published: int = 0
    retried_entries: int = 0
    first_unpublished: int | None = None
    errors: list[str] = field(default_factory=list)


def chunks(events: Sequence[OrderEvent]) -> Iterator[range]:
    """Index ranges of `events`, in order, each at most 10 entries and 256 KB (PutEvents' limits)."""
    start, size = 0, 0
    for index, event in enumerate(events):
        if index > start and (index - start == MAX_ENTRIES or size + event.size > MAX_REQUEST_BYTES):
            yield range(start, index)
            start, size = index, 0
        size += event.size
    if start < len(events):
        yield range(start, len(events))


@cache
def eventbridge(endpoint_url: str | None = None) -> Any:
    """The EventBridge client the publisher sends with, of the process's botocore session (`clients.create`)."""
    from order_creator import clients

    return clients.create("events", endpoint_url=endpoint_url)


class EventPublisher:
    """Publishes events to one bus with PutEvents; entries not confirmed published (or a request that failed
    after the SDK's own retries) are retried up to `max_attempts` rounds with jittered backoff.

    With `time_left`, every wait ends while `ANSWER_MARGIN_SECONDS` are still left: a PutEvents request is
    started only when its worst case by the client's own settings (`deadlines.call_worst_case_seconds`) fits,
    and a back-off sleep only when it and then a request fit; what is not started is unpublished.
    """

    def __init__(self, client: Any, bus_name: str, *, max_attempts: int = MAX_ATTEMPTS, backoff: float = 0.1) -> None:
        self._client = client
        self._bus = bus_name
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._request_seconds: float | None = None

    def publish(self, events: Sequence[OrderEvent], time_left: Callable[[], float] | None = None) -> PublishReport:
        """Publish `events` in order; stop at the first chunk that still fails after the retries, or that time
        is too short for (what follows would be published again anyway when Lambda retries from there)."""
        report = PublishReport()
        for indexes in chunks(events):
            pending = self._publish_chunk(events, list(indexes), report, time_left)
            if pending:
                report.first_unpublished = pending[0]
                return report
        return report

    def _publish_chunk(
        self,
        events: Sequence[OrderEvent],
        pending: list[int],
        report: PublishReport,
        time_left: Callable[[], float] | None,
    ) -> list[int]:
        """Up to `max_attempts` rounds for one chunk; the indexes still unpublished."""
        for attempt in range(self._max_attempts):
            pause = random.uniform(0, self._backoff * 2**attempt) if attempt else 0.0  # noqa: S311 - jitter
            if not self._fits(time_left, pause):
                report.errors.append("too little time left for another PutEvents")
                break
            if attempt:
                report.retried_entries += len(pending)
                time.sleep(pause)
            pending = self._put(events, pending, report)
            if not pending:
                break
        return pending

    def _fits(self, time_left: Callable[[], float] | None, pause: float) -> bool:
        """Whether `pause` and then one PutEvents request at its worst end before the answer's margin."""
        if time_left is None:
            return True
        if self._request_seconds is None:
            self._request_seconds = call_worst_case_seconds(self._client)
        return time_left() - ANSWER_MARGIN_SECONDS >= pause + self._request_seconds

    def _put(self, events: Sequence[OrderEvent], indexes: list[int], report: PublishReport) -> list[int]:
        """One PutEvents request; returns the indexes not confirmed published (an entry of the answer with an
        `EventId` and no `ErrorCode`), whatever the answer's shape."""
        from botocore.exceptions import BotoCoreError, ClientError

        report.requests += 1
        try:
            response = self._client.put_events(Entries=[events[i].entry(self._bus) for i in indexes])
        except (BotoCoreError, ClientError) as error:
            code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
            report.errors.append(code or type(error).__name__)
            return indexes
        results = response.get("Entries") if isinstance(response, dict) else None
        results = results if isinstance(results, list) else []
        failed = []
        # an entry the answer leaves out (a shorter list, none at all) is unconfirmed: None here, so failed
        for index, result in itertools.zip_longest(indexes, results[: len(indexes)]):
            if not _published(result):
                failed.append(index)
                report.errors.append(_error_code(result))
        report.published += len(indexes) - len(failed)
        return failed


def _published(result: Any) -> bool:
    return isinstance(result, dict) and bool(result.get("EventId")) and not result.get("ErrorCode")


def _error_code(result: Any) -> str:
    code = result.get("ErrorCode") if isinstance(result, dict) else None
    return str(code)[:64] if code else "no EventId in the answer"


# the stream's records --------------------------------------------------------------------------------


def order_events(records: Sequence[Any]) -> list[OrderEvent]:
    """The OrderCreated events of a batch of stream records, in stream order: other records are ignored,
    a malformed order image (or one that cannot be named or sent) is logged with its ids and skipped."""
    return list(_order_events(records))


def _order_events(records: Sequence[Any]) -> Iterator[OrderEvent]:
    for record in records:
        if not isinstance(record, dict):
            logger.error("stream record is not an object; skipped")
            continue
        try:
            event = event_from_record(record)
        except MalformedOrder as error:
            logger.error("malformed order image; no event", extra={**_ids(record), "reason": str(error)})
            continue
        if event is not None:
            if not event.sequence_number:
                # Without it the record cannot be named in batchItemFailures (an empty id fails the whole batch).
                logger.error("order record without a SequenceNumber; no event", extra=_ids(record))
                continue
            if event.size > MAX_REQUEST_BYTES:
                logger.error("order event over 256 KB; no event", extra=_ids(record))
                continue
            yield event


def _ids(record: Mapping[str, Any]) -> dict[str, str]:
    """The keys of a record (ids only: never an attribute's value beyond the table's keys)."""
    stream = record.get("dynamodb")
    stream = stream if isinstance(stream, dict) else {}
    keys = stream.get("Keys")
    keys = keys if isinstance(keys, dict) else {}
    ids = {"sequence_number": str(stream.get("SequenceNumber", ""))[:64]}
    for name in ("PK", "SK"):
        value = _typed(keys, name, "S")
        if isinstance(value, str):
            ids[name.lower()] = value[:160]
    return ids
