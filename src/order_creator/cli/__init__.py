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

from order_creator.cli import dlq, events, orders, pipeline, queue, table
from order_creator.cli.base import EXIT_FAILED, EXIT_USAGE, UsageError, _err, _Help, _Parser
from order_creator.cli.errors import _client_error
from order_creator.cli.inputs import _decode_cursor, _encode_cursor, _endpoint_problem, _moment
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
    """The command line: a parser per subcommand, each naming the function that runs it (`command`); each
    command group's module adds its own (`register`)."""
    parser = _Parser(prog="order-creator", description=__doc__, formatter_class=_Help)
    parser.add_argument("--version", action="version", version=f"order-creator {_version()}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for group in (pipeline, queue, orders, dlq, table, events):
        group.register(commands)
    return parser


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
    from order_creator.tooling import OperationError

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
_FILE_COMMANDS = (pipeline._local, queue._queue_send, pipeline._cart_api)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
