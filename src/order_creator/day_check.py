"""One (tenant, business day)'s verdict, from what the table holds (contract §8): the rules of the numbering
check, applied to items that are untrusted (a lived table's counter of "3", an order without a number, a key of
another version's shape are findings, never exceptions). `audit` reads the table and feeds this.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from order_creator.numbering import business_day, format_order_number, parse_day_key

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


def parse_order_number(text: str) -> tuple[date, int] | None:
    """The (day, sequence) of a well-formed order number, exactly as `format_order_number` writes it; else None."""
    parts = text.split("-")
    if len(parts) != 3 or parts[0] != "ORD" or len(parts[1]) != 8:
        return None
    key, digits = parts[1], parts[2]
    if not (key + digits).isascii() or not (key + digits).isdigit():
        return None
    try:
        day, sequence = parse_day_key(key), int(digits)
        return (day, sequence) if format_order_number(day, sequence) == text else None
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
