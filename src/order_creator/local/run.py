"""`order-creator local`: the Lambda's real job on one machine, with no AWS account.

It starts the embedded emulator (unless an endpoint is given) and a local Cart API serving the carts
file, sets the handler's environment, creates the table and a queue with its dead-letter queue and
redrive policy, enqueues the messages file, runs the SQS worker (the real handler) until the queue is
empty, and prints what became of every message, read back from the table and the dead-letter queue.
The table's stream feeds the real order-events publisher (a stream worker, `local.stream`), and a rule on
a local event bus delivers each OrderCreated event to a queue: every row shows the events its order got.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from order_creator.local.cart_api import CartApiServer
from order_creator.models import load_json
from order_creator.queues import (
    DeadLetterMessage,
    create_bus_with_queue_target,
    create_queue_with_dlq,
    delivered_events,
    enqueue,
    inspect_dead_letters,
    message_summary,
)
from order_creator.tooling import OperationError, create_table, exact_json, money, render_table

if TYPE_CHECKING:
    from order_creator.worker import BatchResult

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
MAX_RECEIVE_COUNT = 3
OUTCOMES = ("created", "duplicate", "dead-lettered")
_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
)
_LOCAL_DEFAULTS = {
    # Dummy credentials and a region: the emulator accepts any, boto3 insists on some.
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    # A short Cart API budget, so a short visibility timeout fits it and retries come back quickly.
    "CART_API_TIMEOUT_SECONDS": "1",
    "CART_API_MAX_RETRIES": "1",
    # stdout is for the results table: no EMF metric lines; the handler's logs go to stderr, errors only
    # unless LOG_LEVEL says otherwise (the table shows every failure's reason anyway).
    "POWERTOOLS_METRICS_DISABLED": "true",
    "LOG_LEVEL": "ERROR",
}


@dataclass(frozen=True)
class LocalMessage:
    """One entry of the messages file: the body as sent, and the outcome it should reach, if stated."""

    body: str
    expect: str | None = None


@dataclass(frozen=True)
class ResultRow:
    """What became of one message."""

    message_id: str
    order_id: str
    tenant_id: str
    order_number: str
    total: str
    outcome: str  # one of OUTCOMES, or "unaccounted"
    detail: str
    expect: str | None
    events: int = 0  # OrderCreated events this message's outcome produced (at the bus's queue target)

    @property
    def ended_as_expected(self) -> bool:
        """Ended in a final place, and the one the messages file expected."""
        return self.outcome in OUTCOMES and (self.expect is None or self.expect == self.outcome)

    @property
    def events_as_expected(self) -> bool:
        """One event for a created order; none for a duplicate or a dead letter."""
        return self.events == (1 if self.outcome == "created" else 0)

    @property
    def as_expected(self) -> bool:
        """Ended where expected, with its events."""
        return self.ended_as_expected and self.events_as_expected


def load_messages(path: str | Path) -> list[LocalMessage]:
    """The messages file: a JSON array whose entries are either a message object, or
    `{"body": <message object or raw string>, "expect": "created" | "duplicate" | "dead-lettered"}`.

    Raises OSError when unreadable and ValueError when malformed.
    """
    document = read_json(path)
    if not isinstance(document, list) or not document:
        raise ValueError(f"{path}: expected a non-empty JSON array of messages")
    messages = []
    for index, entry in enumerate(document):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: entry {index} is not a JSON object")
        expect = entry.get("expect")
        if expect is not None and expect not in OUTCOMES:
            raise ValueError(f"{path}: entry {index}: expect must be one of {', '.join(OUTCOMES)}")
        body = entry.get("body", entry)
        messages.append(LocalMessage(body if isinstance(body, str) else exact_json(body), expect))
    return messages


def load_carts(path: str | Path) -> list[dict[str, Any]]:
    """The carts file: a JSON array of cart documents. Raises OSError or ValueError, naming the file."""
    document = read_json(path)
    if not isinstance(document, list) or not all(
        isinstance(c, dict) and isinstance(c.get("tenantId"), str) and isinstance(c.get("cartId"), str)
        for c in document
    ):
        raise ValueError(f"{path}: expected a JSON array of carts, each with a tenantId and a cartId")
    return document


def read_json(path: str | Path) -> Any:
    """A JSON file with exact numbers; OSError when unreadable, ValueError naming the file when malformed."""
    try:
        return load_json(Path(path).read_bytes())
    except (ValueError, UnicodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None


def run_local(
    *,
    messages_path: Path,
    carts_path: Path,
    endpoint_url: str | None,
    timeout_seconds: float,
    name: str | None = None,
    out: IO[str] = sys.stdout,
    err: IO[str] = sys.stderr,
) -> int:
    """Run the example end to end; print the results table on `out`, progress on `err`.

    The table and the queue are called `name` (the dead-letter queue `name-dlq`), by default
    `orders-local-<random>`. Returns 0 when every message ended created, duplicate or dead-lettered, as
    its entry expected, 1 otherwise; raises `Interrupted` (after printing what it knows) when a signal
    stopped it.
    """
    messages = load_messages(messages_path)
    cart_api = CartApiServer(load_carts(carts_path))
    with ExitStack() as stack:
        endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        endpoint = endpoint_url
        if endpoint is None:
            endpoint = _start_emulator(stack)
            _say(err, f"embedded DynamoDB/SQS emulator (moto) at {endpoint}")
        else:
            _say(err, f"using the DynamoDB/SQS endpoint {endpoint}")
        stack.enter_context(cart_api)
        _say(err, f"local Cart API at {cart_api.url}, serving {carts_path}")
        name = name or f"orders-local-{uuid.uuid4().hex[:8]}"
        stack.enter_context(_environment(endpoint, table_name=name, cart_api_url=cart_api.url))
        kept = endpoint_url is not None  # the user's own emulator: the table and queues outlive the run
        return _run(messages, messages_path, name, timeout_seconds=timeout_seconds, kept=kept, out=out, err=err)


def _run(
    messages: list[LocalMessage],
    messages_path: Path,
    name: str,
    *,
    timeout_seconds: float,
    kept: bool,
    out: IO[str],
    err: IO[str],
) -> int:
    """Set up, enqueue, consume, publish the events, and print what became of every message (see `run_local`)."""
    from order_creator import clients
    from order_creator.interrupts import Interrupted
    from order_creator.settings import Settings
    from order_creator.worker import polling_client

    settings = Settings.from_env()
    _logs_to_stderr()
    dynamodb, sqs = clients.dynamodb(), polling_client(wait_seconds=1)
    queue_url, dlq_url, target_url = _set_up(dynamodb, sqs, settings, name, err)
    message_ids = enqueue(sqs, queue_url, [m.body for m in messages])
    _say(err, f"enqueued {len(message_ids)} messages from {messages_path}")
    ended = _consume(sqs, queue_url, timeout_seconds, err)
    stream = _publish_events(dynamodb, settings.table_name, err)
    dead = {letter.source_message_id: letter for letter in inspect_dead_letters(sqs, dlq_url)}
    rows = _rows(message_ids, messages, dead, dynamodb, settings.table_name)
    ok = _report(rows, delivered_events(sqs, target_url), stream.errors, target_url, out)
    if kept:
        _say(err, f"the table and queues stay on {os.environ['AWS_ENDPOINT_URL']}; to go on with them:")
        _say(err, f"  export DYNAMODB_TABLE_NAME={settings.table_name} DEAD_LETTER_QUEUE_URL={dlq_url}")
        _say(err, f"  order-creator worker --queue-url {queue_url}")
    if ended in ("SIGINT", "SIGTERM"):
        raise Interrupted(signal.Signals[ended])
    return 0 if ok else 1


def _set_up(dynamodb: Any, sqs: Any, settings: Any, name: str, err: IO[str]) -> tuple[str, str, str]:
    """The table (its stream on), the queue with its dead-letter queue, and the bus whose rule delivers to a queue
    target; the dead-letter queue and the bus go into the handler's environment. Returns the three queues' URLs."""
    from order_creator.publishing import eventbridge
    from order_creator.worker import DELETE_MARGIN_SECONDS

    # Long enough for the handler's Cart API budget (it starts nothing with less), short enough that
    # a retried message comes back within seconds.
    visibility = max(5, math.ceil(settings.cart_worst_case_seconds + 1 + DELETE_MARGIN_SECONDS + 1))
    create_table(dynamodb, settings.table_name, stream=True)
    queue_url, dlq_url = create_queue_with_dlq(
        sqs, name, visibility_timeout=visibility, max_receive_count=MAX_RECEIVE_COUNT
    )
    os.environ["DEAD_LETTER_QUEUE_URL"] = dlq_url
    bus, target_url = create_bus_with_queue_target(eventbridge(), sqs, name)
    os.environ["EVENT_BUS_NAME"] = bus
    _say(err, f"created table {settings.table_name} (stream: NEW_IMAGE), queue {queue_url}")
    _say(err, f"  and its dead-letter queue {dlq_url}")
    _say(err, f"  event bus {bus}, whose rule delivers OrderCreated events to {target_url}")
    _say(
        err,
        f"  (visibility timeout {visibility} s; the redrive policy moves a message after {MAX_RECEIVE_COUNT} receives)",
    )
    return queue_url, dlq_url, target_url


def _consume(sqs: Any, queue_url: str, timeout_seconds: float, err: IO[str]) -> str:
    """Run the SQS worker (the real handler) until the queue is empty, the timeout or a signal; returns why it ended."""
    from order_creator.worker import SqsWorker

    worker = SqsWorker(sqs, queue_url, wait_seconds=1)
    started = time.monotonic()
    timer = threading.Timer(timeout_seconds, worker.stop, kwargs={"reason": f"timeout of {timeout_seconds:g} s"})
    timer.daemon = True
    timer.start()
    try:
        totals = worker.run(until_drained=True, on_batch=lambda r: _say(err, _batch_line(r, started)))
    finally:
        timer.cancel()
    if totals.ended == "queue empty":
        _say(err, f"queue empty after {time.monotonic() - started:.1f} s")
    else:
        left = "the queue is empty" if worker.drained() else "before the queue was empty"
        _say(err, f"stopped ({totals.ended}) after {time.monotonic() - started:.1f} s, {left}")
    return str(totals.ended)


def _rows(
    message_ids: list[str],
    messages: list[LocalMessage],
    dead: dict[str, DeadLetterMessage],
    dynamodb: Any,
    table_name: str,
) -> list[ResultRow]:
    from order_creator.store.listings import OrderListings

    dao = OrderListings(table_name, dynamodb)
    return [_row(mid, m, dead.get(mid), dao) for mid, m in zip(message_ids, messages, strict=True)]


def _report(rows: list[ResultRow], delivered: list[Any], errors: list[str], target_url: str, out: IO[str]) -> bool:
    """Print the results table, its summary and the events' verdict on `out`; True when all is as expected."""
    from order_creator.worker import plural

    rows, strays = with_events(rows, delivered)
    print(_table(rows), file=out)
    counts = {o: sum(r.outcome == o for r in rows) for o in (*OUTCOMES, "unaccounted")}
    unexpected = [r for r in rows if not r.as_expected]
    summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    verdict = "every message ended where expected" if not unexpected else f"{len(unexpected)} not as expected"
    print(f"\n{plural(len(rows), 'message')}: {summary}; {verdict}", file=out)
    if all(r.events_as_expected for r in rows):
        meaning = "one per created order, none for a duplicate or a dead letter"
    else:
        meaning = "NOT one per created order (see EVENT)"
    print(
        f"{len(delivered)} OrderCreated events at {target_url.rsplit('/', 1)[-1]}: {meaning}"
        + (f"; {strays} for no order of this run" if strays else "")
        + (f"; publisher errors: {'; '.join(errors)}" if errors else ""),
        file=out,
    )
    return not unexpected and not strays and not errors


def _publish_events(dynamodb: Any, table_name: str, err: IO[str]) -> Any:
    """Run the stream worker (the real order-events publisher) until the table's stream is read to its end."""
    from order_creator import events
    from order_creator.local.stream import StreamWorker, dynamodb_streams

    worker = StreamWorker.for_table(dynamodb, dynamodb_streams(), table_name, events.lambda_handler)
    totals = worker.drain(idle_polls=2, timeout=30)
    _say(
        err,
        f"stream read: {totals.records_read} records, {totals.records_delivered} order INSERTs published "
        f"in {totals.batches} publisher invocation(s)",
    )
    return totals


def with_events(rows: list[ResultRow], delivered: list[Any]) -> tuple[list[ResultRow], int]:
    """Each row with the events its message produced: a created row gets its order's events; a duplicate or
    a dead letter none of its own. Returns the rows and how many events matched no created order."""
    from collections import Counter
    from dataclasses import replace

    per_order = Counter(event.order_id for event in delivered)
    created = {row.order_id for row in rows if row.outcome == "created"}
    strays = sum(n for order_id, n in per_order.items() if order_id not in created)
    return [replace(r, events=per_order[r.order_id] if r.outcome == "created" else 0) for r in rows], strays


def _row(message_id: str, message: LocalMessage, letter: DeadLetterMessage | None, dao: Any) -> ResultRow:
    ids = message_summary(message.body)
    order_id, tenant = ids.get("orderId", ""), ids.get("tenantId", "")
    if letter is not None:
        return ResultRow(message_id, order_id, tenant, "", "", "dead-lettered", letter.reason, message.expect)
    order = dao.get_order(_canonical(order_id)) if order_id else None
    if order is None:
        return ResultRow(message_id, order_id, tenant, "", "", "unaccounted", "still in the queue?", message.expect)
    source = str(order.get("sourceMessageId", ""))
    outcome, detail = ("created", "") if source == message_id else ("duplicate", f"the order of message {source[:8]}")
    return ResultRow(
        message_id, order["id"], tenant, order["orderNumber"], money(order), outcome, detail, message.expect
    )


def _table(rows: list[ResultRow]) -> str:
    """One row per message; what it is a duplicate of, or a dead letter's reason, on the lines beneath it, whole."""

    def outcome(row: ResultRow) -> str:
        text = row.outcome
        if not row.ended_as_expected:
            text += f"  <- expected {row.expect or 'a final outcome'}"
        elif not row.events_as_expected:
            text += "  <- expected one event" if row.outcome == "created" else "  <- expected no event"
        return text

    def event(row: ResultRow) -> str:
        return "none" if not row.events else "OrderCreated" + (f" x{row.events}" if row.events > 1 else "")

    headers = ("MESSAGE", "ORDER ID", "TENANT", "ORDER NUMBER", "TOTAL", "EVENT", "OUTCOME")
    cells = [(r.message_id[:8], r.order_id, r.tenant_id, r.order_number, r.total, event(r), outcome(r)) for r in rows]
    return render_table(headers, cells, notes=[r.detail for r in rows])


def _batch_line(result: BatchResult, started: float) -> str:
    line = f"  {time.monotonic() - started:5.1f} s  batch: {result.tally().describe()}"
    return line + (f" (handler failed: {result.error})" if result.error else "")


def _canonical(order_id: str) -> str:
    try:
        return str(uuid.UUID(order_id))
    except ValueError:
        return order_id


def _start_emulator(stack: ExitStack) -> str:
    try:
        from order_creator.local.emulator import MotoServer

        server = MotoServer()
        url = server.start()
    except ImportError as error:
        raise OperationError(
            f"the embedded emulator needs moto[server] (pip install -r requirements-dev.txt): {error}"
        ) from None
    stack.callback(server.stop)
    return url


@contextmanager
def _environment(endpoint: str, *, table_name: str, cart_api_url: str) -> Iterator[None]:
    """The handler's environment for this run, restored afterwards."""
    values = {**_LOCAL_DEFAULTS, **{k: v for k, v in os.environ.items() if k in _LOCAL_DEFAULTS}}
    values.update(dict.fromkeys(_ENDPOINT_VARIABLES, endpoint))
    values.update(DYNAMODB_TABLE_NAME=table_name, CART_LAMBDA_API_URL=cart_api_url)
    names = [*values, "DEAD_LETTER_QUEUE_URL", "EVENT_BUS_NAME"]
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _logs_to_stderr() -> None:
    """The handler's Powertools logger writes to stdout (as in Lambda); here stdout is the table's."""
    import logging

    from order_creator.events import logger as events_logger
    from order_creator.observability import logger

    for each in (logger, events_logger):
        handler = each.registered_handler
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)


def _say(err: IO[str], line: str) -> None:
    print(line, file=err, flush=True)
