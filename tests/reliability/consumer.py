"""A consumer in a child process, for tests of concurrent Lambdas: warm, then at an agreed moment, the real handler
on each SQS event of a file in turn, each invocation with the same short deadline.

Child: `python -m tests.reliability.consumer EVENTS.json SECONDS START` (START: a time.time() to begin at) prints
`FAILED [ids...]` on its last line. Parent: `run_consumers` starts one per events file and gathers what failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_consumers(batches_per_consumer: list[list[list[dict[str, Any]]]], folder: Path, seconds: float) -> list[str]:
    """Run one process per consumer, all starting their first batch at the same moment; the ids they failed."""
    paths = []
    for number, batches in enumerate(batches_per_consumer):
        path = folder / f"consumer-{number}.json"
        path.write_text(json.dumps([{"Records": records} for records in batches]))
        paths.append(path)
    start = time.time() + 8 + 2 * len(paths)  # every process imported and warm by then, on a loaded machine
    env = {**os.environ, "LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.consumer", str(path), str(seconds), str(start)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    failed: list[str] = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err[-4000:]
        failed.extend(json.loads(out.rsplit("FAILED ", 1)[1]))
    return failed


def main() -> None:
    """Child entry point."""
    from order_creator.handler import lambda_handler
    from tests.factories import lambda_context

    events_path, seconds, start = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    events = json.loads(Path(events_path).read_text())
    lambda_handler({"Records": []}, lambda_context(60))  # warm: clients and wiring built, as in a warm Lambda
    late = start - time.time()
    assert late > 0, f"the consumer was ready {-late:.1f} s after the agreed start"
    time.sleep(late)
    failed: list[str] = []
    for event in events:
        response = lambda_handler(event, lambda_context(seconds))
        failed.extend(failure["itemIdentifier"] for failure in response["batchItemFailures"])
    sys.stdout.write("FAILED " + json.dumps(failed) + "\n")


if __name__ == "__main__":
    main()
