"""How long one AWS SDK call may take, by its botocore client's own settings.

A botocore call cannot be cut short from outside: what bounds it is its client's connect and read timeouts,
its attempts and the back-off between them. The dead-letter sends and the events publisher start a request
only when that worst case fits in the time they have left, so their waits end before the deadline.
"""

from __future__ import annotations

from typing import Any

# botocore's standard retry mode sleeps at most min(2 ** (attempt - 1), 20) seconds after a failed attempt
# (1 s base for throttling, 50 ms otherwise: the throttling base is the longer). An `x-amz-retry-after` header
# may stretch a sleep by up to 5 s more; SQS and EventBridge are not documented to send it, so it is left out.
_BACKOFF_BASE = 2.0
_BACKOFF_CAP = 20.0
_DEFAULT_ATTEMPTS = {"standard": 3, "adaptive": 3, "legacy": 5}


def call_worst_case_seconds(client: Any) -> float:
    """The longest one call of `client` takes: every attempt its whole connect and read timeouts, and the
    longest back-off between attempts. Reads the client's `Config` (botocore's defaults where unset)."""
    config = client.meta.config
    attempts = _attempts(config.retries or {})
    backoff = sum(min(_BACKOFF_CAP, _BACKOFF_BASE ** (attempt - 1)) for attempt in range(1, attempts))
    return attempts * (float(config.connect_timeout) + float(config.read_timeout)) + backoff


def _attempts(retries: dict[str, Any]) -> int:
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    if "max_attempts" in retries:  # retries after the first attempt
        return int(retries["max_attempts"]) + 1
    return _DEFAULT_ATTEMPTS.get(str(retries.get("mode", "legacy")), 5)
