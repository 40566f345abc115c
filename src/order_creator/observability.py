"""Logs, metrics and tracing of the orders handler: what an operator sees of each batch, ids only."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from order_creator.batch import BatchReport, Outcome, Status
from order_creator.models import Cart
from order_creator.ports import CartSource

logger = Logger(service="order-creator")
# The stack's own namespace when deployed (template.yaml sets Powertools' POWERTOOLS_METRICS_NAMESPACE to
# OrderCreator/<stack>), so two stacks never count each other's orders; "OrderCreator" outside a stack.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "OrderCreator", service="order-creator")


def start_tracing(carts: CartSource) -> CartSource:
    """X-Ray subsegments for DynamoDB, SQS and the Cart API, when tracing is on (POWERTOOLS_TRACE_DISABLED=false):
    botocore is patched, and `carts` comes back with each fetch in a subsegment of its own.

    The Cart API client is on urllib3, which no X-Ray patch reaches (the SDK's `httplib` patch wraps a method
    urllib3 2 never calls), so its fetches are wrapped here. `requests` is not patched: it is not in the image,
    and patching a module that is not there raised on every invocation once tracing was on.
    Created on first use rather than at import: the X-Ray SDK costs 50-80 ms of cold start even when
    Powertools' Tracer is disabled, and most deployments run with tracing off.
    """
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on")
    if disabled or not os.environ.get("LAMBDA_TASK_ROOT"):
        return carts
    from aws_lambda_powertools import Tracer

    return _TracedCarts(carts, Tracer(service="order-creator", patch_modules=["botocore"]))


class _TracedCarts:
    """`CartSource` with each fetch in a subsegment (its errors recorded, never the cart: capture_response off)."""

    def __init__(self, carts: CartSource, tracer: Any) -> None:
        self.get_cart: Callable[[str, str], Cart] = tracer.capture_method(carts.get_cart, capture_response=False)


def observe(report: BatchReport) -> None:
    """One log line per record and the batch's metrics (flushed by `metrics.log_metrics` on return)."""
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
