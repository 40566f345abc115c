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
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from order_creator.cli.base import EXIT_FAILED, EXIT_USAGE, UsageError, _err
from order_creator.cli.commands import (
    _cart_api,
    _dlq_inspect,
    _dlq_redrive,
    _events,
    _local,
    _queue_send,
    _table_create,
    _table_migrate,
    _worker,
)
from order_creator.cli.errors import _client_error
from order_creator.cli.inputs import (
    _bounded_int,
    _day,
    _decode_cursor,
    _encode_cursor,
    _endpoint,
    _endpoint_problem,
    _moment,
    _order_id,
    _positive,
    _resource_name,
    _table_name,
    _tenant_id,
)
from order_creator.cli.orders import _orders_audit, _orders_get, _orders_list
from order_creator.interrupts import Interrupted, handle_signals, received

# What the tests and other modules use of the package besides `main` and `build_parser`.
__all__ = [
    "EXIT_FAILED",
    "EXIT_USAGE",
    "UsageError",
    "_decode_cursor",
    "_encode_cursor",
    "_moment",
    "build_parser",
    "main",
]


_ENDPOINT_VARIABLES = (  # what --endpoint-url points at the endpoint: every service the commands and handlers use
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
)


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


def _table_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table", metavar="NAME", type=_table_name, help="the orders table (default: $DYNAMODB_TABLE_NAME)"
    )


def _dlq_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue-url", metavar="URL", help="the dead-letter queue (default: $DEAD_LETTER_QUEUE_URL)")


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


# The commands that read a file the user names (messages, carts): its ValueError names the file, in one line.
_FILE_COMMANDS = (_local, _queue_send, _cart_api)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
