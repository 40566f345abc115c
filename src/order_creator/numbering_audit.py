"""The numbering audit (contract §8): the one check of the project's central promise.

For every (tenant, business day) checked, the day's orders carry exactly the numbers 1..N, each once, where
N is the counter's `currentValue`, and each order's number is of its own business day. The same check serves
`order-creator orders audit`, the nightly `audit.lambda_handler`, the tests' invariant and the benchmark.

Memory stays flat however large a day: orders stream a page at a time, each day keeps one byte per number
up to its counter (`day_check`, which judges what each item holds), and only the violations are listed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Protocol

from order_creator.day_check import (
    DayAudit,
    DayCheck,
    _key_day,
    check_orders,
    counter_day,
    likely_day,
    odd_key,
    order_id,
    own_day,
)

__all__ = [  # check_orders and DayAudit are day_check's, offered here with the rest of the audit
    "AuditStore",
    "DayAudit",
    "NumberingAudit",
    "check_orders",
    "days",
    "neighbourhood",
]

# What the check reads of an order: its key, id, number and when it was created (the creation key as a fallback).
ORDER_ATTRIBUTES = ("SK", "id", "orderNumber", "dateCreated", "GSI1_SK")
PROGRESS_SECONDS = 0.5  # at least this long between two progress reports
RECHECK_SECONDS = 2.0  # how long a failed day is left to settle before it is read again
# Without a scan, a day's tenants are those with a counter within this many days of it, either side: a tenant
# whose counter of the day is gone is still found by its counters of the days around it.
NEIGHBOUR_DAYS = 7
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


class AuditStore(Protocol):
    """What the audit reads (implemented by `store.scans.TableScans`)."""

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


def days(first: date, last: date) -> Iterator[date]:
    """first..last, both included."""
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def neighbourhood(first: date, last: date) -> tuple[date, date]:
    """The days whose counters name the tenants of first..last: NEIGHBOUR_DAYS either side (within the calendar)."""
    before = min(NEIGHBOUR_DAYS, (first - date.min).days)
    after = min(NEIGHBOUR_DAYS, (date.max - last).days)
    return first - timedelta(days=before), last + timedelta(days=after)


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The first instant of `day` in `zone` and the first instant of the day after, both in UTC."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    if day == date.max:
        return start, datetime.max.replace(tzinfo=UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone).astimezone(UTC)
    return start, end
