"""The numbering audit (contract §8): the one check of the project's central promise.

For every (tenant, business day) checked, the day's orders carry exactly the numbers 1..N, each once, where
N is the counter's `currentValue`, and each order's number is of its own business day. The same check serves
`order-creator orders audit`, the nightly `lambda_handler` below, the tests' invariant and the benchmark.

Memory stays flat however large a day: orders stream a page at a time, each day keeps one byte per number
up to its counter, and only the violations are listed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from order_creator.numbering import business_day, day_bounds, parse_order_number

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# What the check reads of an order: its id, its number and when it was created (the creation key as a fallback).
ORDER_ATTRIBUTES = ("id", "orderNumber", "dateCreated", "GSI1_SK")
KINDS = ("missing", "duplicated", "beyond", "misdated", "malformed")
RECHECK_SECONDS = 2.0  # how long a failed day is left to settle before it is read again
# Without a scan, a day's tenants are those with a counter within this many days of it, either side: a tenant
# whose counter of the day is gone is still found by its counters of the days around it.
NEIGHBOUR_DAYS = 7
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass
class DayAudit:
    """The verdict on one (tenant, business day).

    `missing`: numbers 1..counter no order carries; `duplicated`: numbers carried by more than one order;
    `beyond`: numbers above the counter; `misdated`: ids of orders whose number is of another day than their
    business day; `malformed`: ids of orders without a well-formed number.
    """

    tenant_id: str
    day: date
    counter: int
    orders: int = 0
    missing: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    beyond: list[int] = field(default_factory=list)
    misdated: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the day holds the promise."""
        return self.violations == 0

    @property
    def violations(self) -> int:
        """How many numbers and orders are wrong, all kinds together."""
        return sum(len(getattr(self, kind)) for kind in KINDS)

    def document(self) -> dict[str, Any]:
        """The contract's `--json` line: an order without a well-formed number is listed under `misdated`
        (its number is of no day at all, so not of its business day)."""
        return {
            "tenantId": self.tenant_id,
            "day": self.day.isoformat(),
            "counter": self.counter,
            "orders": self.orders,
            "missing": self.missing,
            "duplicated": self.duplicated,
            "beyond": self.beyond,
            "misdated": self.misdated + self.malformed,
            "ok": self.ok,
        }


class DayCheck:
    """Checks one (tenant, day) from its orders, given one at a time, in one byte per number up to the counter."""

    def __init__(self, tenant_id: str, day: date, counter: int) -> None:
        self.day = day
        self._result = DayAudit(tenant_id, day, counter)
        self._seen = bytearray(counter + 1)  # per number: 0 unseen, 1 once, 2 more than once
        self._beyond: dict[int, int] = {}

    def add(self, order_id: str, order_number: object, order_business_day: date) -> None:
        """Count one order whose business day is this check's day."""
        result = self._result
        result.orders += 1
        parsed = parse_order_number(order_number) if isinstance(order_number, str) else None
        if parsed is None:
            result.malformed.append(order_id)
            return
        number_day, sequence = parsed
        if number_day != order_business_day:
            result.misdated.append(order_id)  # its number belongs to another day's sequence, not to this one
            return
        if sequence > result.counter:
            self._beyond[sequence] = self._beyond.get(sequence, 0) + 1
        elif self._seen[sequence] < 2:
            self._seen[sequence] += 1

    def finish(self) -> DayAudit:
        """The verdict, once every order of the day was added."""
        result, seen = self._result, self._seen
        result.missing = [n for n in range(1, result.counter + 1) if not seen[n]]
        result.duplicated = [n for n in range(1, result.counter + 1) if seen[n] == 2]
        result.duplicated += [n for n, count in sorted(self._beyond.items()) if count > 1]
        result.beyond = sorted(self._beyond)
        return result


def check_orders(
    tenant_id: str, orders: Iterable[Mapping[str, Any]], counters: Mapping[date, int], zone: tzinfo
) -> list[DayAudit]:
    """Every day of a tenant that has a counter or an order, checked; `orders` are items with `id`,
    `orderNumber` and `dateCreated`, in any order (held in memory per day: for tests and small sets)."""
    by_day: dict[date, list[Mapping[str, Any]]] = {}
    for order in orders:
        by_day.setdefault(_day_of(order, zone, "dateCreated", "GSI1_SK"), []).append(order)
    verdicts = []
    for day in sorted(set(by_day) | set(counters)):
        check = DayCheck(tenant_id, day, counters.get(day, 0))
        for order in by_day.get(day, []):
            check.add(str(order.get("id", "")), order.get("orderNumber"), day)
        verdicts.append(check.finish())
    return verdicts


class AuditStore(Protocol):
    """What the audit reads (implemented by `dao.OrderDAO`)."""

    def tenants_of_day(self, day: date) -> Iterator[str]: ...

    def counters(
        self, tenant_id: str, first: date | None = None, last: date | None = None
    ) -> Iterator[tuple[date, int]]: ...

    def orders_created(
        self, tenant_id: str, start: datetime, end: datetime, attributes: tuple[str, ...], page_size: int = 1000
    ) -> Iterator[dict[str, Any]]: ...

    def scan_created(
        self, start: datetime, end: datetime, page_size: int = 1000
    ) -> Iterator[tuple[list[dict[str, Any]], float]]: ...


class NumberingAudit:
    """Audits a table through an `AuditStore`, a tenant or a day at a time, yielding one verdict per day.

    A day that fails is read and checked once more after `recheck_seconds` (None: never), and only the
    second verdict counts: an order still arriving while a day is read (a late message of a closed day) must
    not raise a false alarm. `progress` is told the running count of orders checked, every 1,000 orders.
    """

    def __init__(
        self,
        store: AuditStore,
        zone: tzinfo,
        *,
        recheck_seconds: float | None = RECHECK_SECONDS,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._store = store
        self._zone = zone
        self._recheck_seconds = recheck_seconds
        self._progress = progress
        self.orders_checked = 0
        self.read_units_scanned = 0.0

    def tenant(self, tenant_id: str, first: date | None = None, last: date | None = None) -> Iterator[DayAudit]:
        """Every day of the tenant within first..last (both inclusive, business days; open when None) that
        has a counter or an order, in day order: one read of the counters, one stream of the orders."""
        counters = dict(self._store.counters(tenant_id, first, last))
        start = day_bounds(first, self._zone)[0] if first else _EARLIEST
        end = day_bounds(last, self._zone)[1] if last else _LATEST
        pending = sorted(counters)  # counter days not reached by the orders yet
        check: DayCheck | None = None
        for order in self._store.orders_created(tenant_id, start, end, ORDER_ATTRIBUTES):
            # Grouped by the day of the creation key, which the stream is sorted by; each order's own business
            # day (from dateCreated, which the key was made from) is what its number must match.
            day = _day_of(order, self._zone, "GSI1_SK", "dateCreated")
            if check is None or day != check.day:
                if check is not None:
                    yield self._confirmed(check.finish())
                while pending and pending[0] < day:
                    yield self._confirmed(DayCheck(tenant_id, pending[0], counters[pending.pop(0)]).finish())
                if pending and pending[0] == day:
                    pending.pop(0)
                check = DayCheck(tenant_id, day, counters.get(day, 0))
            own_day = _day_of(order, self._zone, "dateCreated", "GSI1_SK")
            check.add(str(order.get("id", "")), order.get("orderNumber"), own_day)
            self._count()
        if check is not None:
            yield self._confirmed(check.finish())
        for day in pending:
            yield self._confirmed(DayCheck(tenant_id, day, counters[day]).finish())

    def every_tenant(self, first: date, last: date, also: Iterable[str] = ()) -> Iterator[DayAudit]:
        """Every day within first..last that has a counter or an order, of every tenant found, a tenant at a time
        (as `tenant`, so two queries a tenant besides its orders).

        The tenants are those with a counter on any day from NEIGHBOUR_DAYS before `first` to NEIGHBOUR_DAYS after
        `last` (one query a day, of the counters' day key: never a scan), then those of `also` (see
        `tenants_by_scan`). So a tenant whose counter of a day is gone is still checked on that day when it has a
        counter on another day of that window; one with no counter in the window at all only when in `also`.
        """
        counted = dict.fromkeys(
            tenant_id for day in days(*neighbourhood(first, last)) for tenant_id in self._store.tenants_of_day(day)
        )
        for tenant_id in [*counted, *sorted(set(also) - set(counted))]:
            yield from self.tenant(tenant_id, first, last)

    def day(self, day: date) -> Iterator[DayAudit]:
        """Every tenant's verdict on one business day, the nightly's audit: `every_tenant(day, day)`."""
        return self.every_tenant(day, day)

    def tenants_by_scan(
        self, first: date, last: date, *, max_rcu: float, progress: Callable[[int, float], None] | None = None
    ) -> set[str]:
        """The tenants with orders on a business day of first..last, found from the orders themselves, so also
        those with no counter: one scan of the whole table, a page at a time, held to `max_rcu` read units a
        second on average (`read_units_scanned` adds what DynamoDB charged). `progress` is told the pages and read
        units so far after every page."""
        from order_creator.migrate import RateLimit  # only a deep audit needs it: not on the nightly's path

        limit = RateLimit(max_rcu)
        found: set[str] = set()
        start, end = day_bounds(first, self._zone)[0], day_bounds(last, self._zone)[1]
        for pages, (orders, units) in enumerate(self._store.scan_created(start, end), start=1):
            found.update(str(order["PK"]).removeprefix("TENANT#") for order in orders)
            self.read_units_scanned += units
            if progress is not None:
                progress(pages, self.read_units_scanned)
            limit.spend(units)
        return found

    def _confirmed(self, verdict: DayAudit) -> DayAudit:
        if verdict.ok or self._recheck_seconds is None:
            return verdict
        time.sleep(self._recheck_seconds)
        again = NumberingAudit(self._store, self._zone, recheck_seconds=None).tenant(
            verdict.tenant_id, verdict.day, verdict.day
        )
        return next(again, DayAudit(verdict.tenant_id, verdict.day, 0))

    def _count(self) -> None:
        self.orders_checked += 1
        if self._progress is not None and self.orders_checked % 1000 == 0:
            self._progress(self.orders_checked)


def _day_of(order: Mapping[str, Any], zone: tzinfo, first: str, second: str) -> date:
    """The business day of the order's `first` time attribute (dateCreated or the creation key GSI1_SK), or of
    its `second` when the first is unreadable; date.min when neither can be read."""
    for text in (str(order.get(name, "")).partition("#")[0] for name in (first, second)):
        try:
            moment = datetime.fromisoformat(str(text))
        except ValueError:
            continue
        if moment.tzinfo is not None:
            return business_day(moment, zone)
    return date.min


def days(first: date, last: date) -> Iterator[date]:
    """first..last, both included."""
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def neighbourhood(first: date, last: date) -> tuple[date, date]:
    """The days whose counters name the tenants of first..last: NEIGHBOUR_DAYS either side (within the calendar)."""
    before = min(NEIGHBOUR_DAYS, (first - date.min).days)
    after = min(NEIGHBOUR_DAYS, (date.max - last).days)
    return first - timedelta(days=before), last + timedelta(days=after)


# the command ------------------------------------------------------------------------------------------


def run_command(
    audit: NumberingAudit,
    *,
    tenant_id: str | None,
    first: date | None,
    last: date,
    as_json: bool,
    out: Callable[[str], None],
    also: Iterable[str] = (),
) -> tuple[int, int]:
    """`order-creator orders audit`: one line per (tenant, day) checked, to `out`; returns the days checked and
    the days that failed. With a tenant: its days within first..last; without: those of every tenant found
    (`NumberingAudit.every_tenant`; `also`: tenants found by `NumberingAudit.tenants_by_scan`)."""
    every_tenant = audit.every_tenant(first or last, last, also)
    verdicts = audit.tenant(tenant_id, first, last) if tenant_id else every_tenant
    checked = failed = 0
    for verdict in verdicts:
        checked += 1
        failed += not verdict.ok
        out(_json_line(verdict) if as_json else describe(verdict))
    return checked, failed


def describe(verdict: DayAudit, most: int = 10) -> str:
    """One line for a person: the (tenant, day), its counter and orders, and each kind of violation named."""
    orders = f"{verdict.orders} order" + ("" if verdict.orders == 1 else "s")
    head = f"{verdict.day.isoformat()}  {verdict.tenant_id}  counter {verdict.counter}, {orders}"
    if verdict.ok:
        return f"{head}: ok"
    parts = []
    for kind in KINDS:
        found: list[Any] = getattr(verdict, kind)
        if found:
            shown = ", ".join(str(value) for value in found[:most])
            parts.append(f"{kind} {shown}" + (f" (+{len(found) - most} more)" if len(found) > most else ""))
    return f"{head}: FAILED: " + "; ".join(parts)


def _json_line(verdict: DayAudit) -> str:
    import json

    return json.dumps(verdict.document())


# the nightly audit ------------------------------------------------------------------------------------

logger = Logger(service="order-creator")
metrics = Metrics(namespace="OrderCreator", service="order-creator")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Audit the business day just ended (in ORDER_NUMBER_TIMEZONE), or the event's `day` (YYYY-MM-DD), for
    every tenant with a counter within NEIGHBOUR_DAYS of it (`NumberingAudit.every_tenant`: no scan); log each
    violation (ids and numbers only); emit `NumberingViolations`.

    Returns the day and its totals. Raises ConfigurationError for a bad environment and ValueError for an
    event whose `day` is not a date.
    """
    from order_creator import clients
    from order_creator.dao import OrderDAO
    from order_creator.settings import TableSettings

    settings = TableSettings.from_env()
    logger.setLevel(settings.log_level)
    requested = event.get("day") if isinstance(event, dict) else None
    if requested is not None:
        audited_day = date.fromisoformat(str(requested))
    else:
        audited_day = business_day(datetime.now(UTC), settings.zone) - timedelta(days=1)
    audit = NumberingAudit(
        OrderDAO(settings.table_name, clients.dynamodb()), settings.zone, recheck_seconds=RECHECK_SECONDS
    )
    tenants = violations = 0
    failed: list[str] = []
    for verdict in audit.day(audited_day):
        tenants += 1
        violations += verdict.violations
        if not verdict.ok:
            failed.append(verdict.tenant_id)
            _log_violations(verdict)
    summary = {
        "day": audited_day.isoformat(),
        "tenants": tenants,
        "orders": audit.orders_checked,
        "violations": violations,
        "failedTenants": failed,
    }
    logger.info("numbering audit done", extra=summary)
    if not is_metrics_disabled():  # Powertools never clears a disabled metric set (see handler.py)
        metrics.add_metric("NumberingViolations", MetricUnit.Count, violations)
        metrics.add_metric("OrdersAudited", MetricUnit.Count, audit.orders_checked)
        metrics.add_metric("TenantDaysAudited", MetricUnit.Count, tenants)
    return summary


def _log_violations(verdict: DayAudit) -> None:
    for kind in KINDS:
        found: list[Any] = getattr(verdict, kind)
        if not found:
            continue
        # Numbers and order ids only (never a field of the customer's); at most 100 a line, with the count.
        listed = "numbers" if kind in ("missing", "duplicated", "beyond") else "order_ids"
        fields = {"tenant_id": verdict.tenant_id, "day": verdict.day.isoformat(), "kind": kind, "count": len(found)}
        logger.error("numbering violation", extra={**fields, listed: found[:100]})
