"""The real handler on one SQS event in a child process, so that a test can SIGKILL it mid-batch.

Child: `python -m tests.reliability.child EVENT.json RESPONSE.json [HANDLER]` runs `lambda_handler` (or
the handler named, e.g. `order_creator.events.lambda_handler`) on the event and writes its response.
Parent: `run_in_child` starts it, arms a `Crash` on the servers it talks to, and says whether it was killed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.reliability.faults import CartApi, Crash, WireProxy

ROOT = Path(__file__).resolve().parents[2]


def run_in_child(
    records: list[dict[str, Any]],
    *,
    proxy: WireProxy,
    carts: CartApi,
    step: str | None = None,
    carts_expected: int = 0,
    timeout: float = 120,
    handler: str = "order_creator.handler.lambda_handler",
    output: list[str] | None = None,
) -> list[str] | None:
    """Run the handler on `records` in a fresh process; with `step`, kill it there.

    Returns the reported `batchItemFailures` ids, or None when the process was killed. The child's
    log output is copied to this process's stdout, so a test capturing output sees it too; with `output`,
    everything the child wrote (stdout and stderr) is also appended there.
    """
    with tempfile.TemporaryDirectory() as folder:
        event, response = Path(folder, "event.json"), Path(folder, "response.json")
        event.write_text(json.dumps({"Records": records}))
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.child", str(event), str(response), handler],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        crash = Crash(process.pid, step, carts_expected) if step else None
        proxy.crash = carts.crash = crash
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            proxy.crash = carts.crash = None
        sys.stdout.write(out)
        if output is not None:
            output += [out, err]
        if process.returncode == -signal.SIGKILL:
            assert crash is not None, f"killed by someone else: {err[-2000:]}"
            return None
        assert process.returncode == 0, f"child failed ({process.returncode}): {err[-4000:]}"
        document = json.loads(response.read_text())
        return [failure["itemIdentifier"] for failure in document["batchItemFailures"]]


def carts_fetched_by(records: list[dict[str, Any]]) -> int:
    """How many carts the handler fetches for this batch: one per distinct order id that parses."""
    from order_creator.errors import InvalidMessage
    from order_creator.models import parse_message

    order_ids = set()
    for record in records:
        try:
            order_ids.add(parse_message(record["body"]).order_id)
        except InvalidMessage:
            continue
    return len(order_ids)


def main() -> None:
    """Child entry point."""
    import importlib

    from tests.factories import lambda_context

    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        # What Lambda's runtime does with AWS_LAMBDA_LOG_LEVEL: the root logger at that level, to stdout.
        logging.basicConfig(level=level, stream=sys.stdout)
    event_path, response_path, handler = sys.argv[1:4]
    module, _, name = handler.rpartition(".")
    lambda_handler = getattr(importlib.import_module(module), name)
    response = lambda_handler(json.loads(Path(event_path).read_text()), lambda_context(30.0))
    Path(response_path).write_text(json.dumps(response))


if __name__ == "__main__":
    main()
