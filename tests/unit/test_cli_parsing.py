"""The command line's own parsing and formatting, without any server."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from order_creator import cli
from order_creator.local.run import LocalMessage, ResultRow, load_messages
from order_creator.queues import message_summary
from order_creator.settings import Settings
from order_creator.store.keys import table_definition
from order_creator.tooling import exact_json, render_table
from order_creator.worker import Tally, WorkerContext, plural


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


def test_a_cursor_is_refused_for_another_tenant_or_another_kind_of_listing():
    # Given cursors of tenant t's partition listing, of its date listing and of its e-mail listing
    partition = cli._encode_cursor({"PK": "TENANT#t", "SK": "ORDER#1"})
    by_date = cli._encode_cursor({"PK": "TENANT#t", "SK": "ORDER#1", "GSI1_PK": "TENANT#t", "GSI1_SK": "2025#1"})
    by_email = cli._encode_cursor(
        {"PK": "TENANT#t", "SK": "ORDER#1", "GSI3_PK": "TENANT#t#CUSTOMER#ab", "GSI1_SK": "2"}
    )
    plain, dated, email = "without --from/--to/--email", "with --from/--to", "with --email"

    # Then each continues its own listing only
    assert cli._decode_cursor(partition, tenant="t", listing=plain)["SK"] == "ORDER#1"
    assert cli._decode_cursor(by_date, tenant="t", listing=dated)["GSI1_SK"] == "2025#1"
    assert cli._decode_cursor(by_email, tenant="t", listing=email)["GSI1_SK"] == "2"
    for cursor, tenant, listing, says in [
        (partition, "u", plain, "another tenant"),
        (partition, "t", dated, f"{plain}, not {dated}"),
        (by_date, "t", plain, f"{dated}, not {plain}"),
        (by_email, "t", dated, f"{email}, not {dated}"),
        (cli._encode_cursor({"PK": "TENANT#t"}), "t", plain, "not a cursor"),
    ]:
        with pytest.raises(cli.UsageError, match=says):
            cli._decode_cursor(cursor, tenant=tenant, listing=listing)


def test_counts_read_as_english():
    assert [plural(1, "batch"), plural(2, "batch"), plural(1, "message"), plural(0, "message")] == [
        "1 batch",
        "2 batches",
        "1 message",
        "0 messages",
    ]
    assert Tally(received=5, created=2, dead_lettered=3).describe() == (
        "5 messages: 2 created, 3 dead-lettered, 0 left to SQS"
    )


def _options() -> list[tuple[str, argparse.Action, argparse.ArgumentParser]]:
    """Every option of every (sub)command, with the parser it belongs to."""
    found = []
    pending = [("order-creator", cli.build_parser())]
    while pending:
        name, parser = pending.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend((f"{name} {sub}", child) for sub, child in action.choices.items())
            elif action.option_strings and action.dest != "help":
                found.append((name, action, parser))
    return found


def test_every_default_is_shown_in_the_help():
    # Given every option that has a default
    defaulted = [
        (name, action, parser)
        for name, action, parser in _options()
        if action.default not in (None, False, argparse.SUPPRESS)  # --version: an action, not a value
    ]
    assert {a.dest for _, a, _ in defaulted} >= {"batch_size", "wait_seconds", "page_size", "timeout", "port"}

    # Then its command's --help says that default
    for name, action, parser in defaulted:
        text = " ".join(parser.format_help().split())
        flag = action.option_strings[-1]
        assert re.search(rf"{re.escape(flag)} \S+ .*?\(default: {re.escape(str(action.default))}\)", text), (name, flag)


def test_help_texts_say_what_each_command_does():
    helps = {f"{name} {action.option_strings[-1]}": action.help or "" for name, action, _ in _options()}
    assert not re.search(r"(default|else):? AWS", helps["order-creator local --endpoint-url"], re.IGNORECASE)
    assert "never runs against AWS" in helps["order-creator local --endpoint-url"]
    assert "per line" not in helps["order-creator orders get --json"]
    assert "per order and line" in helps["order-creator orders list --json"]


def test_a_note_beneath_a_row_is_wrapped_at_words_within_the_width():
    # Given a row whose reason is far longer than the width
    reason = "InvalidMessage: " + " ".join(f"field{i}: must be something" for i in range(12))
    table = render_table(("ID", "OUTCOME"), [("abc", "dead-lettered")], notes=[reason], width=60)

    # Then no line is wider, and the reason is all there, every word whole
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert " ".join(line.strip() for line in lines[3:]) == reason
    assert all(line.startswith("     ") for line in lines[3:])  # beneath the second column


# the README and docs/contract.md -----------------------------------------------------------------------

REPO = Path(__file__).parents[2]


def test_every_link_of_the_readme_to_the_repository_resolves():
    readme = (REPO / "README.md").read_text()
    targets = [t for t in re.findall(r"\]\(([^)#\s]+)", readme) if "://" not in t]
    assert targets
    missing = [t for t in targets if not (REPO / t).resolve().is_relative_to(REPO) or not (REPO / t).exists()]
    assert missing == []


def test_the_docs_state_the_lambda_memory_the_template_sets():
    template = (REPO / "template.yaml").read_text()
    default = re.search(r"FunctionMemorySize:\n(?:\s+\w+: .*\n)*?\s+Default: (\d+)", template).group(1)  # type: ignore[union-attr]
    docs = "\n".join(path.read_text() for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    assert re.findall(r"\*\*Lambda memory: (\d+) MB\*\*", docs) == [default]
    assert re.search(rf"\| `FunctionMemorySize`[^|]*\| `{default}`", docs)  # its row of the parameters


def test_docs_contract_names_every_variable_and_index_the_code_uses():
    contract = (REPO / "docs" / "contract.md").read_text()
    variables = {field.alias for field in Settings.model_fields.values() if field.alias}
    indexes = {index["IndexName"] for index in table_definition("t")["GlobalSecondaryIndexes"]}
    assert [name for name in sorted(variables | indexes) if f"`{name}`" not in contract] == []
    assert "order_creator.handler.lambda_handler" in contract


def test_an_error_a_library_makes_of_the_interrupt_is_still_one_line(monkeypatch, capsys):
    # Given a command that is interrupted inside a library that turns the interrupt into an error of its own
    # (Pydantic building a schema raises SchemaError)
    def command(_args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the signal lands here
        except KeyboardInterrupt as interrupt:
            raise ValueError("schema could not be built") from interrupt
        return 0

    monkeypatch.setattr(cli.pipeline, "_cart_api", command)

    # When the command runs
    code = cli.main(["cart-api", "--port", "0"])

    # Then it ends as an interrupt does: exit code 130 and one line, no traceback
    err = capsys.readouterr().err
    assert code == 130
    assert err == "order-creator: interrupted by SIGINT\n"


def test_an_error_with_no_signal_behind_it_is_not_taken_for_one(monkeypatch):
    def command(_args):
        raise ValueError("a bug")

    monkeypatch.setattr(cli.pipeline, "_cart_api", command)
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["cart-api", "--port", "0"])
