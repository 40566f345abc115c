"""One version of the handler, warm, in its own process, driven line by line (`bench/versus.py`, the contention run).

    python bench/warm.py SRC_DIR [--meter]

`order_creator` is imported from SRC_DIR's tree, never another (the first answer names the file). Each stdin line is
an SQS event, handled warm; each answer a JSON line (the handler's own stdout, its EMF metrics, goes to /dev/null):
`wall_s`, `cpu_s` (user + system, every thread), `failed` (message ids) and, with `--meter`, `errors` (the DynamoDB
errors the product's client met).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    source = Path(sys.argv[1]).resolve()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the handler's prints (EMF) go nowhere
    sys.path.insert(0, str(source))
    sys.path.insert(1, str(Path(__file__).resolve().parent))
    from order_creator import handler
    from order_creator.worker import WorkerContext

    imported = Path(handler.__file__ or "").resolve()
    if source not in imported.parents:
        raise SystemExit(f"order_creator came from {imported}, not from {source}")
    meter = None
    if "--meter" in sys.argv:
        from capacity import Meter
        from order_creator.clients import dynamodb

        meter = Meter()
        meter.watch(dynamodb())
    answers.write(json.dumps({"ready": True, "file": str(imported)}) + "\n")
    for line in sys.stdin:
        before_errors = meter.counts() if meter else None
        tick, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        response = handler.lambda_handler(json.loads(line), WorkerContext(time.monotonic() + 60.0))
        wall, after = time.perf_counter() - tick, resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        answer = {"wall_s": wall, "cpu_s": cpu, "failed": [f["itemIdentifier"] for f in response["batchItemFailures"]]}
        if meter is not None and before_errors is not None:
            errors = (meter.counts() - before_errors).items()
            answer["errors"] = {key.removeprefix("error:"): n for key, n in errors if key.startswith("error:")}
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
