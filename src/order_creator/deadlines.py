"""The invocation's deadline, and every bound the batch derives from it, in one place (docs/reliability.md has
the table: what each stage waits for, and what it keeps for the stages after it).

The settings that decide the clients' worst cases live here too: `cart.CartService` builds its urllib3 `Retry`
from the CART_BACKOFF_* constants and `clients` its botocore `Config` from the AWS_* ones; template.yaml's Rules
refuse a function timeout shorter than `batch_minimum_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# --- the Cart API client: urllib3's Retry, between attempts -------------------------------------------------
CART_BACKOFF_FACTOR = 0.1
CART_BACKOFF_JITTER = 0.1
CART_BACKOFF_MAX = 1.0

# --- the AWS clients: botocore's Config (DynamoDB, the dead-letter queue's SQS, EventBridge) -------------------
AWS_CONNECT_TIMEOUT_SECONDS = 2.0
AWS_READ_TIMEOUT_SECONDS = 5.0
AWS_MAX_ATTEMPTS = 3
# botocore's standard retry mode sleeps at most min(2 ** (attempt - 1), 20) seconds after a failed attempt
# (throttling's base; other errors sleep less). An `x-amz-retry-after` answer may stretch a sleep by up to 5 s
# more; DynamoDB, SQS and EventBridge are not documented to send it, so it is left out.
_AWS_BACKOFF_BASE = 2.0
_AWS_BACKOFF_CAP = 20.0
_AWS_DEFAULT_ATTEMPTS = {"standard": 3, "adaptive": 3, "legacy": 5}

# --- what the batch keeps back from its deadline ------------------------------------------------------------
RETURN_SECONDS = 0.1  # after the dead-letter sends: the log lines, the metrics, the return itself
ANSWER_SECONDS = 0.4  # after the last write round: the dead-letter sends, then RETURN_SECONDS
WRITE_SECONDS = 0.4  # the least time a write round is started with, before ANSWER_SECONDS
PREPARE_SECONDS = 0.2  # between the carts' cut-off and the first write round: numbering, sizing, packing
# Kept when the carts or the read are late; with the Cart API's worst case, the least time a batch starts with.
BATCH_MARGIN_SECONDS = PREPARE_SECONDS + WRITE_SECONDS + ANSWER_SECONDS


def cart_worst_case_seconds(timeout: float, retries: int) -> float:
    """The longest one cart fetch takes: every attempt its whole timeout, and urllib3's back-off between them
    (none after the first failure, then factor × 2 ** (failures - 1) plus up to the jitter, capped)."""
    backoff = sum(
        min(CART_BACKOFF_MAX, CART_BACKOFF_FACTOR * 2.0 ** (failures - 1) + CART_BACKOFF_JITTER)
        for failures in range(2, retries + 1)
    )
    return round(timeout * (retries + 1) + backoff, 6)  # 3.3, not 3.3000000000000003: printed, and compared


def batch_minimum_seconds(cart_worst_case: float) -> float:
    """The least time a batch is started with (and the least function timeout that can work): a cart's worst
    case, then a write round and the answer."""
    return round(cart_worst_case + BATCH_MARGIN_SECONDS, 6)


def call_worst_case_seconds(client: Any) -> float:
    """The longest one call of a botocore `client` takes by its own `Config` (botocore's defaults where unset):
    every attempt its whole connect and read timeouts, and the longest back-off between attempts. A call the
    batch stopped waiting for keeps its thread at most this long."""
    config = client.meta.config
    retries = config.retries or {}
    if "total_max_attempts" in retries:
        attempts = int(retries["total_max_attempts"])
    elif "max_attempts" in retries:  # the retries after the first attempt
        attempts = int(retries["max_attempts"]) + 1
    else:
        attempts = _AWS_DEFAULT_ATTEMPTS.get(str(retries.get("mode", "legacy")), 5)
    backoff = sum(min(_AWS_BACKOFF_CAP, _AWS_BACKOFF_BASE ** (attempt - 1)) for attempt in range(1, attempts))
    return attempts * (float(config.connect_timeout) + float(config.read_timeout)) + backoff


class Deadline:
    """A moment on the monotonic clock: taken once per invocation, passed to every stage."""

    def __init__(self, seconds_left: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock() + seconds_left

    def left(self) -> float:
        """Seconds until the deadline (negative once past)."""
        return self._at - self._clock()
