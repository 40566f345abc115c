"""The command line's own parsing and formatting, without any server."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from order_creator import cli
from order_creator.local.run import LocalMessage, ResultRow, load_messages
from order_creator.operations import exact_json, message_summary, render_table
from order_creator.worker import WorkerContext


def test_a_cursor_round_trips_and_garbage_is_refused():
    # Given the position of an order in a date query
    position = {"PK": "TENANT#t", "SK": "ORDER#1", "GSI1_PK": "TENANT#t", "GSI1_SK": "2025-12-30T08:15:00.000Z#1"}

    # When it is printed as a cursor and read back
    cursor = cli._encode_cursor(position)

    # Then it is the same position, and text that is no cursor is a usage error
    assert cli._decode_cursor(cursor) == position
    for garbage in ("garbage", cli._encode_cursor({"PK": 1}), "W10"):  # not base64 JSON, not strings, not a map
        with pytest.raises(cli.UsageError):
            cli._decode_cursor(garbage)


def test_dates_are_utc_days_and_times_need_an_offset():
    assert cli._moment("2025-12-30") == date(2025, 12, 30)
    assert cli._moment("2025-12-30T10:00:00+02:00") == datetime(2025, 12, 30, 8, tzinfo=UTC)
    assert cli._moment("2025-12-30T10:00:00Z").utcoffset() == timedelta(0)
    with pytest.raises(argparse.ArgumentTypeError):
        cli._moment("2025-12-30T10:00:00")
    with pytest.raises(argparse.ArgumentTypeError):
        cli._moment("yesterday")


def test_exact_json_writes_decimals_as_the_numbers_they_are():
    # Given amounts that float would not keep exactly
    document = {"subtotal": Decimal("0.30"), "items": [Decimal("0.10"), Decimal("0.20")], "n": 3, "ok": True}

    # When written and read back with Decimal numbers
    text = exact_json(document)

    # Then nothing changed, not even the trailing zero
    assert json.loads(text, parse_float=Decimal) == document
    assert '"subtotal": 0.30' in text
    with pytest.raises(ValueError):
        exact_json(Decimal("NaN"))


def test_messages_file_takes_messages_and_wrapped_bodies_with_expectations(tmp_path: Path):
    # Given a file with a plain message, a raw (non-JSON) body, and a wrapped message with an expectation
    path = tmp_path / "messages.json"
    path.write_text(
        '[{"orderId": "a", "amount": 0.10}, {"body": "not json", "expect": "dead-lettered"},'
        ' {"body": {"orderId": "b"}, "expect": "created"}]'
    )

    # When it is loaded
    messages = load_messages(path)

    # Then each body is sent as written (numbers exact), with its expectation
    assert messages == [
        LocalMessage('{"orderId": "a", "amount": 0.10}'),
        LocalMessage("not json", "dead-lettered"),
        LocalMessage('{"orderId": "b"}', "created"),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [("{}", "non-empty JSON array"), ("[1]", "entry 0 is not a JSON object"), ('[{"expect": "x"}]', "expect must")],
)
def test_a_malformed_messages_file_is_refused_with_the_reason(tmp_path: Path, text: str, says: str):
    path = tmp_path / "messages.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=says):
        load_messages(path)


def test_a_row_is_as_expected_only_in_a_final_place_and_the_one_expected():
    def row(outcome: str, expect: str | None, events: int | None = None) -> ResultRow:
        produced = (1 if outcome == "created" else 0) if events is None else events
        return ResultRow("m", "o", "t", "", "", outcome, "", expect, produced)

    assert row("created", None).as_expected
    assert row("duplicate", "duplicate").as_expected
    assert not row("created", "dead-lettered").as_expected
    assert not row("unaccounted", None).as_expected
    # and with its OrderCreated events: one for a created order, none for a duplicate or a dead letter
    assert not row("created", "created", events=0).as_expected
    assert not row("created", "created", events=2).as_expected
    assert not row("duplicate", "duplicate", events=1).as_expected


def test_message_summary_keeps_ids_and_never_personal_fields():
    body = json.dumps({"orderId": "o", "tenantId": "t", "cartId": "c", "customerEmail": "jane@example.com"})
    assert message_summary(body) == {"orderId": "o", "tenantId": "t", "cartId": "c"}
    assert message_summary("not json") == {}
    assert message_summary("[1]") == {}


def test_render_table_pads_every_column_to_its_widest_cell():
    table = render_table(("A", "BB"), [("xxx", "y"), ("z", "")])
    assert table.splitlines() == ["A    BB", "---  --", "xxx  y", "z"]


def test_the_worker_context_counts_down_to_its_deadline():
    # Given a context whose batch has two seconds left
    context = WorkerContext(time.monotonic() + 2)

    # Then the handler sees at most two seconds, and never less than zero once it has passed
    assert 1500 < context.get_remaining_time_in_millis() <= 2000
    assert WorkerContext(time.monotonic() - 1).get_remaining_time_in_millis() == 0
    assert context.aws_request_id and context.function_name == "order-creator-worker"


def test_dates_in_other_offsets_are_kept_aware():
    moment = cli._moment("2025-12-30T23:30:00-05:00")
    assert isinstance(moment, datetime)
    assert moment.utcoffset() == timezone(timedelta(hours=-5)).utcoffset(None)
