"""Order-number format, business day and sort-key timestamps."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from order_creator.numbering import business_day, day_key, format_order_number, parse_day_key, utc_millis


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [(1, "ORD-20251230-00001"), (99999, "ORD-20251230-99999"), (100000, "ORD-20251230-100000")],
)
def test_order_numbers_have_five_digits_and_grow_past_them(sequence, expected):
    assert format_order_number(date(2025, 12, 30), sequence) == expected


def test_sequences_start_at_one():
    with pytest.raises(ValueError):
        format_order_number(date(2025, 12, 30), 0)


def test_the_business_day_is_taken_in_the_zone():
    created = datetime.fromisoformat("2025-12-30T23:30:00+00:00")

    assert business_day(created, ZoneInfo("UTC")) == date(2025, 12, 30)
    assert business_day(created, ZoneInfo("Africa/Johannesburg")) == date(2025, 12, 31)
    assert business_day(created, ZoneInfo("America/New_York")) == date(2025, 12, 30)


def test_sort_key_timestamps_are_fixed_width_utc_milliseconds():
    assert utc_millis(datetime.fromisoformat("2025-12-30T10:15:00+02:00")) == "2025-12-30T08:15:00.000Z"
    assert utc_millis(datetime.fromisoformat("2025-12-30T10:15:00.123456+02:00")) == "2025-12-30T08:15:00.123Z"
    assert day_key(date(2025, 1, 2)) == "20250102"


@pytest.mark.parametrize("day", [date(1, 1, 1), date(999, 6, 15), date(2025, 12, 30), date(9999, 12, 31)])
def test_day_keys_are_always_eight_digits_and_read_back(day):
    assert len(day_key(day)) == 8
    assert parse_day_key(day_key(day)) == day
    assert format_order_number(day, 1) == f"ORD-{day_key(day)}-00001"


def test_sort_keys_sort_as_the_instants_do():
    instants = ["2025-12-30T10:15:00+02:00", "2025-12-30T08:15:00.5Z", "2025-12-30T09:00:00+00:00"]
    moments = [datetime.fromisoformat(i) for i in instants]

    assert sorted(moments) == sorted(moments, key=utc_millis)
