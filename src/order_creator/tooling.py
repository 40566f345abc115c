"""What the operator's tools share (`order-creator`, `order-creator local`, the table migration): the one-line
failure they report, the development table they create, and how they print a table of rows, an amount and JSON."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from order_creator.store.keys import table_definition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class OperationError(Exception):
    """A user-facing failure with a one-line reason (a missing queue, an ambiguous source queue...)."""


def create_table(dynamodb: DynamoDBClient, table_name: str, *, stream: bool = False) -> None:
    """Create the orders table with the contract's schema and wait until it is active; with `stream`, its
    DynamoDB stream (NEW_IMAGE, what the order-events publisher reads) is on."""
    definition = table_definition(table_name)
    if stream:
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    dynamodb.create_table(**definition)
    dynamodb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


TABLE_WIDTH = 120  # what a row may take; a note beneath it is wrapped to fit


def render_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, notes: Sequence[str] = (), width: int = TABLE_WIDTH
) -> str:
    """A plain-text table with padded columns.

    `notes[i]`, when given and not empty, is printed beneath row i (a reason, say), indented past the
    first column and wrapped at word boundaries to `width`, so that no line of it runs wider.
    """
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    indent = " " * (widths[0] + 2)
    note_width = max(width, len(indent) + 20)
    for index, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        note = notes[index] if index < len(notes) else ""
        if note:
            lines.extend(textwrap.wrap(note, note_width, initial_indent=indent, subsequent_indent=indent))
    return "\n".join(lines)


def money(item: dict[str, Any], name: str = "total") -> str:
    """An order amount with its currency, e.g. `0.30 ZAR`."""
    amount = item.get(name)
    return f"{amount} {item.get('currency', '')}".strip() if amount is not None else ""


def exact_json(value: Any) -> str:
    """JSON with every Decimal written as the exact number it is, as `models.load_json` reads it (never via float)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {exact_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(exact_json(v) for v in value) + "]"
    return json.dumps(value)
