"""What every part of the command shares: the exit codes, the usage error, how a line reaches the user, how a
(sub)command's parser is built, and the options and defaults several commands take (--table, the dead-letter queue)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

EXIT_FAILED = 1  # the command ran and its answer is no (no such order, results not as expected)


EXIT_USAGE = 2  # the command line or the environment is wrong (a bad argument, a missing table or queue...)


_ENDPOINT_HELP = "DynamoDB/SQS endpoint, e.g. an emulator: http://127.0.0.1:5000 (default: $AWS_ENDPOINT_URL, else AWS)"


class UsageError(Exception):
    """The command line or environment is wrong: one line, exit code 2."""


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _plural(count: int, word: str) -> str:
    from order_creator.worker import plural

    return plural(count, word)


def _shown(value: Any, most: int = 200) -> str:
    """A stored value as one line of a listing: whatever an item of a lived table holds, one short line."""
    text = " ".join(str(value).split())
    return text if len(text) <= most else text[:most] + "..."


# parsers --------------------------------------------------------------------------------------------


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


def _group(commands: Any, name: str, description: str) -> Any:
    """A command with actions of its own (`orders get`, `dlq inspect`): returns where to add them."""
    group = commands.add_parser(name, help=description, description=description, formatter_class=_Help)
    return group.add_subparsers(title="actions", required=True, metavar="ACTION")


def _command(
    commands: Any, name: str, description: str, *, endpoint: str | None = _ENDPOINT_HELP
) -> argparse.ArgumentParser:
    """A (sub)command's parser: its help shows every default; `endpoint` is its --endpoint-url help, None for none."""
    from order_creator.cli.inputs import _endpoint

    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=description, description=description, formatter_class=_Help
    )
    if endpoint is not None:
        parser.add_argument("--endpoint-url", metavar="URL", type=_endpoint, help=endpoint)
    return parser


def _table_option(parser: argparse.ArgumentParser) -> None:
    from order_creator.cli.inputs import _table_name

    parser.add_argument(
        "--table", metavar="NAME", type=_table_name, help="the orders table (default: $DYNAMODB_TABLE_NAME)"
    )


# what several commands work on ----------------------------------------------------------------------


def _dao(args: argparse.Namespace) -> Any:
    from order_creator import clients
    from order_creator.store.table import Table

    return Table(_table_of(args), clients.dynamodb())


def _table_of(args: argparse.Namespace) -> str:
    """The table the command works on: --table or DYNAMODB_TABLE_NAME (kept in args.table for error messages)."""
    from order_creator.cli.inputs import _table_name

    if not args.table:
        variable = os.environ.get("DYNAMODB_TABLE_NAME")
        if not variable:
            raise UsageError("no table: pass --table NAME or set DYNAMODB_TABLE_NAME")
        try:
            args.table = _table_name(variable)
        except argparse.ArgumentTypeError as error:
            raise UsageError(f"DYNAMODB_TABLE_NAME: {error}") from None
    return str(args.table)
