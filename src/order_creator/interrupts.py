"""Ctrl-C and SIGTERM for the `order-creator` command: one scheme for every subcommand.

- A first SIGINT or SIGTERM outside a batch ends the command where it is (creating a table or a client,
  waiting on a long poll, reading results): `Interrupted` is raised in the main thread, the command's
  `finally` blocks stop what it started, and the CLI prints one line.
- A first signal while a batch is in hand (inside `batch_in_hand`) only asks for a stop: the batch
  finishes and its successes are deleted, so nothing is lost and nothing is done twice.
- A second signal ends the process at once, by the signal's own default action: no cleanup, no traceback.

Only the main thread receives signals; `handle_signals` must be entered there. Without it (a library
caller, a test thread) `batch_in_hand` does nothing and a signal keeps Python's default behaviour.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM ended the command before its work was done."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        """SIGINT or SIGTERM."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell's convention for a command ended by a signal: 128 + its number (130 for Ctrl-C)."""
        return 128 + self.signum


class _Scheme:
    def __init__(self) -> None:
        self.received: int | None = None  # the first signal, once one came
        self.on_stop: Callable[[str], None] | None = None  # set while a batch is in hand


_installed: list[_Scheme] = []  # the scheme in force, if any (a list: no `global` in a signal's context)


@contextmanager
def handle_signals(*, restore: bool = True) -> Iterator[None]:
    """Install the scheme for the duration of a command (main thread only), then restore the previous handlers.

    `restore=False` is for the process's own command: afterwards a signal takes its default action (the
    process ends at once, quietly), so one that lands while the interpreter shuts down shows no traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    scheme = _Scheme()

    def on_signal(signum: int, _frame: object) -> None:
        if scheme.received is not None:
            _end_now(signum)
        scheme.received = signum
        name = signal.Signals(signum).name
        if scheme.on_stop is not None:
            scheme.on_stop(name)
            return
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in SIGNALS}
    _installed.append(scheme)
    try:
        yield
    finally:
        _installed.remove(scheme)
        for sig, handler in previous.items():
            signal.signal(sig, handler if restore else signal.SIG_DFL)


def received() -> int | None:
    """The first signal the scheme in force has received, if any (an error raised after it is its consequence)."""
    return _installed[-1].received if _installed else None


@contextmanager
def batch_in_hand(on_stop: Callable[[str], None]) -> Iterator[None]:
    """While inside, a first signal calls `on_stop(signal name)` instead of interrupting the work."""
    scheme = _installed[-1] if _installed else None
    if scheme is None:
        yield
        return
    scheme.on_stop = on_stop
    try:
        yield
    finally:
        scheme.on_stop = None


def say(line: str) -> None:
    """Write a line to stderr from a signal handler (os.write takes no lock that the interrupted code may hold)."""
    os.write(sys.stderr.fileno(), (line + "\n").encode())


def _end_now(signum: int) -> None:
    say(f"order-creator: second {signal.Signals(signum).name}: ending now")
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
