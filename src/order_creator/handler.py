"""Lambda entry: parse the SQS event, run the batch, shape `batchItemFailures`. Nothing else."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from order_creator.batch import BatchProcessor, BatchReport, Outcome, Record, Status, settle
from order_creator.settings import Settings

logger = Logger(service="order-creator")
metrics = Metrics(namespace="OrderCreator", service="order-creator")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process one SQS batch; return the message ids SQS must redeliver (contract §1, §5).

    Raises ValueError for an event that is not an SQS event, and ConfigurationError for a bad
    environment: neither is the fault of a record, so the whole batch is retried.
    """
    records = parse_event(event)
    settings = Settings.from_env()
    logger.setLevel(settings.log_level)
    processor, dead_letters = _wiring(settings)
    report = processor.process(records, lambda: context.get_remaining_time_in_millis() / 1000)
    failures = settle(report.outcomes, dead_letters)
    _observe(report)
    note = getattr(context, "note_outcomes", None)
    if callable(note):  # the SQS worker's context (worker.WorkerContext): it reports what became of each message
        note({o.record.message_id: o.status.value for o in report.outcomes})
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


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


@lru_cache(maxsize=4)
def _wiring(settings: Settings) -> tuple[BatchProcessor, Any]:
    """Adapters and processor, built once per settings and reused while the Lambda is warm."""
    from order_creator import clients
    from order_creator.cart import CartService
    from order_creator.dao import OrderDAO
    from order_creator.dead_letters import DeadLetterQueue

    _start_tracing()
    processor = BatchProcessor(
        CartService(settings),
        OrderDAO(settings.table_name, clients.dynamodb()),
        settings.zone,
        cart_worst_case_seconds=settings.cart_worst_case_seconds,
    )
    dlq_url = settings.dead_letter_queue_url
    dead_letters = DeadLetterQueue(dlq_url, clients.sqs) if dlq_url else None
    return processor, dead_letters


def _start_tracing() -> None:
    """X-Ray subsegments for DynamoDB, SQS and the Cart API, when tracing is on (POWERTOOLS_TRACE_DISABLED=false).

    Created on first use rather than at import: the X-Ray SDK costs 50-80 ms of cold start even when
    Powertools' Tracer is disabled, and most deployments run with tracing off.
    """
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on")
    if disabled or not os.environ.get("LAMBDA_TASK_ROOT"):
        return
    from aws_lambda_powertools import Tracer

    Tracer(service="order-creator", patch_modules=["botocore", "requests"])


def _observe(report: BatchReport) -> None:
    counts = dict.fromkeys(Status, 0)
    for outcome in report.outcomes:
        counts[outcome.status] += 1
        _log(outcome)
    if is_metrics_disabled():
        # Powertools 3.37 never clears a disabled metric set: it would grow, and print at 100 values.
        return
    metrics.add_metric("OrdersCreated", MetricUnit.Count, counts[Status.CREATED])
    metrics.add_metric("DuplicateOrders", MetricUnit.Count, counts[Status.DUPLICATE])
    metrics.add_metric("PermanentFailures", MetricUnit.Count, counts[Status.PERMANENT])
    metrics.add_metric("TransientFailures", MetricUnit.Count, counts[Status.TRANSIENT])
    metrics.add_metric("NumberingConflicts", MetricUnit.Count, report.numbering_conflicts)
    if report.cart_latencies:
        # The slowest fetch bounds the batch; one value per invocation stays under EMF's 100 values a metric.
        metrics.add_metric("CartApiLatency", MetricUnit.Milliseconds, round(max(report.cart_latencies) * 1000, 1))


def _log(outcome: Outcome) -> None:
    # Ids and the reason only: never the e-mail address or the billing address.
    fields = {
        "message_id": outcome.record.message_id,
        "order_id": outcome.order_id,
        "tenant_id": outcome.tenant_id,
        "outcome": outcome.status.value,
        "receive_count": outcome.record.receive_count,
    }
    if outcome.order_number:
        fields["order_number"] = outcome.order_number
    if outcome.error is not None:
        fields["error_type"] = outcome.error.error_type
        fields["error_message"] = str(outcome.error)
        logger.warning("record failed", extra=fields)
    else:
        logger.info("record processed", extra=fields)


def _int_or_none(value: Any) -> int | None:
    """The attribute as an integer, or None when it is not one (SQS writes them as digit strings)."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # None, "abc", NaN, infinity
        return None
