"""One version of the handler, warm, in its own process, driven line by line: the meter of `bench/versus.py`.

    python bench/warm.py SRC_DIR

`SRC_DIR` goes first on `sys.path`, so `order_creator` is imported from that tree (the current one, or a
`git worktree` of the reference commit) and never from another; the first answer names the file imported.
Both sides of a comparison run this same file, so they are timed by the same meter.

Commands, one JSON object per stdin line; one JSON answer per line on the original stdout (the handler's own
stdout, its EMF metrics, goes to /dev/null):

- `{"event": {...}}`: handle it warm; answer `{"wall_s", "cpu_s", "user_s", "failures"}`. `cpu_s` is the
  process's CPU time, user and system (every thread: the cart fetches run in a pool) during the call.
- `{"profile": [event, ...], "out": PATH}`: handle the events under pyinstrument with the processor's pool
  replaced by one that runs each task at once in the calling thread (pyinstrument samples one thread; the work is
  the same, only not overlapped); write the session to PATH (pyinstrument's JSON) and answer `{"wall_s"}`.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


class InlinePool(Executor):
    """An executor that runs each task when it is submitted, in the submitting thread (for the profile only)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
        return future


def main() -> None:
    source = Path(sys.argv[1]).resolve()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the handler's prints (EMF) go nowhere; answers go to the saved descriptor
    sys.path.insert(0, str(source))
    sys.path.insert(1, str(BENCH))
    from order_creator import handler
    from order_creator.worker import WorkerContext

    def context() -> WorkerContext:
        return WorkerContext(time.monotonic() + 60.0)

    imported = Path(handler.__file__ or "").resolve()
    if source not in imported.parents:
        raise SystemExit(f"order_creator came from {imported}, not from {source}")
    answers.write(json.dumps({"ready": True, "file": str(imported)}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if "event" in command:
            tick, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
            response = handler.lambda_handler(command["event"], context())
            wall, after = time.perf_counter() - tick, resource.getrusage(resource.RUSAGE_SELF)
            user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
            failures = len(response["batchItemFailures"])
            answer: dict[str, Any] = {"wall_s": wall, "cpu_s": user + system, "user_s": user, "failures": failures}
        else:
            answer = {"wall_s": _profile(handler, command["profile"], command["out"], context)}
        answers.write(json.dumps(answer) + "\n")


def _profile(handler: Any, events: list[dict[str, Any]], out: str, context: Any) -> float:
    from pyinstrument import Profiler

    from order_creator.settings import Settings

    processor = handler._wiring(Settings.from_env())[0]
    pool, processor._pool = processor._pool, InlinePool()
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    tick = time.perf_counter()
    try:
        with profiler:
            for event in events:
                handler.lambda_handler(event, context())
    finally:
        processor._pool = pool
    wall = time.perf_counter() - tick
    assert profiler.last_session is not None
    profiler.last_session.save(out)
    return wall


if __name__ == "__main__":
    main()
