"""The command line's argument types and checks: each refusal one line naming the argument and what it takes."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from order_creator.cli.base import UsageError

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


_TENANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, *, tenant: str | None = None, listing: str | None = None) -> dict[str, Any]:
    """The position a cursor holds; a UsageError for text that is no cursor, or one of another tenant or listing."""
    not_ours = UsageError(f"--after {cursor!r} is not a cursor this command printed")
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise not_ours from None
    if not isinstance(position, dict) or not all(isinstance(v, str) for v in position.values()):
        raise not_ours
    kind = next((name for name, keys in _CURSOR_KEYS.items() if set(position) == keys), None)
    if kind is None:
        raise not_ours
    if tenant is not None and position["PK"] != f"TENANT#{tenant}":
        raise UsageError(f"--after: that cursor belongs to another tenant's listing, not {tenant}'s")
    if listing is not None and kind != listing:
        raise UsageError(f"--after: that cursor comes from a listing {kind}, not {listing}")
    return position


# What a listing's position holds, by the options that chose its index (store.listings.OrderListings.list_orders).
_CURSOR_KEYS = {
    "without --from/--to/--email": {"PK", "SK"},
    "with --from/--to": {"PK", "SK", "GSI1_PK", "GSI1_SK"},
    "with --email": {"PK", "SK", "GSI3_PK", "GSI1_SK"},
}


def _listing_kind(args: argparse.Namespace) -> str:
    if args.email is not None:
        return "with --email"
    if args.created_from is not None or args.created_to is not None:
        return "with --from/--to"
    return "without --from/--to/--email"


def _utc_start(moment: date | datetime) -> datetime:
    """The first instant of a UTC day, or the instant itself: what an inclusive bound starts at."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _check_range(start: date | datetime | None, end: date | datetime | None) -> None:
    """--from and --to of a listing or a replay: a UsageError when the range holds nothing."""
    if start is not None and end is not None and _utc_start(start) > _utc_start(end):
        raise UsageError(f"--from {start} is after --to {end}: the range holds nothing")


def _moment(text: str) -> date | datetime:
    """A UTC calendar day (YYYY-MM-DD) or an ISO 8601 time with an offset."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither YYYY-MM-DD nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset (e.g. Z or +02:00)")
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is outside the calendar in UTC (0001-01-01 to 9999-12-31): give a time within it"
        ) from None
    return moment


def _order_id(text: str) -> str:
    """An order id as stored: a UUID in canonical lower-case form, whatever case it was typed in."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an order id (a UUID)") from None


def _tenant_id(text: str) -> str:
    """A tenant id as the contract defines it: 1-64 letters, digits, '_' and '-'."""
    if not _TENANT_ID.fullmatch(text):
        shown = text if len(text) <= 70 else f"{text[:64]}... ({len(text)} characters)"
        raise argparse.ArgumentTypeError(f"{shown!r} is not a tenant id (1-64 of A-Z a-z 0-9 _ -)")
    return text


def _table_name(text: str) -> str:
    """A DynamoDB table name: 3-255 letters, digits, '_', '-' and '.'."""
    if not _TABLE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a table name (3-255 of A-Z a-z 0-9 _ - .)")
    return text


def _resource_name(text: str) -> str:
    """A name for a table and a queue both (the queue's DLQ adds `-dlq`): 3-76 letters, digits, '_' and '-'."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{3,76}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a table and queue name (3-76 of A-Z a-z 0-9 _ -)")
    return text


def _endpoint_problem(url: str) -> str | None:
    """Why `url` cannot be an endpoint, or None: botocore needs a scheme and a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        example = "http://" + url.rsplit("://", maxsplit=1)[-1]
        return f"is not an endpoint URL: it needs http:// or https:// and a host (e.g. {example})"
    return None


def _endpoint(text: str) -> str:
    problem = _endpoint_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r} {problem}")
    return text


def _day(text: str) -> date:
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)")


def _zone(name: str, source: str = "--timezone") -> Any:
    """The IANA zone `name`; a UsageError naming where it came from (the option, or the variable it defaults to)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"{source} {name!r} is not an IANA time zone (e.g. UTC, Africa/Johannesburg)") from None


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not within {low}-{high}")
        return value

    return parse


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        return value

    return parse
