"""`order-creator`: run the pipeline on one machine or as a worker, and operate its table and queues.

    order-creator local                      the example end to end on an embedded emulator
    order-creator worker --queue-url URL     the SQS consumer that runs the Lambda handler (ECS, a VM)
    order-creator orders get ORDER_ID        one order, found by id alone
    order-creator orders list --tenant T     a tenant's orders, paginated
    order-creator dlq inspect | redrive      the dead-letter queue
    order-creator table create               a development table with the contract's schema
    order-creator events show | replay       order events: what reached a queue target; replay from the table

Every subcommand takes --endpoint-url and honours the standard AWS variables. A user mistake (a missing
table, a wrong queue URL, an unreadable file, a bad argument) is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

EXIT_FAILED = 1  # the command ran and failed (missing table, queue, order; results not as expected)
EXIT_USAGE = 2  # the command line or the environment is wrong
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS")
_ORDER_FIELDS = [
    "id",
    "orderNumber",
    "tenantId",
    "cartId",
    "status",
    "currency",
    "subtotal",
    "tax",
    "total",
    "dateCreated",
    "sourceMessageId",
]
_TABLE_COLUMNS = (("ORDER ID", 36), ("ORDER NUMBER", 18), ("STATUS", 15), ("TOTAL", 16), ("CREATED", 29))


class UsageError(Exception):
    """The command line or environment is wrong: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line on stderr, not the whole usage text."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
        # Lambda and ECS set AWS_REGION; botocore reads only AWS_DEFAULT_REGION (or a profile).
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]
    if args.endpoint_url:
        # The handler's own clients read the endpoint from the environment: point them all at it.
        os.environ.update(dict.fromkeys(_ENDPOINT_VARIABLES, args.endpoint_url))
    try:
        code: int = args.command(args)
    except BrokenPipeError:
        # The reader went away (`orders list | head`): stop quietly, and keep Python's exit flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:
        message = _user_error(error, args)
        if message is None:
            raise
        print(f"order-creator: error: {message}", file=sys.stderr)
        return EXIT_USAGE if _is_setup_error(error) else EXIT_FAILED
    return code


def build_parser() -> argparse.ArgumentParser:
    """The command line: subcommands, each with --endpoint-url."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="DynamoDB/SQS endpoint (moto, LocalStack...); overrides AWS_ENDPOINT_URL*. Default: AWS",
    )
    parser = _Parser(prog="order-creator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    local = commands.add_parser("local", parents=[common], help="run the example end to end on one machine")
    local.add_argument("--messages", type=Path, help="messages file (default: examples/messages.json)")
    local.add_argument("--carts", type=Path, help="carts the local Cart API serves (default: examples/carts.json)")
    local.add_argument("--timeout", type=_positive(float), default=120.0, help="give up after SECONDS (default 120)")
    local.set_defaults(command=_local)

    worker = commands.add_parser("worker", parents=[common], help="consume an SQS queue with the Lambda handler")
    worker.add_argument("--queue-url", required=True, help="the source queue")
    worker.add_argument("--batch-size", type=_bounded_int(1, 10), default=10, help="messages per batch (1-10)")
    worker.add_argument("--wait-seconds", type=_bounded_int(0, 20), default=20, help="long-poll wait (0-20)")
    worker.add_argument("--visibility-timeout", type=_bounded_int(1, 43200), help="seconds (default: the queue's own)")
    worker.add_argument("--until-empty", action="store_true", help="stop once the queue holds no message at all")
    worker.set_defaults(command=_worker)

    orders = commands.add_parser("orders", help="read orders").add_subparsers(required=True, metavar="ACTION")
    get = orders.add_parser("get", parents=[common], help="one order by id (OrderByIdIndex)")
    get.add_argument("order_id", metavar="ORDER_ID")
    _table_and_json(get)
    get.set_defaults(command=_orders_get)
    listing = orders.add_parser("list", parents=[common], help="a tenant's orders, a page at a time")
    listing.add_argument("--tenant", required=True)
    listing.add_argument("--status", choices=("PAID", "PENDING_PAYMENT"))
    listing.add_argument(
        "--from", dest="created_from", metavar="DATE", type=_moment, help="UTC day (YYYY-MM-DD) or ISO time with offset"
    )
    listing.add_argument("--to", dest="created_to", metavar="DATE", type=_moment, help="as --from; inclusive")
    listing.add_argument("--limit", metavar="N", type=_bounded_int(1, 10**9), help="print at most N orders")
    listing.add_argument("--after", metavar="CURSOR", help="continue after the cursor a previous --limit printed")
    listing.add_argument(
        "--page-size", metavar="N", type=_bounded_int(1, 1000), default=100, help="orders per DynamoDB query"
    )
    _table_and_json(listing)
    listing.set_defaults(command=_orders_list)

    dlq = commands.add_parser("dlq", help="the dead-letter queue").add_subparsers(required=True, metavar="ACTION")
    inspect = dlq.add_parser("inspect", parents=[common], help="list dead letters and why, deleting nothing")
    _dlq_url(inspect)
    inspect.add_argument("--max", type=_bounded_int(1, 10**6), help="at most N messages")
    inspect.add_argument("--json", action="store_true", help="one JSON object per line, body included")
    inspect.set_defaults(command=_dlq_inspect)
    redrive = dlq.add_parser("redrive", parents=[common], help="move dead letters back to the source queue")
    _dlq_url(redrive)
    redrive.add_argument("--to-queue-url", help="target queue (default: the queue whose redrive policy names the DLQ)")
    redrive.add_argument("--max", type=_bounded_int(1, 10**6), help="move at most N messages")
    redrive.set_defaults(command=_dlq_redrive)

    table = commands.add_parser("table", help="the orders table").add_subparsers(required=True, metavar="ACTION")
    create = table.add_parser("create", parents=[common], help="create a table with the contract's schema")
    create.add_argument("--table", default=os.environ.get("DYNAMODB_TABLE_NAME"), help="default: $DYNAMODB_TABLE_NAME")
    create.set_defaults(command=_table_create)

    events = commands.add_parser("events", help="order events (OrderCreated)").add_subparsers(
        required=True, metavar="ACTION"
    )
    show = events.add_parser("show", parents=[common], help="the events waiting in a rule's queue target")
    show.add_argument("--queue-url", required=True, help="the queue a rule on the bus delivers to")
    show.add_argument("--max", type=_bounded_int(1, 10**6), help="at most N events")
    show.add_argument("--json", action="store_true", help="one event detail per line")
    show.set_defaults(command=_events, action="show")
    replay = events.add_parser("replay", parents=[common], help="publish a tenant's events again, from the table")
    replay.add_argument("--tenant", required=True)
    replay.add_argument(
        "--from", dest="created_from", metavar="DATE", type=_moment, required=True, help="as orders list"
    )
    replay.add_argument("--to", dest="created_to", metavar="DATE", type=_moment, help="as --from; inclusive")
    replay.add_argument("--bus", default=os.environ.get("EVENT_BUS_NAME"), help="default: $EVENT_BUS_NAME")
    replay.add_argument("--table", default=os.environ.get("DYNAMODB_TABLE_NAME"), help="default: $DYNAMODB_TABLE_NAME")
    replay.set_defaults(command=_events, action="replay")
    return parser


# commands -------------------------------------------------------------------------------------------


def _local(args: argparse.Namespace) -> int:
    from order_creator.local.run import EXAMPLES, run_local

    messages = args.messages or EXAMPLES / "messages.json"
    carts = args.carts or EXAMPLES / "carts.json"
    return run_local(
        messages_path=messages, carts_path=carts, endpoint_url=args.endpoint_url, timeout_seconds=args.timeout
    )


def _worker(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.settings import Settings
    from order_creator.worker import DELETE_MARGIN_SECONDS, SqsWorker, polling_client, stop_on_signals

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
            f"visibility timeout {worker.visibility_timeout} s is shorter than a batch needs ({needed:g} s: the Cart "
            "API's timeout x (retries + 1) + 1 s + the delete margin); every batch would be retried"
        )
    _err(f"worker: polling {args.queue_url} (batches of {args.batch_size}, visibility {worker.visibility_timeout} s)")
    _err("worker: SIGINT/SIGTERM stops it after the batch in hand")

    def progress(result: Any) -> None:
        line = f"worker: batch of {len(result.received)}: {len(result.deleted)} done, {len(result.left)} left to SQS"
        _err(line + (f" (handler failed: {result.error})" if result.error else ""))

    with stop_on_signals(worker):
        totals = worker.run(until_drained=args.until_empty, on_batch=progress)
    _err(f"worker: stopped after {totals.batches} batches: {totals.deleted} done, {totals.left} left to SQS")
    return 0


def _orders_get(args: argparse.Namespace) -> int:
    dao = _dao(args)
    order = dao.get_order(args.order_id)
    if order is None:
        _err(f"order-creator: error: no order {args.order_id} in table {_table_of(args)}")
        return EXIT_FAILED
    if args.json:
        print(_order_json(order))
        return 0
    for name in _ORDER_FIELDS:
        print(f"{name:<16} {order.get(name, '')}")
    for item in order.get("items", []):
        print(f"{'item':<16} {item.get('quantity')} x {item.get('productName')} @ {item.get('unitPrice')}")
    return 0


def _orders_list(args: argparse.Namespace) -> int:
    dao = _dao(args)
    orders = dao.list_orders(
        args.tenant,
        status=args.status,
        created_from=args.created_from,
        created_to=args.created_to,
        after=_decode_cursor(args.after) if args.after else None,
        page_size=min(args.page_size, args.limit + 1) if args.limit else args.page_size,
    )
    if not args.json:
        print(_fixed_row([name for name, _ in _TABLE_COLUMNS]))
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
            cells = (order.get("id", ""), order.get("orderNumber", ""), order.get("status", ""))
            print(_fixed_row([*cells, _money(order), str(order.get("dateCreated", ""))]))
        printed += 1
        last = position
    if not printed:
        _err(f"no orders for tenant {args.tenant} with these filters")
    return 0


def _dlq_inspect(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.operations import inspect_dead_letters, message_summary, render_table

    letters = inspect_dead_letters(clients.sqs(), _required_dlq(args), limit=args.max)
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
        return 0
    rows = []
    for letter in letters:
        ids = message_summary(letter.body)  # ids only: the body holds the customer's e-mail and address
        reason = letter.reason if len(letter.reason) <= 100 else letter.reason[:97] + "..."  # --json has it whole
        rows.append((letter.source_message_id, ids.get("orderId", ""), ids.get("tenantId", ""), reason))
    print(render_table(("SOURCE MESSAGE", "ORDER ID", "TENANT", "REASON"), rows))
    _err(f"{len(letters)} message(s) in the dead-letter queue; none deleted")
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
    _err(f"moved {moved} message(s)")
    return 0


def _table_create(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.operations import create_table

    create_table(clients.dynamodb(), _table_of(args))
    _err(f"created table {args.table} (OrdersByDateIndex, OrderByIdIndex)")
    return 0


def _events(args: argparse.Namespace) -> int:
    from order_creator.event_operations import command

    return command(args)


# helpers --------------------------------------------------------------------------------------------


def _dao(args: argparse.Namespace) -> Any:
    from order_creator import clients
    from order_creator.dao import OrderDAO

    return OrderDAO(_table_of(args), clients.dynamodb())


def _table_of(args: argparse.Namespace) -> str:
    """The table the command works on: --table or DYNAMODB_TABLE_NAME."""
    if not args.table:
        raise UsageError("no table: pass --table NAME or set DYNAMODB_TABLE_NAME")
    return str(args.table)


def _required_dlq(args: argparse.Namespace) -> str:
    if not args.queue_url:
        raise UsageError("no dead-letter queue: pass --queue-url URL or set DEAD_LETTER_QUEUE_URL")
    return str(args.queue_url)


def _table_and_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", default=os.environ.get("DYNAMODB_TABLE_NAME"), help="default: $DYNAMODB_TABLE_NAME")
    parser.add_argument("--json", action="store_true", help="JSON output (one order per line), amounts exact")


def _dlq_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--queue-url", default=os.environ.get("DEAD_LETTER_QUEUE_URL"), help="default: $DEAD_LETTER_QUEUE_URL"
    )


def _order_json(order: dict[str, Any]) -> str:
    from order_creator.dao import order_key
    from order_creator.operations import exact_json

    keys = {*order_key("", ""), "GSI1_PK", "GSI1_SK", "GSI2_PK", "GSI2_SK", "entityType"}
    return exact_json({k: v for k, v in order.items() if k not in keys})


def _money(order: dict[str, Any]) -> str:
    from order_creator.operations import money

    return money(order)


def _fixed_row(cells: Sequence[str]) -> str:
    return "  ".join(str(c).ljust(w) for c, (_, w) in zip(cells, _TABLE_COLUMNS, strict=True)).rstrip()


def _encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise UsageError(f"--after {cursor!r} is not a cursor this command printed") from None
    if not isinstance(position, dict) or not all(isinstance(v, str) for v in position.values()):
        raise UsageError(f"--after {cursor!r} is not a cursor this command printed")
    return position


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
    return moment


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


def _is_setup_error(error: Exception) -> bool:
    """The command line or the environment is wrong (exit code 2), rather than the command failing."""
    from botocore.exceptions import NoCredentialsError, NoRegionError

    from order_creator.errors import ConfigurationError

    return isinstance(error, UsageError | ConfigurationError | NoRegionError | NoCredentialsError)


def _user_error(error: Exception, args: argparse.Namespace) -> str | None:
    """The one line a user should see for a mistake of theirs or of the environment; None for a bug."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    from order_creator.errors import ConfigurationError
    from order_creator.operations import OperationError

    if isinstance(error, UsageError | OperationError | ConfigurationError):
        return str(error)
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    if isinstance(error, ValueError | UnicodeError) and args.command is _local:
        return str(error)  # the messages or carts file, which names itself
    if isinstance(error, NoRegionError):
        return "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or a profile's region)"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach {error.kwargs.get('endpoint_url', 'the endpoint')}"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        text = error.response.get("Error", {}).get("Message", "")
        table = getattr(args, "table", None)
        if code == "ResourceNotFoundException" and table:
            return f"table {table} does not exist ({error.operation_name})"
        if code == "ResourceInUseException" and table:
            return f"table {table} already exists"
        if "NonExistentQueue" in code or code == "QueueDoesNotExist":
            return f"no such queue ({error.operation_name}): {text or code}"
        return f"{error.operation_name} failed: {code}: {text}"
    if isinstance(error, BotoCoreError):
        return str(error)
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
