"""`order-creator`: run the pipeline on one machine or as a worker, and operate its table and queues.

    order-creator local                      the example end to end on an embedded emulator
    order-creator cart-api                   a Cart API on loopback serving a carts file (for the worker)
    order-creator worker --queue-url URL     the SQS consumer that runs the Lambda handler (ECS, a VM)
    order-creator queue send --queue-url URL put a messages file on a queue, as a producer would
    order-creator orders get ORDER_ID        one order, found by id alone
    order-creator orders list --tenant T     a tenant's orders, paginated (--email: one customer's)
    order-creator orders audit               check the numbering: every day's orders carry exactly 1..N
    order-creator dlq inspect | redrive      the dead-letter queue
    order-creator table create               a development table with the contract's schema
    order-creator events show | replay       order events: what reached a queue target; replay from the table
    order-creator table migrate              add this version's index keys to older items (resumable)

Every command that talks to AWS takes --endpoint-url and honours the standard AWS variables. Exit codes:
0 done; 1 the command ran and its answer is no (no such order, an outcome not as expected); 2 a mistake
of the command line or the environment (a bad argument, a missing table or queue, an unreachable
endpoint), always one line on stderr; 128 + the signal when Ctrl-C or SIGTERM ended it.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import os
import re
import signal
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from order_creator.interrupts import Interrupted, handle_signals, received

EXIT_FAILED = 1  # the command ran and its answer is no (no such order, results not as expected)
EXIT_USAGE = 2  # the command line or the environment is wrong (a bad argument, a missing table or queue...)
_ENDPOINT_VARIABLES = (  # what --endpoint-url points at the endpoint: every service the commands and handlers use
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
)
_TABLE_COLUMNS = (("ORDER ID", 36), ("ORDER NUMBER", 18), ("STATUS", 15), ("TOTAL", 16), ("CREATED", 25))
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_TENANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class UsageError(Exception):
    """The command line or environment is wrong: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line on stderr, not the whole usage text."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class _Help(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += " (default: %(default)s)"
        return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; return the process exit code.

    The one place where every command's known errors become one line on stderr (exit code 2) and a
    SIGINT/SIGTERM becomes one line (exit code 128 + the signal) rather than a traceback.
    """
    # The process's own command (no argv given) keeps no Python handler after it: see handle_signals.
    with warnings.catch_warnings(), handle_signals(restore=argv is not None):
        if not sys.warnoptions:
            # A user of the command has no use for a library's warnings (python -W or PYTHONWARNINGS shows them).
            warnings.simplefilter("ignore")
        try:
            return _run(argv)
        except Interrupted as interrupt:  # wherever it landed, even while an error was being reported
            _err(f"order-creator: interrupted by {interrupt.name}")
            return interrupt.exit_code
        except Exception:
            # A library can turn the interrupt into an error of its own (Pydantic, building a schema, raises
            # SchemaError): after a signal, whatever ends the command is that signal's doing.
            signum = received()
            if signum is None:
                raise
            _err(f"order-creator: interrupted by {signal.Signals(signum).name}")
            return 128 + signum


def _run(argv: Sequence[str] | None) -> int:
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        _point_clients(args)
        code = int(args.command(args))
        sys.stdout.flush()  # now, while a signal is still answered with one line rather than cut short
        return code
    except BrokenPipeError:
        # The reader went away (`orders list | head`): stop quietly, and keep Python's exit flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:
        message = _user_error(error, args)
        if message is None:
            raise
        _err(f"order-creator: error: {_one_line(message)}")
        return EXIT_USAGE


def _point_clients(args: argparse.Namespace) -> None:
    """The region and endpoints every client of this process (the handler's too) will use, checked first."""
    if os.environ.get("AWS_REGION"):
        # Lambda and ECS set AWS_REGION, and the README says it wins; botocore reads only AWS_DEFAULT_REGION.
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]
    if not hasattr(args, "endpoint_url"):
        return  # a command that talks to no AWS service (cart-api)
    if args.endpoint_url:
        # The handler's own clients read the endpoint from the environment: point them all at it.
        os.environ.update(dict.fromkeys(_ENDPOINT_VARIABLES, args.endpoint_url))
    for name, value in sorted(os.environ.items()):
        if name.startswith("AWS_ENDPOINT_URL") and value and _endpoint_problem(value):
            raise UsageError(f"{name}={value!r} {_endpoint_problem(value)}")


def build_parser() -> argparse.ArgumentParser:
    """The command line: a parser per subcommand, each naming the function that runs it (`command`)."""
    parser = _Parser(prog="order-creator", description=__doc__, formatter_class=_Help)
    parser.add_argument("--version", action="version", version=f"order-creator {_version()}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    local = _command(commands, "local", "run the example end to end on one machine", endpoint=_LOCAL_ENDPOINT)
    local.add_argument("--messages", metavar="FILE", type=Path, help="messages file (default: examples/messages.json)")
    local.add_argument(
        "--carts", metavar="FILE", type=Path, help="carts the local Cart API serves (default: examples/carts.json)"
    )
    local.add_argument(
        "--name",
        type=_resource_name,
        help="name of the table and the queue (its dead-letter queue: NAME-dlq) (default: orders-local-<random>)",
    )
    local.add_argument("--timeout", metavar="SECONDS", type=_positive(float), default=120, help="give up after")
    local.set_defaults(command=_local)

    cart_api = _command(commands, "cart-api", "serve a carts file as the Cart API on loopback", endpoint=None)
    cart_api.add_argument(
        "--carts", metavar="FILE", type=Path, help="a JSON array of carts (default: examples/carts.json)"
    )
    cart_api.add_argument("--port", metavar="N", type=_bounded_int(0, 65535), default=8080, help="0: any free port")
    cart_api.set_defaults(command=_cart_api)

    worker = _command(commands, "worker", "consume an SQS queue with the Lambda handler")
    worker.add_argument("--queue-url", metavar="URL", required=True, help="the source queue")
    worker.add_argument(
        "--batch-size", metavar="N", type=_bounded_int(1, 10), default=10, help="messages per batch (1-10)"
    )
    worker.add_argument(
        "--wait-seconds", metavar="SECONDS", type=_bounded_int(0, 20), default=20, help="long-poll wait (0-20)"
    )
    worker.add_argument(
        "--visibility-timeout",
        metavar="SECONDS",
        type=_bounded_int(1, 43200),
        help="how long a received batch stays hidden: the handler's time (default: the queue's own)",
    )
    worker.add_argument("--until-empty", action="store_true", help="stop once the queue holds no message at all")
    worker.set_defaults(command=_worker)

    queue = _group(commands, "queue", "the source queue")
    send = _command(queue, "send", "send a messages file to a queue (as a producer would)")
    send.add_argument("--queue-url", metavar="URL", required=True, help="the queue to send to")
    send.add_argument(
        "--messages", metavar="FILE", type=Path, help="as local --messages (default: examples/messages.json)"
    )
    send.set_defaults(command=_queue_send)

    orders = _group(commands, "orders", "read orders")
    get = _command(orders, "get", "one order by id (OrderByIdIndex)")
    get.add_argument("order_id", metavar="ORDER_ID", type=_order_id, help="the order's id (a UUID)")
    _table_option(get)
    get.add_argument("--json", action="store_true", help="the whole order as one JSON object, amounts exact")
    get.set_defaults(command=_orders_get)
    listing = _command(orders, "list", "a tenant's orders, a page at a time")
    listing.add_argument("--tenant", required=True, type=_tenant_id, help="the tenant id")
    listing.add_argument("--status", choices=("PAID", "PENDING_PAYMENT"), help="only orders in this status")
    listing.add_argument(
        "--email",
        metavar="ADDRESS",
        help="one customer's orders (OrdersByCustomerIndex; ASCII case and surrounding blanks ignored)",
    )
    listing.add_argument(
        "--from", dest="created_from", metavar="DATE", type=_moment, help="UTC day (YYYY-MM-DD) or ISO time with offset"
    )
    listing.add_argument("--to", dest="created_to", metavar="DATE", type=_moment, help="as --from; inclusive")
    listing.add_argument("--limit", metavar="N", type=_bounded_int(1, 10**9), help="print at most N orders")
    listing.add_argument("--after", metavar="CURSOR", help="continue after the cursor a previous --limit printed")
    listing.add_argument(
        "--page-size", metavar="N", type=_bounded_int(1, 1000), default=100, help="orders per DynamoDB query"
    )
    _table_option(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per order and line, amounts exact")
    listing.set_defaults(command=_orders_list)
    audit = _command(orders, "audit", "check that every day's orders carry exactly 1..N")
    audit.add_argument(
        "--tenant", type=_tenant_id, help="one tenant, every day it has (default: every tenant found, see below)"
    )
    audit.add_argument("--from", dest="first_day", metavar="YYYY-MM-DD", type=_day, help="first business day")
    audit.add_argument("--to", dest="last_day", metavar="YYYY-MM-DD", type=_day, help="last one (default: today)")
    audit.add_argument(
        "--timezone", metavar="ZONE", help="IANA zone of the business day (default: $ORDER_NUMBER_TIMEZONE, else UTC)"
    )
    _table_option(audit)
    audit.add_argument("--json", action="store_true", help="one JSON object per (tenant, day) checked")
    audit.add_argument(
        "--deep",
        action="store_true",
        help="without --tenant: also find the tenants from the orders, by one scan of the whole table",
    )
    audit.add_argument(
        "--max-rcu", metavar="N", type=_positive(float), default=100.0, help="with --deep: read units a second at most"
    )
    audit.epilog = _AUDIT_LIMIT
    audit.set_defaults(command=_orders_audit)

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

    table = _group(commands, "table", "the orders table")
    create = _command(table, "create", "create a table with the contract's schema")
    _table_option(create)
    create.set_defaults(command=_table_create)

    events = _group(commands, "events", "order events (OrderCreated)")
    show = _command(events, "show", "the events waiting in a rule's queue target")
    show.add_argument("--queue-url", metavar="URL", required=True, help="the queue a rule on the bus delivers to")
    show.add_argument("--max", metavar="N", type=_bounded_int(1, 10**6), help="at most N events")
    show.add_argument("--json", action="store_true", help="one event detail per line")
    show.set_defaults(command=_events, action="show")
    replay = _command(events, "replay", "publish a tenant's events again, from the table")
    replay.add_argument("--tenant", required=True, type=_tenant_id, help="the tenant id")
    replay.add_argument(
        "--from", dest="created_from", metavar="DATE", type=_moment, required=True, help="as orders list"
    )
    replay.add_argument("--to", dest="created_to", metavar="DATE", type=_moment, help="as --from; inclusive")
    replay.add_argument("--bus", default=os.environ.get("EVENT_BUS_NAME"), help="(default: $EVENT_BUS_NAME)")
    _table_option(replay)
    replay.set_defaults(command=_events, action="replay")
    migrate = _command(table, "migrate", "add this version's index keys to older items")
    _table_option(migrate)
    migrate.add_argument(
        "--max-wcu", metavar="N", type=_positive(float), default=100.0, help="write units a second at most"
    )
    migrate.add_argument(
        "--state", metavar="FILE", type=Path, help="progress file (default: ./order-creator-migrate-TABLE.json)"
    )
    migrate.set_defaults(command=_table_migrate)
    return parser


_AUDIT_LIMIT = """\
Without --tenant, the tenants are those with a counter on a day from a week before --from to a week after
--to (one query a day, never a scan), each audited on every day of --from..--to. A tenant whose counter of a
day is gone (deleted by hand, restored from an older backup, lost by a bug) is found by its other counters, and
that day fails (counter 0, its numbers "beyond" it); a tenant with no counter at all in those days is not
found. --tenant finds it, and so does --deep, which also finds the tenants from the orders themselves: it
reads the whole table once (every order and counter, whatever --from/--to), about 0.5 read units per 4 KB of
table, held to --max-rcu a second; a 10 GB table costs about 1.3 million read units, 3.6 hours at 100 a second."""

_ENDPOINT_HELP = "DynamoDB/SQS endpoint, e.g. an emulator: http://127.0.0.1:5000 (default: $AWS_ENDPOINT_URL, else AWS)"
_LOCAL_ENDPOINT = (
    "use this DynamoDB/SQS endpoint (your own emulator) instead of the embedded one "
    "(default: $AWS_ENDPOINT_URL, else the embedded emulator; local never runs against AWS)"
)


def _group(commands: Any, name: str, description: str) -> Any:
    """A command with actions of its own (`orders get`, `dlq inspect`): returns where to add them."""
    group = commands.add_parser(name, help=description, description=description, formatter_class=_Help)
    return group.add_subparsers(title="actions", required=True, metavar="ACTION")


def _command(
    commands: Any, name: str, description: str, *, endpoint: str | None = _ENDPOINT_HELP
) -> argparse.ArgumentParser:
    """A (sub)command's parser: its help shows every default; `endpoint` is its --endpoint-url help, None for none."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=description, description=description, formatter_class=_Help
    )
    if endpoint is not None:
        parser.add_argument("--endpoint-url", metavar="URL", type=_endpoint, help=endpoint)
    return parser


# commands -------------------------------------------------------------------------------------------


def _local(args: argparse.Namespace) -> int:
    from order_creator.local.run import EXAMPLES, run_local

    return run_local(
        messages_path=args.messages or EXAMPLES / "messages.json",
        carts_path=args.carts or EXAMPLES / "carts.json",
        endpoint_url=args.endpoint_url,
        timeout_seconds=args.timeout,
        name=args.name,
    )


def _cart_api(args: argparse.Namespace) -> int:
    from order_creator.local.cart_api import CartApiServer
    from order_creator.local.run import EXAMPLES, load_carts
    from order_creator.operations import OperationError

    carts = args.carts or EXAMPLES / "carts.json"
    try:
        server = CartApiServer(load_carts(carts), port=args.port)
    except OSError as error:
        if error.filename:  # the carts file
            raise
        raise OperationError(
            f"cannot serve on 127.0.0.1:{args.port}: {error.strerror or error} (try --port 0)"
        ) from None
    with server:
        _err(f"local Cart API at {server.url}, serving {carts}")
        _err(f"for the worker: export CART_LAMBDA_API_URL={server.url}")
        _err("Ctrl-C (or SIGTERM) stops it")
        try:
            while True:
                time.sleep(3600)
        except Interrupted as interrupt:
            _err(f"cart-api: stopped ({interrupt.name})")
            return interrupt.exit_code  # as every command a signal ends: 128 + the signal
    return 0  # pragma: no cover - only a signal ends it


def _worker(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.settings import Settings
    from order_creator.worker import DELETE_MARGIN_SECONDS, BatchResult, SqsWorker, polling_client

    settings = Settings.from_env()  # a bad environment or a missing table stops here, before a message moves
    args.table = settings.table_name
    clients.dynamodb().describe_table(TableName=settings.table_name)
    worker = SqsWorker(
        polling_client(args.wait_seconds),
        args.queue_url,
        batch_size=args.batch_size,
        wait_seconds=args.wait_seconds,
        visibility_timeout=args.visibility_timeout,
    )
    needed = settings.cart_worst_case_seconds + 1 + DELETE_MARGIN_SECONDS
    if worker.visibility_timeout < needed:
        raise UsageError(
            f"visibility timeout {worker.visibility_timeout} s is shorter than a batch needs ({needed:g} s: Cart API "
            f"timeout {settings.cart_api_timeout_seconds:g} s x {settings.cart_api_max_retries + 1} attempts + 1 s + "
            f"{DELETE_MARGIN_SECONDS:g} s); pass --visibility-timeout {math.ceil(needed)}, or lower "
            "CART_API_TIMEOUT_SECONDS or CART_API_MAX_RETRIES"
        )
    _err(f"worker: polling {args.queue_url} (batches of {args.batch_size}, visibility {worker.visibility_timeout} s)")
    _err("worker: Ctrl-C or SIGTERM stops it (after the batch in hand, if any); a second one ends it at once")

    def progress(result: BatchResult) -> None:
        line = f"worker: batch: {result.tally().describe()}"
        _err(line + (f" (handler failed: {result.error})" if result.error else ""))

    totals = worker.run(until_drained=args.until_empty, on_batch=progress)
    _err(f"worker: {totals.describe()}")
    return 0


def _queue_send(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.local.run import EXAMPLES, load_messages
    from order_creator.operations import enqueue

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


def _orders_get(args: argparse.Namespace) -> int:
    from order_creator.dao import CUSTOMER_INDEX_ATTRIBUTES

    dao = _dao(args)
    order = dao.get_order(args.order_id)
    if order is None:
        _err(f"order-creator: no order {args.order_id} in table {args.table}")
        return EXIT_FAILED
    if args.json:
        print(_order_json(order))
        return 0
    # The listing's fields (those the e-mail index projects: never the address), then the items.
    for name in CUSTOMER_INDEX_ATTRIBUTES:
        print(f"{name:<16} {_shown(order.get(name, ''))}")
    items = order.get("items")
    for item in items if isinstance(items, list) else []:
        fields = item if isinstance(item, dict) else {}
        quantity, name, price = (_shown(fields.get(key, "?")) for key in ("quantity", "productName", "unitPrice"))
        print(f"{'item':<16} {quantity} x {name} @ {price}")
    return 0


def _shown(value: Any, most: int = 200) -> str:
    """A stored value as one line of a listing: whatever an item of a lived table holds, one short line."""
    text = " ".join(str(value).split())
    return text if len(text) <= most else text[:most] + "..."


def _orders_list(args: argparse.Namespace) -> int:
    _check_range(args.created_from, args.created_to)
    after = _decode_cursor(args.after, tenant=args.tenant, listing=_listing_kind(args)) if args.after else None
    dao = _dao(args)
    orders = dao.list_orders(
        args.tenant,
        status=args.status,
        customer_email=args.email,
        created_from=args.created_from,
        created_to=args.created_to,
        after=after,
        page_size=min(args.page_size, args.limit + 1) if args.limit else args.page_size,
    )
    printed = 0
    last: dict[str, Any] | None = None
    for order, position in orders:
        if args.limit is not None and printed == args.limit:
            # There is at least one more: say how to continue from the last one printed.
            _err(f"more orders: continue with --after {_encode_cursor(last or {})}")
            break
        if args.json:
            print(_order_json(order))
        else:
            if not printed:
                print(_fixed_row([name for name, _ in _TABLE_COLUMNS]))
            cells = (order.get("id", ""), order.get("orderNumber", ""), order.get("status", ""))
            print(_fixed_row([_shown(c, 64) for c in (*cells, _money(order), order.get("dateCreated", ""))]))
        printed += 1
        last = position
    if not printed:
        _err(f"no orders for tenant {args.tenant} with these filters")
    return 0


def _dlq_inspect(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.operations import inspect_dead_letters, message_summary, queue_depth, render_table

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
    from order_creator.operations import redrive, source_queue_of

    sqs = clients.sqs()
    dlq_url = _required_dlq(args)
    target = args.to_queue_url or source_queue_of(sqs, dlq_url)
    _err(f"redriving {dlq_url} -> {target}" + (f" (at most {args.max})" if args.max else ""))

    def progress(count: int, letter: Any) -> None:
        _err(f"  {count}: message {letter.source_message_id} ({letter.reason})")

    moved = redrive(sqs, dlq_url, target, limit=args.max, progress=progress)
    _err(f"moved {_plural(moved, 'message')}")
    return 0


def _table_create(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.dao import table_definition
    from order_creator.operations import create_table

    name = _table_of(args)
    create_table(clients.dynamodb(), name)
    indexes = ", ".join(index["IndexName"] for index in table_definition(name)["GlobalSecondaryIndexes"])
    _err(f"created table {name} ({indexes})")
    return 0


def _events(args: argparse.Namespace) -> int:
    from order_creator.event_operations import command

    if args.action == "replay":
        _table_of(args)  # --table or DYNAMODB_TABLE_NAME, checked
        _check_range(args.created_from, args.created_to)
    return command(args)


def _check_range(start: date | datetime | None, end: date | datetime | None) -> None:
    """--from and --to of a listing or a replay: a UsageError when the range holds nothing."""
    if start is not None and end is not None and _utc_start(start) > _utc_start(end):
        raise UsageError(f"--from {start} is after --to {end}: the range holds nothing")


def _orders_audit(args: argparse.Namespace) -> int:
    from order_creator import audit as numbering_audit
    from order_creator.audit import NumberingAudit, neighbourhood, run_command

    if args.timezone is not None:
        zone = _zone(args.timezone, "--timezone")
    else:
        zone = _zone(os.environ.get("ORDER_NUMBER_TIMEZONE") or "UTC", "ORDER_NUMBER_TIMEZONE")
    if not args.tenant and args.first_day is None:
        raise UsageError("without --tenant, name the days with --from (a day's tenants are found from its counters)")
    if args.tenant and args.deep:
        raise UsageError("--deep is for every tenant: with --tenant, all of the tenant's orders are read already")
    first, last = _audit_days(args.first_day, args.last_day, zone)
    terminal = sys.stderr.isatty()
    recheck = numbering_audit.RECHECK_SECONDS
    audit = NumberingAudit(_dao(args), zone, recheck_seconds=recheck, progress=_progress_line if terminal else None)
    also: set[str] = set()
    if args.deep:
        scanned = _scan_progress_line if terminal else None
        also = audit.tenants_by_scan(args.first_day, last, max_rcu=args.max_rcu, progress=scanned)
    checked, failed = run_command(
        audit, tenant_id=args.tenant, first=first, last=last, as_json=args.json, out=print, also=also
    )
    if terminal:
        print("\r\033[K", end="", file=sys.stderr)
    _err(f"audited {checked} (tenant, day) pair(s), {audit.orders_checked} orders: {failed} failed")
    if args.tenant and not checked:
        days = f"from {first} to {last}" if first else f"up to {last}"
        _err(f"order-creator: tenant {args.tenant} has no counter and no order {days}: is the tenant id right?")
        return EXIT_FAILED
    if args.deep:
        _err(f"the tenants were found by a scan of the whole table too, read units spent: {audit.read_units_scanned:g}")
    elif not args.tenant:
        around = " to ".join(day.isoformat() for day in neighbourhood(first or last, last))
        _err(f"the tenants were found from the counters of {around}: one with no counter there is found by --deep")
    return EXIT_FAILED if failed else 0


def _audit_days(first: date | None, last: date | None, zone: Any) -> tuple[date | None, date]:
    """--from and --to (default: today in the zone), checked: in order, and each day's hours within the calendar
    (0001-01-01 in Asia/Tokyo begins before the first instant UTC can write)."""
    from order_creator.numbering import business_day, day_bounds

    last = last or business_day(datetime.now(UTC), zone)
    if first is not None and first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    for option, day in (("--from", first), ("--to", last)):
        try:
            if day is not None:
                day_bounds(day, zone)
        except (OverflowError, ValueError):
            raise UsageError(
                f"{option} {day} in {zone} reaches outside the calendar UTC can write (0001-01-01 to 9999-12-31): "
                "give a day within it"
            ) from None
    return first, last


def _table_migrate(args: argparse.Namespace) -> int:
    from order_creator.migrate import run_command

    table = _table_of(args)
    path = args.state or Path(f"order-creator-migrate-{table}.json")
    return run_command(_dao(args), table, path, max_wcu=args.max_wcu, terminal=sys.stderr.isatty())


# helpers --------------------------------------------------------------------------------------------


def _dao(args: argparse.Namespace) -> Any:
    from order_creator import clients
    from order_creator.dao import OrderDAO

    return OrderDAO(_table_of(args), clients.dynamodb())


def _table_of(args: argparse.Namespace) -> str:
    """The table the command works on: --table or DYNAMODB_TABLE_NAME (kept in args.table for error messages)."""
    if not args.table:
        variable = os.environ.get("DYNAMODB_TABLE_NAME")
        if not variable:
            raise UsageError("no table: pass --table NAME or set DYNAMODB_TABLE_NAME")
        try:
            args.table = _table_name(variable)
        except argparse.ArgumentTypeError as error:
            raise UsageError(f"DYNAMODB_TABLE_NAME: {error}") from None
    return str(args.table)


def _required_dlq(args: argparse.Namespace) -> str:
    url = args.queue_url or os.environ.get("DEAD_LETTER_QUEUE_URL")
    if not url:
        raise UsageError("no dead-letter queue: pass --queue-url URL or set DEAD_LETTER_QUEUE_URL")
    return str(url)


def _table_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table", metavar="NAME", type=_table_name, help="the orders table (default: $DYNAMODB_TABLE_NAME)"
    )


def _dlq_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue-url", metavar="URL", help="the dead-letter queue (default: $DEAD_LETTER_QUEUE_URL)")


def _order_json(order: dict[str, Any]) -> str:
    from order_creator.dao import order_key
    from order_creator.models import exact_json

    keys = {*order_key("", ""), "GSI1_PK", "GSI1_SK", "GSI2_PK", "GSI2_SK", "GSI3_PK", "GSI3_SK", "entityType"}
    return exact_json({k: _json_value(v) for k, v in order.items() if k not in keys})


def _json_value(value: Any) -> Any:
    """A stored value JSON can write (amounts stay exact Decimals): a set as a sorted list, binary as base64."""
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_json_value(v) for v in value), key=str)
    if isinstance(value, bytes | bytearray) or type(value).__name__ == "Binary":
        return base64.b64encode(bytes(value)).decode()
    return value


def _money(order: dict[str, Any]) -> str:
    from order_creator.operations import money

    return money(order)


def _fixed_row(cells: Sequence[str]) -> str:
    return "  ".join(str(c).ljust(w) for c, (_, w) in zip(cells, _TABLE_COLUMNS, strict=True)).rstrip()


def _plural(count: int, word: str) -> str:
    from order_creator.worker import plural

    return plural(count, word)


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


# What a listing's position holds, by the options that chose its index (dao.list_orders).
_CURSOR_KEYS = {
    "without --from/--to/--email": {"PK", "SK"},
    "with --from/--to": {"PK", "SK", "GSI1_PK", "GSI1_SK"},
    "with --email": {"PK", "SK", "GSI3_PK", "GSI3_SK"},
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


def _progress_line(days: int, orders: int) -> None:
    line = f"audit: {days} (tenant, day) pair(s), {orders} orders checked so far"
    print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)


def _scan_progress_line(pages: int, read_units: float) -> None:
    line = f"audit --deep: {pages} page(s) of the table scanned, {read_units:g} read units"
    print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)


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


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _one_line(message: str, limit: int = 300) -> str:
    """The message on one line (an HTML page or a multi-line text collapsed), cut at a word if very long."""
    text = " ".join(message.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def _user_error(error: Exception, args: argparse.Namespace | None) -> str | None:
    """The one line a user should see for a mistake of theirs or of the environment; None for a bug."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        SSLError,
    )

    from order_creator.errors import ConfigurationError
    from order_creator.operations import OperationError

    if isinstance(error, UsageError | OperationError | ConfigurationError):
        return str(error)
    if isinstance(error, SSLError):  # before OSError: it is one too
        endpoint = error.kwargs.get("endpoint_url", "the endpoint")
        return f"no TLS at {endpoint} ({type(error).__name__}): if it serves plain HTTP, give it as http://"
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    if isinstance(error, ValueError | UnicodeError) and args is not None and args.command in _FILE_COMMANDS:
        return str(error)  # the messages or carts file, which names itself
    if isinstance(error, NoRegionError):
        return "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or a profile's region)"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach {error.kwargs.get('endpoint_url', 'the endpoint')}"
    if isinstance(error, ClientError):
        return _client_error(error, getattr(args, "table", None))
    if isinstance(error, BotoCoreError):
        return str(error)
    return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("order-creator")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree that was never installed
        return "unknown"


def _client_error(error: Any, table: str | None) -> str:
    """An AWS refusal in the user's terms: which table, index or queue is missing, or that no AWS answered."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    text = str(error.response.get("Error", {}).get("Message", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if text.lstrip().startswith("<") or code.isdigit():
        # Not an AWS error document: something else listens there (a web server, a proxy's error page).
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or "the AWS endpoint"
        return (
            f"{error.operation_name} failed: {endpoint} answered HTTP {status or code} with a page that is not an "
            "AWS answer; is the endpoint (--endpoint-url, AWS_ENDPOINT_URL) right?"
        )
    if code == "ResourceNotFoundException" and table:
        missing = _missing_indexes(table)
        if missing:
            return (
                f"table {table} has no {', '.join(missing)}: it was not created with this project's schema "
                "(order-creator table create)"
            )
        return f"table {table} does not exist ({error.operation_name})"
    if code == "ResourceInUseException" and table:
        return f"table {table} already exists: pass another --table, or use it as it is"
    if code == "ResourceInUseException":
        return f"{error.operation_name} failed: {text or code}: choose another --name"
    if "NonExistentQueue" in code or code == "QueueDoesNotExist":
        return f"no such queue ({error.operation_name}): {text or code}"
    if "starting key" in text.lower() or "ExclusiveStartKey" in text:
        return "the --after cursor does not fit this listing: list again without --after"
    return f"{error.operation_name} failed: {code}: {text}"


def _missing_indexes(table: str) -> list[str]:
    """The schema's indexes the table lacks; empty when it has them all or does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    from order_creator import clients
    from order_creator.dao import table_definition

    try:
        found = clients.dynamodb().describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
    except (BotoCoreError, ClientError):
        return []
    present = {index["IndexName"] for index in found}
    return [i["IndexName"] for i in table_definition(table)["GlobalSecondaryIndexes"] if i["IndexName"] not in present]


# The commands that read a file the user names (messages, carts): its ValueError names the file, in one line.
_FILE_COMMANDS = (_local, _queue_send, _cart_api)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
