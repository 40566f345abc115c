"""Order-number format, business day and the fixed-width UTC timestamp used in sort keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo


def business_day(created: datetime, zone: tzinfo) -> date:
    """The calendar day of `created` (an aware datetime) in `zone`: the day the order number counts in."""
    return created.astimezone(zone).date()


def format_order_number(day: date, sequence: int) -> str:
    """`ORD-YYYYMMDD-NNNNN`: five digits, wider once the day passes 99999 orders."""
    if sequence < 1:
        raise ValueError(f"order sequence starts at 1, got {sequence}")
    return f"ORD-{day_key(day)}-{sequence:05d}"


def day_key(day: date) -> str:
    """`YYYYMMDD`, always eight digits (strftime's %Y does not pad years before 1000)."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def parse_day_key(key: str) -> date:
    """The date a `day_key` wrote."""
    return date(int(key[:4]), int(key[4:6]), int(key[6:8]))


def utc_millis(moment: datetime) -> str:
    """`2025-12-30T08:15:00.000Z`: one fixed width, so the strings sort as the instants do."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
