"""The numbering audit (contract §8): the one check of the project's central promise.

For every (tenant, business day) checked, the day's orders carry exactly the numbers 1..N, each once, where
N is the counter's `currentValue`, and each order's number is of its own business day. The same check serves
`order-creator orders audit`, the nightly `lambda_handler` below, the tests' invariant and the benchmark.

Memory stays flat however large a day: orders stream a page at a time, each day keeps one byte per number
up to its counter, and only the violations are listed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from order_creator.numbering import business_day, day_bounds, parse_day_key, parse_order_number

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# What the check reads of an order: its key, id, number and when it was created (the creation key as a fallback).
ORDER_ATTRIBUTES = ("SK", "id", "orderNumber", "dateCreated", "GSI1_SK")
KINDS = ("missing", "duplicated", "beyond", "misdated", "malformed", "problems")
LISTED = 100  # at most this many missing numbers are listed for a day (missingCount has them all)
# Numbers up to this take one byte each; numbers above it (only a counter far beyond its orders has them) are
# held sparsely, so an untrusted counter of 10^11 costs no more memory than its orders.
DENSE_NUMBERS = 1 << 24
COUNTER_PREFIX = "ORDER_NUMBER#"
_COUNTER_KEY = re.compile(r"ORDER_NUMBER#[0-9]{8}")
_LARGEST_COUNTER = 10**38 - 1  # the most a DynamoDB number holds as a whole number
# The creation key as this version writes it (numbering.utc_millis, '#', the order id): fixed width, so the
# keys sort as the instants do and a stream of them goes from day to day without coming back.
_CREATION_KEY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z#.*", re.DOTALL)
PROGRESS_SECONDS = 0.5  # at least this long between two progress reports
RECHECK_SECONDS = 2.0  # how long a failed day is left to settle before it is read again
# Without a scan, a day's tenants are those with a counter within this many days of it, either side: a tenant
# whose counter of the day is gone is still found by its counters of the days around it.
NEIGHBOUR_DAYS = 7
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass
class DayAudit:
    """The verdict on one (tenant, business day).

    `counter`: the counter's currentValue, None when it is not a non-negative integer; `missing`: numbers
    1..counter no order carries (at most LISTED of them, `missing_count` counts them all); `duplicated`: numbers
    carried by more than one order; `beyond`: numbers above the counter; `misdated`: ids of orders whose number is
    of another day than their business day; `malformed`: ids of orders without a well-formed number; `problems`:
    what could not be read as the contract says (the counter, a key), named by keys and ids, never by a value.
    """

    tenant_id: str
    day: date
    counter: int | None
    orders: int = 0
    missing: list[int] = field(default_factory=list)
    missing_count: int = 0
    duplicated: list[int] = field(default_factory=list)
    beyond: list[int] = field(default_factory=list)
    misdated: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the day holds the promise."""
        return self.violations == 0

    @property
    def violations(self) -> int:
        """How many numbers, orders and unreadable items are wrong, all kinds together."""
        listed = sum(len(getattr(self, kind)) for kind in KINDS if kind != "missing")
        return listed + self.missing_count

    def document(self) -> dict[str, Any]:
        """The contract's `--json` line: an order without a well-formed number is listed under `misdated`
        (its number is of no day at all, so not of its business day). Two keys are added only when they apply:
        `missingCount` when more numbers are missing than listed, `problems` when something could not be read."""
        document: dict[str, Any] = {
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
        if self.missing_count > len(self.missing):
            document["missingCount"] = self.missing_count
        if self.problems:
            document["problems"] = self.problems
        return document


def counter_number(value: object) -> int | None:
    """A counter's `currentValue` as the handler can move it: a whole number from 0 up (3.0 is 3); None for
    anything else (negative, fractional, a string, NULL, a map, a number no table holds)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    try:
        number = Decimal(value)
        if not number.is_finite() or number != number.to_integral_value() or not 0 <= number <= _LARGEST_COUNTER:
            return None
        return int(number)
    except ArithmeticError:
        return None


def counter_day(key: str) -> date | None:
    """The day of a counter's sort key as this version writes it (`ORDER_NUMBER#YYYYMMDD`); None for another shape."""
    if not _COUNTER_KEY.fullmatch(key):
        return None
    try:
        return parse_day_key(key.removeprefix(COUNTER_PREFIX))
    except ValueError:
        return None


def likely_day(key: str) -> date | None:
    """The day a counter key of another shape seems to name (its first eight digits as YYYYMMDD, so
    `ORDER_NUMBER#2025-12-30` names 2025-12-30), or None."""
    digits = "".join(ch for ch in key[:64] if ch in "0123456789")[:8]
    try:
        return parse_day_key(digits) if len(digits) == 8 else None
    except ValueError:
        return None


class DayCheck:
    """Checks one (tenant, day) from its orders, given one at a time: one byte per number up to the counter
    (up to DENSE_NUMBERS; sparsely above), whatever the counter claims."""

    def __init__(self, tenant_id: str, day: date, counter: object) -> None:
        self.day = day
        number = counter_number(counter)
        self._result = DayAudit(tenant_id, day, number)
        if number is None:
            self._result.problems.append("counter: currentValue is not a non-negative integer")
        self._top = number or 0
        self._seen = bytearray(min(self._top, DENSE_NUMBERS) + 1)  # per number: 0 unseen, 1 once, 2 more than once
        self._seen[0] = 1  # there is no number 0
        self._sparse: dict[int, int] = {}  # numbers above DENSE_NUMBERS and up to the counter: how many orders
        self._beyond: dict[int, int] = {}

    def add(self, order_id: str, order_number: object, order_business_day: date | None) -> None:
        """Count one order whose creation key is of this check's day; `order_business_day` is its own
        business day (None when its time cannot be read)."""
        result = self._result
        result.orders += 1
        parsed = parse_order_number(order_number) if isinstance(order_number, str) else None
        if parsed is None or order_business_day is None:
            result.malformed.append(order_id)
            return
        number_day, sequence = parsed
        if number_day != order_business_day or number_day != self.day:
            # its number belongs to another day's sequence (or its creation key to another day than its date)
            result.misdated.append(order_id)
            return
        if sequence > self._top:
            self._beyond[sequence] = self._beyond.get(sequence, 0) + 1
        elif sequence > DENSE_NUMBERS:
            self._sparse[sequence] = self._sparse.get(sequence, 0) + 1
        elif self._seen[sequence] < 2:
            self._seen[sequence] += 1

    def problem(self, text: str) -> None:
        """Record something of the day that could not be read (named by its key or id, never its value)."""
        self._result.problems.append(text)

    def finish(self) -> DayAudit:
        """The verdict, once every order of the day was added."""
        result, seen = self._result, self._seen
        result.missing = _positions(seen, 0, LISTED)
        result.missing_count = seen.count(0)
        sparse_span = max(0, self._top - DENSE_NUMBERS)
        result.missing_count += sparse_span - len(self._sparse)
        number = DENSE_NUMBERS
        while len(result.missing) < LISTED and number < self._top:  # at most LISTED + len(sparse) steps
            number += 1
            if number not in self._sparse:
                result.missing.append(number)
        result.duplicated = _positions(seen, 2, len(seen))
        for counted in (self._sparse, self._beyond):
            result.duplicated += [n for n, count in sorted(counted.items()) if count > 1]
        result.beyond = sorted(self._beyond) if result.counter is not None else []
        return result


def _positions(seen: bytearray, value: int, most: int) -> list[int]:
    """The first `most` indexes of `seen` holding `value` (bytearray.find: no Python loop over the rest)."""
    found: list[int] = []
    position = seen.find(value)
    while position != -1 and len(found) < most:
        found.append(position)
        position = seen.find(value, position + 1)
    return found


def check_orders(
    tenant_id: str, orders: Iterable[Mapping[str, Any]], counters: Mapping[date, object], zone: tzinfo
) -> list[DayAudit]:
    """Every day of a tenant that has a counter or an order, checked; `orders` are items with `id`,
    `orderNumber` and `dateCreated`, in any order (held in memory per day: for tests and small sets)."""
    by_day: dict[date, list[Mapping[str, Any]]] = {}
    for order in orders:
        by_day.setdefault(own_day(order, zone) or date.min, []).append(order)
    verdicts = []
    for day in sorted(set(by_day) | set(counters)):
        check = DayCheck(tenant_id, day, counters.get(day, 0))
        for order in by_day.get(day, []):
            check.add(order_id(order), order.get("orderNumber"), own_day(order, zone))
        verdicts.append(check.finish())
    return verdicts


class AuditStore(Protocol):
    """What the audit reads (implemented by `dao.OrderDAO`)."""

    def counters_of_day(self, day: date) -> Iterator[tuple[str, str]]: ...

    def counters(
        self, tenant_id: str, first: date | None = None, last: date | None = None
    ) -> Iterator[tuple[str, object]]: ...

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
    not raise a false alarm. `progress` is told the days and orders checked so far, at most every
    PROGRESS_SECONDS. Whatever an item holds, it is a finding of its day, never an exception.
    """

    def __init__(
        self,
        store: AuditStore,
        zone: tzinfo,
        *,
        recheck_seconds: float | None = RECHECK_SECONDS,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self._store = store
        self._zone = zone
        self._recheck_seconds = recheck_seconds
        self._progress = progress
        self._reported = time.monotonic()
        self.days_checked = 0
        self.orders_checked = 0
        self.read_units_scanned = 0.0

    def tenant(
        self,
        tenant_id: str,
        first: date | None = None,
        last: date | None = None,
        odd_keys: Mapping[date, list[str]] | None = None,
    ) -> Iterator[DayAudit]:
        """Every day of the tenant within first..last (both inclusive, business days; open when None) that
        has a counter, a counter key of another shape, or an order, in day order: one read of the counters, one
        stream of the orders. `odd_keys`: problems of counter keys found elsewhere, by day."""
        counters, odd = self._counters(tenant_id, first, last)
        for day, texts in (odd_keys or {}).items():
            odd.setdefault(day, []).extend(text for text in texts if text not in odd.get(day, []))
        start = day_bounds(first, self._zone)[0] if first else _EARLIEST
        end = day_bounds(last, self._zone)[1] if last else _LATEST
        pending = sorted(set(counters) | set(odd))  # counter days not reached by the orders yet
        check: DayCheck | None = None
        for order in self._store.orders_created(tenant_id, start, end, ORDER_ATTRIBUTES):
            # Grouped by the day of the creation key, which the stream is sorted by (a key of another shape stays
            # with the day before it); each order's own business day is what its number must match.
            day = _key_day(order, self._zone) or (check.day if check else first or date.min)
            if check is None or day != check.day:
                if check is not None:
                    yield self._confirmed(check.finish())
                while pending and pending[0] < day:
                    yield self._confirmed(_day_check(tenant_id, pending.pop(0), counters, odd).finish())
                if pending and pending[0] == day:
                    pending.pop(0)
                check = _day_check(tenant_id, day, counters, odd)
            check.add(order_id(order), order.get("orderNumber"), own_day(order, self._zone))
            self._count(orders=1)
        if check is not None:
            yield self._confirmed(check.finish())
        for day in pending:
            yield self._confirmed(_day_check(tenant_id, day, counters, odd).finish())

    def every_tenant(
        self,
        first: date,
        last: date,
        also: Iterable[str] = (),
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> Iterator[DayAudit]:
        """Every day within first..last that has a counter or an order, of every tenant found, a tenant at a time
        (as `tenant`, so two queries a tenant besides its orders).

        The tenants are those with a counter on any day from NEIGHBOUR_DAYS before `first` to NEIGHBOUR_DAYS after
        `last` (one query a day, of the counters' day key: never a scan), then those of `also` (see
        `tenants_by_scan`). So a tenant whose counter of a day is gone is still checked on that day when it has a
        counter on another day of that window; one with no counter in the window at all only when in `also`.
        With `on_error`, a tenant whose audit raised (the store failed) is passed to it and the audit goes on.
        """
        counted: dict[str, dict[date, list[str]]] = {}
        for day in days(*neighbourhood(first, last)):
            for tenant_id, key in self._store.counters_of_day(day):
                odd = counted.setdefault(tenant_id, {})
                if first <= day <= last and counter_day(key) != day:
                    # named by the day key, its own key says otherwise: a one-day read of the counters misses it
                    odd.setdefault(day, []).append(odd_key(key))
        for tenant_id in [*counted, *sorted(set(also) - set(counted))]:
            if on_error is None:
                yield from self.tenant(tenant_id, first, last, counted.get(tenant_id, {}))
                continue
            try:
                yield from self.tenant(tenant_id, first, last, counted.get(tenant_id, {}))
            except Exception as error:  # one tenant's failure must not hide the others' verdicts
                on_error(tenant_id, error)

    def day(self, day: date, on_error: Callable[[str, Exception], None] | None = None) -> Iterator[DayAudit]:
        """Every tenant's verdict on one business day, the nightly's audit: `every_tenant(day, day)`."""
        return self.every_tenant(day, day, on_error=on_error)

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

    def _counters(
        self, tenant_id: str, first: date | None, last: date | None
    ) -> tuple[dict[date, object], dict[date, list[str]]]:
        """The tenant's counters of first..last (day → currentValue, as stored) and the keys of another shape the
        read met, by the day each seems to name (the first day audited when it names none in the range)."""
        counters: dict[date, object] = {}
        odd: dict[date, list[str]] = {}
        for key, value in self._store.counters(tenant_id, first, last):
            day = counter_day(key)
            if day is not None:
                if (first is None or first <= day) and (last is None or day <= last):
                    counters[day] = value
                continue
            seems = likely_day(key)
            if seems is None or (first and seems < first) or (last and seems > last):
                seems = first or last or date.min
            odd.setdefault(seems, []).append(odd_key(key))
        return counters, odd

    def _confirmed(self, verdict: DayAudit) -> DayAudit:
        self._count(days=1)
        if verdict.ok or self._recheck_seconds is None:
            return verdict
        time.sleep(self._recheck_seconds)
        again = NumberingAudit(self._store, self._zone, recheck_seconds=None).tenant(
            verdict.tenant_id, verdict.day, verdict.day
        )
        second = next(again, DayAudit(verdict.tenant_id, verdict.day, 0))
        # A key of another shape does not settle, and a one-day read may not reach it (it sorts elsewhere): kept.
        second.problems += [text for text in verdict.problems if text not in second.problems]
        return second

    def _count(self, *, orders: int = 0, days: int = 0) -> None:
        self.orders_checked += orders
        self.days_checked += days
        if self._progress is not None and time.monotonic() - self._reported >= PROGRESS_SECONDS:
            self._reported = time.monotonic()
            self._progress(self.days_checked, self.orders_checked)


def _day_check(tenant_id: str, day: date, counters: Mapping[date, object], odd: Mapping[date, list[str]]) -> DayCheck:
    check = DayCheck(tenant_id, day, counters.get(day, 0))
    for text in odd.get(day, ()):
        check.problem(text)
    return check


def order_id(order: Mapping[str, Any]) -> str:
    """The order's id as its key names it (`ORDER#{id}`), else its `id` when a string: "?" when neither is."""
    for text in (order.get("SK"), order.get("id")):
        if isinstance(text, str) and text:
            return _shown(text.removeprefix("ORDER#"), quoted=False)
    return "?"


def own_day(order: Mapping[str, Any], zone: tzinfo) -> date | None:
    """The order's business day, from `dateCreated` (ISO 8601 with an offset, whose day the number counts in);
    None when it is missing or cannot be read (the order is then malformed, whatever its creation key says)."""
    created = order.get("dateCreated")
    if isinstance(created, str) and len(created) <= 64:
        try:
            moment = datetime.fromisoformat(created)
            if moment.tzinfo is not None:
                return business_day(moment, zone)
        except (ValueError, OverflowError):
            pass
    return None


def _key_day(order: Mapping[str, Any], zone: tzinfo) -> date | None:
    """The business day of the order's creation key (GSI1_SK) when it has this version's shape, else None."""
    key = order.get("GSI1_SK")
    if not isinstance(key, str) or not _CREATION_KEY.fullmatch(key):
        return None
    try:
        return business_day(datetime.fromisoformat(key[:23] + "+00:00"), zone)
    except (ValueError, OverflowError):
        return None


def odd_key(key: str) -> str:
    """The problem a counter key of another shape is (named by the key: a key, never a value)."""
    return f"counter key {_shown(key)} is not ORDER_NUMBER#YYYYMMDD"


def _shown(text: str, *, quoted: bool = True, most: int = 100) -> str:
    """A key or id as a report shows it: cut to `most` characters (the count of the rest said), quoted."""
    shown = text if len(text) <= most else f"{text[:most]}... ({len(text)} characters)"
    return repr(shown) if quoted else shown


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
    counter = "unreadable" if verdict.counter is None else verdict.counter
    head = f"{verdict.day.isoformat()}  {verdict.tenant_id}  counter {counter}, {orders}"
    if verdict.ok:
        return f"{head}: ok"
    parts = []
    for kind in KINDS:
        found: list[Any] = getattr(verdict, kind)
        total = verdict.missing_count if kind == "missing" else len(found)
        if found:
            shown = ", ".join(str(value) for value in found[:most])
            parts.append(f"{kind} {shown}" + (f" (+{total - most} more)" if total > most else ""))
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
    violation (ids and numbers only); emit `NumberingViolations` every night, 0 included.

    Every tenant is audited whatever another holds: a tenant whose audit failed (the table did not answer) is
    logged, listed in `unreadTenants` and `failedTenants`, and counted in `NumberingViolations` (an alarm on it
    fires) and in `TenantsUnread`. Returns the day and its totals. Raises ConfigurationError for a bad
    environment and ValueError for an event whose `day` is not a date.
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
    summary = {
        "day": audited_day.isoformat(),
        "tenants": tenants,
        "orders": audit.orders_checked,
        "violations": violations,
        "failedTenants": list(dict.fromkeys(failed + unread)),
        "unreadTenants": unread,
    }
    logger.info("numbering audit done", extra=summary)
    return summary


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
