"""`order-creator queue send`: put a messages file on a queue, as a producer would."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from order_creator.cli.base import _command, _err, _group, _plural
from order_creator.interrupts import Interrupted


def register(commands: Any) -> None:
    """`queue send`."""
    queue = _group(commands, "queue", "the source queue")
    send = _command(queue, "send", "send a messages file to a queue (as a producer would)")
    send.add_argument("--queue-url", metavar="URL", required=True, help="the queue to send to")
    send.add_argument(
        "--messages", metavar="FILE", type=Path, help="as local --messages (default: examples/messages.json)"
    )
    send.set_defaults(command=_queue_send)


def _queue_send(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.local.run import EXAMPLES, load_messages
    from order_creator.queues import enqueue

    path = args.messages or EXAMPLES / "messages.json"
    bodies = [m.body for m in load_messages(path)]
    ids: list[str] = []  # filled as SQS accepts them: an interruption can say how many went
    try:
        enqueue(clients.sqs(), args.queue_url, bodies, sent=ids)
    except Interrupted:
        _err(f"queue send: interrupted: sent {len(ids)} of {len(bodies)} messages from {path} (the first {len(ids)})")
        raise
    finally:
        for message_id in ids:
            print(message_id)
    _err(f"sent {_plural(len(ids), 'message')} from {path} to {args.queue_url}")
    return 0
