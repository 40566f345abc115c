"""Child process for concurrency tests: run the real handler on the SQS events in a JSON file.

Usage: python -m tests.integration.run_batches EVENTS.json  (prints the failed message ids as JSON)
"""

from __future__ import annotations

import json
import sys

from order_creator.handler import lambda_handler
from tests.factories import lambda_context


def main(path: str) -> None:
    with open(path, encoding="utf-8") as events_file:
        events = json.load(events_file)
    failed: list[str] = []
    for event in events:
        response = lambda_handler(event, lambda_context(60))
        failed.extend(failure["itemIdentifier"] for failure in response["batchItemFailures"])
    sys.stdout.write("FAILED " + json.dumps(failed) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
