"""What every part of the command shares: the exit codes, the usage error, how a line reaches the user."""

from __future__ import annotations

import sys
from typing import Any

EXIT_FAILED = 1  # the command ran and its answer is no (no such order, results not as expected)


EXIT_USAGE = 2  # the command line or the environment is wrong (a bad argument, a missing table or queue...)


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
