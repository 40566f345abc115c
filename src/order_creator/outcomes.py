"""What the batch's stages (`batch`, `writes`) share: the records, the drafts on their way to orders, and each
record's outcome, whose status follows from its error class (SQS results are made in `batch.settle` alone)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from order_creator.errors import OrderConflict, OrderCreatorError, PermanentError, TransientError, UnstorableOrder
from order_creator.models import Cart, Order, OrderMessage
from order_creator.ports import CounterKey, OrderKey, WriteResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """The parts of an SQS record the batch needs."""

    message_id: str
    body: str
    sent_timestamp_ms: int | None = None
    receive_count: int = 1


class Status(StrEnum):
    """What became of a record."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    PERMANENT = "permanent"
    TRANSIENT = "transient"


@dataclass
class Outcome:
    """One record's result: a failure's status is its error class's; a success is `CREATED` when this record wrote
    the order (it has its number), else `DUPLICATE`."""

    record: Record
    order_id: str | None = None
    tenant_id: str | None = None
    order_number: str | None = None
    stored_cart_id: str | None = None  # the cart of the order as stored, when this record found or wrote it
    error: OrderCreatorError | None = None

    @property
    def status(self) -> Status:
        """What became of the record."""
        if self.error is not None:
            return Status.PERMANENT if isinstance(self.error, PermanentError) else Status.TRANSIENT
        return Status.CREATED if self.order_number else Status.DUPLICATE


@dataclass
class BatchReport:
    """Every record's outcome in batch order, and what it took."""

    outcomes: list[Outcome]
    numbering_conflicts: int = 0
    cart_latencies: list[float] = field(default_factory=list)


@dataclass
class Draft:
    """A parsed record on its way to becoming an order."""

    record: Record
    message: OrderMessage
    created: datetime
    counter: CounterKey
    cart: Cart | OrderCreatorError | None = None

    @property
    def order_id(self) -> str:
        """The order's id, as text."""
        return str(self.message.order_id)

    @property
    def key(self) -> OrderKey:
        """The order's identity: the same order id in two tenants is two orders (contract §4)."""
        return OrderKey(self.message.tenant_id, self.order_id)


def unexpected(doing: str, error: BaseException, **ids: str) -> TransientError:
    """A bug met while `doing` some records' work, logged with its type and frames, never its message (it may echo
    a field's value, contract §5): those records alone are retried, until the queue's redrive policy ends them."""
    frames = "".join(traceback.format_list(traceback.extract_tb(error.__traceback__)))
    logger.error(f"unexpected error {doing}", extra={**ids, "error_type": type(error).__name__, "frames": frames})
    return TransientError(f"unexpected error {doing}: {type(error).__name__}")


def outcome(draft: Draft, **fields: Any) -> Outcome:
    """The draft's outcome with its ids."""
    return Outcome(draft.record, order_id=draft.order_id, tenant_id=draft.message.tenant_id, **fields)


def failures(drafts: Iterable[Draft], error: OrderCreatorError) -> dict[str, Outcome]:
    """The same failure for every draft, by message id."""
    return {draft.record.message_id: outcome(draft, error=error) for draft in drafts}


def created(draft: Draft, order: Order) -> Outcome:
    """The draft wrote this order."""
    return outcome(draft, order_number=order.order_number, stored_cart_id=order.cart_id)


def existing(draft: Draft, stored_cart_id: str) -> Outcome:
    """A duplicate when the stored order has this record's cart, else a conflict."""
    if stored_cart_id == draft.message.cart_id:
        return outcome(draft, stored_cart_id=stored_cart_id)
    conflict = OrderConflict(f"order {draft.order_id} already exists for another cart")
    return outcome(draft, error=conflict, stored_cart_id=stored_cart_id)


def refused(draft: Draft, result: WriteResult) -> Outcome | None:
    """The outcome a cancelled transaction decided for this draft, or None when it is to be written again."""
    if draft.key in result.existing:
        return existing(draft, result.existing[draft.key])
    if draft.key in result.rejected:
        return outcome(draft, error=UnstorableOrder(result.rejected[draft.key]))
    return None
