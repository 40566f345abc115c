"""Lambda entry of the nightly numbering audit (contract §8).

`lambda_handler` audits the business day just ended with `numbering_audit.NumberingAudit`, logs each violation
(ids and numbers only) and emits the night's metrics; the audit itself is in `numbering_audit`.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from order_creator import numbering_audit
from order_creator.day_check import KINDS, DayAudit
from order_creator.numbering import business_day
from order_creator.numbering_audit import NumberingAudit

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from order_creator.settings import TableSettings

__all__ = ["lambda_handler"]


logger = Logger(service="order-creator")
# The stack's own namespace, as the orders handler's (observability.py).
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "OrderCreator", service="order-creator")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Audit the business day just ended (in ORDER_NUMBER_TIMEZONE), or the event's `day` (YYYY-MM-DD), for
    every tenant with a counter within NEIGHBOUR_DAYS of it (`NumberingAudit.every_tenant`: no scan); log each
    violation (ids and numbers only); emit `NumberingViolations` every night, 0 included.

    Every tenant is audited whatever another holds: a tenant whose audit failed (the table did not answer) is
    logged, listed in `unreadTenants` and `failedTenants`, and counted in `NumberingViolations` (an alarm on it
    fires) and in `TenantsUnread`. Returns the day and its totals. Raises ConfigurationError for a bad
    environment and ValueError for an event whose `day` is not a date.
    """
    from order_creator.settings import TableSettings

    settings = TableSettings.from_env()
    logger.setLevel(settings.log_level)
    audited_day = _audited_day(event, settings)
    audit = NumberingAudit(_store(settings), settings.zone, recheck_seconds=numbering_audit.RECHECK_SECONDS)
    summary = _audit_night(audit, audited_day)
    logger.info("numbering audit done", extra=summary)
    return summary


def _audited_day(event: Any, settings: TableSettings) -> date:
    """The event's `day` (ValueError when it is not a date), else the business day just ended."""
    requested = event.get("day") if isinstance(event, dict) else None
    if requested is not None:
        return date.fromisoformat(str(requested))
    return business_day(datetime.now(UTC), settings.zone) - timedelta(days=1)


def _store(settings: TableSettings) -> Any:
    """The table's `AuditStore`, built once per table and client while the Lambda is warm."""
    from order_creator import clients

    return _table_store(settings.table_name, clients.dynamodb())


@lru_cache(maxsize=4)
def _table_store(table_name: str, client: Any) -> Any:
    from order_creator.store.scans import TableScans

    return TableScans(table_name, client)


def _audit_night(audit: NumberingAudit, audited_day: date) -> dict[str, Any]:
    """Every tenant's verdict on `audited_day`: violations logged, the metrics emitted (also when the audit
    raises), and the night's summary."""
    tenants = violations = 0
    failed: list[str] = []
    unread: list[str] = []

    def unreadable(tenant_id: str, error: Exception) -> None:
        unread.append(tenant_id)
        # ids and the kind of failure only: an error's text may quote what the table holds
        fields = {"tenant_id": tenant_id, "day": audited_day.isoformat(), "error_type": type(error).__name__}
        logger.error("numbering audit could not read a tenant", extra=fields)

    try:
        for verdict in audit.day(audited_day, on_error=unreadable):
            tenants += 1
            violations += verdict.violations
            if not verdict.ok:
                failed.append(verdict.tenant_id)
                _log_violations(verdict)
    finally:
        _emit(violations + len(unread), audit.orders_checked, tenants, len(unread))
    return {
        "day": audited_day.isoformat(),
        "tenants": tenants,
        "orders": audit.orders_checked,
        "violations": violations,
        "failedTenants": list(dict.fromkeys(failed + unread)),
        "unreadTenants": unread,
    }


def _emit(violations: int, orders: int, tenant_days: int, unread: int) -> None:
    """The night's metrics, also when the audit could not list the day's tenants (then it raises after)."""
    if is_metrics_disabled():  # Powertools never clears a disabled metric set (see handler.py)
        return
    metrics.add_metric("NumberingViolations", MetricUnit.Count, violations)
    metrics.add_metric("OrdersAudited", MetricUnit.Count, orders)
    metrics.add_metric("TenantDaysAudited", MetricUnit.Count, tenant_days)
    metrics.add_metric("TenantsUnread", MetricUnit.Count, unread)


def _log_violations(verdict: DayAudit) -> None:
    for kind in KINDS:
        found: list[Any] = getattr(verdict, kind)
        if not found:
            continue
        # Numbers, order ids and keys only (never a field's value); at most 100 a line, with the count.
        listed = "numbers" if kind in ("missing", "duplicated", "beyond") else "order_ids"
        listed = "problems" if kind == "problems" else listed
        count = verdict.missing_count if kind == "missing" else len(found)
        fields = {"tenant_id": verdict.tenant_id, "day": verdict.day.isoformat(), "kind": kind, "count": count}
        logger.error("numbering violation", extra={**fields, listed: found[:100]})
