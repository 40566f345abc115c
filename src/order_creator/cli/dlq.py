"""`order-creator dlq inspect | redrive`: the dead-letter queue, listed without taking anything, or moved back."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from order_creator.cli.base import UsageError, _command, _err, _group, _plural, _shown
from order_creator.cli.inputs import _bounded_int


def register(commands: Any) -> None:
    """`dlq inspect` and `dlq redrive`."""
    dlq = _group(commands, "dlq", "the dead-letter queue")
    inspect = _command(dlq, "inspect", "list dead letters and why, deleting nothing")
    _dlq_url(inspect)
    inspect.add_argument("--max", metavar="N", type=_bounded_int(1, 10**6), help="at most N messages")
    inspect.add_argument("--json", action="store_true", help="one JSON object per line, body included")
    inspect.set_defaults(command=_dlq_inspect)
    redrive = _command(dlq, "redrive", "move dead letters back to the source queue")
    _dlq_url(redrive)
    redrive.add_argument(
        "--to-queue-url", metavar="URL", help="target queue (default: the queue whose redrive policy names the DLQ)"
    )
    redrive.add_argument(
        "--max", metavar="N", type=_bounded_int(1, 10**6), help="move at most N messages (default: all it holds now)"
    )
    redrive.set_defaults(command=_dlq_redrive)


def _dlq_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue-url", metavar="URL", help="the dead-letter queue (default: $DEAD_LETTER_QUEUE_URL)")


def _dlq_inspect(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.queues import inspect_dead_letters, message_summary, queue_depth
    from order_creator.tooling import render_table

    sqs, dlq_url = clients.sqs(), _required_dlq(args)
    held = queue_depth(sqs, dlq_url)
    letters = inspect_dead_letters(sqs, dlq_url, limit=args.max)
    if args.json:
        for letter in letters:
            document = {
                "messageId": letter.message_id,
                "sourceMessageId": letter.source_message_id,
                "errorType": letter.error_type,
                "errorMessage": letter.error_message,
                "receiveCount": letter.receive_count,
                "sentTimestamp": letter.sent_timestamp_ms,
                "body": letter.body,
            }
            print(json.dumps(document))
    else:
        rows, reasons = [], []
        for letter in letters:
            ids = message_summary(letter.body)  # ids only: the body holds the customer's e-mail and address
            cells = (letter.source_message_id, ids.get("orderId", ""), ids.get("tenantId", ""))
            rows.append(tuple(_shown(cell, 64) for cell in cells))
            reasons.append(letter.reason)
        print(render_table(("SOURCE MESSAGE", "ORDER ID", "TENANT"), rows, notes=reasons))
    events = sum(letter.is_event for letter in letters)
    if events:
        _err(f"{events} of these are EventBridge events, not dead letters: is --queue-url the dead-letter queue?")
    if args.max is not None and len(letters) == args.max and held > len(letters):
        _err(f"{_plural(len(letters), 'message')} shown of about {held} in the dead-letter queue; none deleted")
    else:
        _err(f"{_plural(len(letters), 'message')} in the dead-letter queue; none deleted")
    return 0


def _dlq_redrive(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.queues import redrive, source_queue_of

    sqs = clients.sqs()
    dlq_url = _required_dlq(args)
    target = args.to_queue_url or source_queue_of(sqs, dlq_url)
    _err(f"redriving {dlq_url} -> {target}" + (f" (at most {args.max})" if args.max else ""))

    def progress(count: int, letter: Any) -> None:
        _err(f"  {count}: message {letter.source_message_id} ({letter.reason})")

    moved = redrive(sqs, dlq_url, target, limit=args.max, progress=progress)
    _err(f"moved {_plural(moved, 'message')}")
    return 0


def _required_dlq(args: argparse.Namespace) -> str:
    url = args.queue_url or os.environ.get("DEAD_LETTER_QUEUE_URL")
    if not url:
        raise UsageError("no dead-letter queue: pass --queue-url URL or set DEAD_LETTER_QUEUE_URL")
    return str(url)
