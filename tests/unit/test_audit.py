"""The numbering check itself (contract §8), on orders given in memory: each kind of violation, named."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from order_creator import numbering_audit as audit_module
from order_creator.day_check import (
    LISTED,
    DayCheck,
    check_orders,
    counter_day,
    counter_number,
    likely_day,
    parse_order_number,
)
from order_creator.numbering_audit import NumberingAudit, day_bounds, neighbourhood

DAY = date(2025, 12, 30)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("ORD-20251230-00001", (DAY, 1)),
        ("ORD-20251230-100000", (DAY, 100000)),
        ("ORD-09991231-00007", (date(999, 12, 31), 7)),
        ("ORD-20251230-0001", None),  # too narrow
        ("ORD-20251230-000001", None),  # padded beyond five digits
        ("ORD-20251230-00000", None),  # numbers start at 1
        ("ORD-20251330-00001", None),  # no such day
        ("ORD-2025123-00001", None),
        ("ord-20251230-00001", None),
        ("ORD-20251230-00001-2", None),
        ("ORD-20251230-0000١", None),  # a non-ASCII digit
        ("", None),
    ],
)
def test_only_a_number_format_order_number_writes_is_well_formed(text, parsed):
    assert parse_order_number(text) == parsed


def test_a_complete_day_holds():
    # Given orders 1..3 of a day whose counter is 3, in any order
    check = DayCheck("t", DAY, 3)
    for n in (2, 3, 1):
        check.add(f"o{n}", f"ORD-20251230-{n:05d}", DAY)

    # Then the day holds
    verdict = check.finish()
    assert (verdict.ok, verdict.orders, verdict.violations) == (True, 3, 0)


def test_every_kind_of_violation_is_named():
    # Given a day whose counter is 5: 1 twice, 3 never, 7 beyond, one order numbered for another day, one without
    check = DayCheck("t", DAY, 5)
    check.add("a", "ORD-20251230-00001", DAY)
    check.add("b", "ORD-20251230-00001", DAY)
    check.add("c", "ORD-20251230-00002", DAY)
    check.add("d", "ORD-20251231-00004", DAY)
    check.add("e", None, DAY)
    check.add("f", "ORD-20251230-00005", DAY)
    check.add("g", "ORD-20251230-00007", DAY)
    check.add("h", "ORD-20251230-00007", DAY)

    # When the check finishes
    verdict = check.finish()

    # Then each kind lists its numbers or order ids
    assert verdict.missing == [3, 4]
    assert verdict.duplicated == [1, 7]
    assert verdict.beyond == [7]
    assert verdict.misdated == ["d"]
    assert verdict.malformed == ["e"]
    assert verdict.orders == 8
    assert not verdict.ok
    assert verdict.document()["misdated"] == ["d", "e"]


def test_days_before_the_year_1000_are_checked_like_any_other():
    # Given an order of 0999-12-31 (strftime's %Y writes that year as 999: the drift this check removed)
    orders = [{"id": "o1", "orderNumber": "ORD-09991231-00001", "dateCreated": "0999-12-31T10:00:00+00:00"}]

    # When the tenant is checked
    (verdict,) = check_orders("t", orders, {date(999, 12, 31): 1}, ZoneInfo("UTC"))

    # Then the day holds
    assert verdict.ok


def test_the_business_day_follows_the_zone_and_a_counter_without_orders_fails():
    # Given an order at 23:30 UTC, numbered on the next day in Johannesburg, and a counter of a day without orders
    orders = [{"id": "o1", "orderNumber": "ORD-20251231-00001", "dateCreated": "2025-12-30T23:30:00+00:00"}]
    counters = {date(2025, 12, 31): 1, date(2026, 1, 2): 2}

    # When checked in Johannesburg
    verdicts = check_orders("t", orders, counters, ZoneInfo("Africa/Johannesburg"))

    # Then the 31st holds and the 2nd misses both of its numbers
    assert [(v.day, v.ok, v.missing) for v in verdicts] == [
        (date(2025, 12, 31), True, []),
        (date(2026, 1, 2), False, [1, 2]),
    ]


def test_a_day_spans_its_own_hours_in_the_zone_even_across_a_clock_change():
    # Given the day London puts its clocks back (25 hours) and a day in Johannesburg
    start, end = day_bounds(date(2025, 10, 26), ZoneInfo("Europe/London"))
    sa_start, sa_end = day_bounds(DAY, ZoneInfo("Africa/Johannesburg"))

    # Then the bounds are the local midnights, in UTC
    assert (start, end) == (datetime(2025, 10, 25, 23, tzinfo=UTC), datetime(2025, 10, 27, 0, tzinfo=UTC))
    assert (sa_start, sa_end) == (datetime(2025, 12, 29, 22, tzinfo=UTC), datetime(2025, 12, 30, 22, tzinfo=UTC))


def test_the_counters_that_name_the_tenants_are_a_week_either_side_within_the_calendar():
    assert neighbourhood(DAY, date(2025, 12, 31)) == (date(2025, 12, 23), date(2026, 1, 7))
    assert neighbourhood(date(1, 1, 3), date(9999, 12, 30)) == (date.min, date.max)


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        (Decimal("3"), 3),
        (Decimal("3.0"), 3),  # DynamoDB compares numbers by value: the handler moves it as 3
        (0, 0),
        (Decimal("1E+11"), 10**11),
        (Decimal("-5"), None),
        (Decimal("-1"), None),
        (Decimal("1.5"), None),
        ("3", None),
        (None, None),
        ({"n": 1}, None),
        ([1], None),
        ({1, 2}, None),
        (True, None),
        (Decimal("1E+38"), None),  # more than a table number holds as a whole number
        (Decimal("NaN"), None),
    ],
)
def test_a_counter_is_a_whole_number_from_zero_or_unreadable(stored, read):
    assert counter_number(stored) == read


def test_an_unreadable_counter_fails_its_day_and_its_orders_are_still_checked_for_duplicates():
    check = DayCheck("t", DAY, "3")
    for order_id in ("a", "b"):
        check.add(order_id, "ORD-20251230-00001", DAY)
    verdict = check.finish()
    assert (verdict.ok, verdict.counter, verdict.duplicated, verdict.missing, verdict.beyond) == (
        False,
        None,
        [1],
        [],
        [],
    )
    assert verdict.document()["problems"] == ["counter: currentValue is not a non-negative integer"]


def test_a_counter_of_ten_to_the_eleven_costs_the_memory_of_its_orders():
    # Given a counter of 10^11 (a byte per number would be 100 GB) and orders 1, 2^24 + 5 and 2^24 + 5 again
    tracemalloc.start()
    check = DayCheck("t", DAY, Decimal("1E+11"))
    for order_id, number in (("a", 1), ("b", (1 << 24) + 5), ("c", (1 << 24) + 5)):
        check.add(order_id, f"ORD-20251230-{number:05d}", DAY)
    verdict = check.finish()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Then the missing numbers are counted, the first listed, and memory stayed near the dense 16 MB
    assert verdict.missing_count == 10**11 - 2
    assert verdict.missing[:2] == [2, 3] and len(verdict.missing) == LISTED
    assert verdict.duplicated == [(1 << 24) + 5]
    assert peak < 40 * 2**20


def test_counter_keys_of_another_shape_are_told_apart_and_their_day_guessed():
    assert counter_day("ORDER_NUMBER#20251230") == DAY
    assert counter_day("ORDER_NUMBER#2025-12-30") is None
    assert counter_day("ORDER_NUMBER#20251330") is None
    assert likely_day("ORDER_NUMBER#2025-12-30") == DAY
    assert likely_day("ORDER_NUMBER#x") is None


def test_progress_is_told_the_days_and_orders_checked(monkeypatch):
    # Given a store of one tenant with two days, and progress reported at every step
    class Store:
        def counters(self, tenant_id, first=None, last=None):
            return iter([("ORDER_NUMBER#20251230", Decimal(1)), ("ORDER_NUMBER#20251231", Decimal(0))])

        def orders_created(self, tenant_id, start, end, attributes, page_size=1000):
            created = "2025-12-30T10:00:00.000Z#a"
            return iter(
                [
                    {
                        "SK": "ORDER#a",
                        "orderNumber": "ORD-20251230-00001",
                        "dateCreated": created[:24],
                        "GSI1_SK": created,
                    }
                ]
            )

    monkeypatch.setattr(audit_module, "PROGRESS_SECONDS", 0)
    told: list[tuple[int, int]] = []
    audit = NumberingAudit(Store(), ZoneInfo("UTC"), recheck_seconds=None, progress=lambda d, o: told.append((d, o)))  # type: ignore[arg-type]

    verdicts = list(audit.tenant("t"))

    assert [v.ok for v in verdicts] == [True, True]
    assert told[-1] == (2, 1)
