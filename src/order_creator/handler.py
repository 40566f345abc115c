"""Lambda entry: parse the SQS event, run the batch, shape `batchItemFailures`; and the wiring (adapters built
once per warm Lambda). The local worker calls `run_batch` for what became of each message."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from order_creator.batch import BatchReport, OrderCreator, Record, contained, settle
from order_creator.deadlines import BATCH_MARGIN_SECONDS, Deadline
from order_creator.errors import ConfigurationError
from order_creator.observability import logger, metrics, observe, start_tracing
from order_creator.settings import Settings

# The settings whose function timeout was found long enough.
_timeouts_checked: set[Settings] = set()


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process one SQS batch before the invocation's deadline; return the message ids SQS must redeliver (§1, §5).

    Raises ValueError for an event that is not an SQS event, and ConfigurationError for a bad environment or a
    function timeout too short for it (no record's fault: the whole batch is retried); nothing else.
    """
    answer: dict[str, Any] = run_batch(event, context)[0]
    return answer


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def run_batch(event: dict[str, Any], context: LambdaContext) -> tuple[dict[str, Any], BatchReport]:
    """`lambda_handler`'s answer, and the batch's report (what became of each record); raises as it does."""
    deadline = Deadline(context.get_remaining_time_in_millis() / 1000)
    records = parse_event(event)
    settings = Settings.from_env()
    logger.setLevel(settings.log_level)
    _check_timeout(settings, deadline.left())
    creator, dead_letters = _wiring(settings)
    try:
        report = creator.process(records, deadline.left)
        failures = settle(report.outcomes, dead_letters, deadline.left)
    except Exception as bug:  # each stage contains its own faults; this is for a bug between them
        report = contained(records, bug)
        failures = [o.record.message_id for o in report.outcomes]
    observe(report)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}, report


def parse_event(event: Any) -> list[Record]:
    """The event's records, or ValueError when it is not an SQS event."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        raise ValueError("not an SQS event: no Records list")
    records = []
    for raw in event["Records"]:
        if not isinstance(raw, dict) or raw.get("eventSource") != "aws:sqs" or not raw.get("messageId"):
            raise ValueError("not an SQS event: a record without eventSource aws:sqs and a messageId")
        attributes = raw.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ValueError("not an SQS event: a record whose attributes are not an object")
        records.append(
            Record(
                message_id=str(raw["messageId"]),
                body=raw["body"] if isinstance(raw.get("body"), str) else "",
                sent_timestamp_ms=_int_or_none(attributes.get("SentTimestamp")),
                receive_count=_int_or_none(attributes.get("ApproximateReceiveCount")) or 1,
            )
        )
    return records


def _check_timeout(settings: Settings, seconds_left: float) -> None:
    """ConfigurationError when the function's timeout cannot fit a batch, checked at the first invocation with
    these settings: Lambda does not put the timeout in the environment, but each invocation starts with all of it.
    """
    if settings in _timeouts_checked:
        return
    needed = settings.batch_minimum_seconds
    if seconds_left < needed:
        raise ConfigurationError(
            f"the function timeout ({seconds_left:.1f} s left as the invocation started) is shorter than a batch "
            f"needs: {needed:g} s = the Cart API's worst case {settings.cart_worst_case_seconds:g} s "
            f"(CART_API_TIMEOUT_SECONDS {settings.cart_api_timeout_seconds:g} s x {settings.cart_api_max_retries + 1}"
            f" attempts, with the back-off between them) + {BATCH_MARGIN_SECONDS:g} s for a write and the answer; "
            "raise the timeout, or lower CART_API_TIMEOUT_SECONDS or CART_API_MAX_RETRIES"
        )
    _timeouts_checked.add(settings)


@lru_cache(maxsize=4)
def _wiring(settings: Settings) -> tuple[OrderCreator, Any]:
    """Adapters and the order creator, built once per settings and reused while the Lambda is warm."""
    from order_creator import clients
    from order_creator.cart import CartService
    from order_creator.dead_letters import DeadLetterQueue
    from order_creator.store.orders import OrderTable

    creator = OrderCreator(
        start_tracing(CartService(settings)),
        OrderTable(settings.table_name, clients.dynamodb()),
        settings.zone,
        cart_worst_case_seconds=settings.cart_worst_case_seconds,
    )
    dlq_url = settings.dead_letter_queue_url
    dead_letters = DeadLetterQueue(dlq_url, clients.sqs) if dlq_url else None
    return creator, dead_letters


def _int_or_none(value: Any) -> int | None:
    """The attribute as an integer, or None when it is not one (SQS writes them as digit strings)."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # None, "abc", NaN, infinity
        return None
