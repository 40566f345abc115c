"""The worst case of one AWS SDK call, read from real botocore clients' own settings (no request is made)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.config import Config

from order_creator import clients, publishing
from order_creator.deadlines import call_worst_case_seconds
from tests.factories import forget_clients


def _client(**config: Any) -> Any:
    session = botocore.session.Session()
    return session.create_client("sqs", region_name="us-east-1", config=Config(**config))


@pytest.mark.parametrize(
    ("config", "seconds"),
    [
        # three attempts of 2 + 5 s, and the back-off after the first two: at most 1 s, then 2 s
        ({"connect_timeout": 2, "read_timeout": 5, "retries": {"mode": "standard", "total_max_attempts": 3}}, 24.0),
        # max_attempts counts the retries after the first attempt
        ({"connect_timeout": 1, "read_timeout": 1, "retries": {"mode": "standard", "max_attempts": 1}}, 5.0),
        # one attempt: no back-off
        ({"connect_timeout": 1, "read_timeout": 2, "retries": {"total_max_attempts": 1}}, 3.0),
        # the back-off is capped at 20 s a sleep: 1 + 2 + 4 + 8 + 16 + 20
        ({"connect_timeout": 1, "read_timeout": 1, "retries": {"mode": "standard", "total_max_attempts": 7}}, 65.0),
        # botocore's defaults: 60 s timeouts, standard mode's three attempts
        ({"retries": {"mode": "standard"}}, 363.0),
    ],
)
def test_the_worst_case_is_every_attempt_timed_out_and_the_longest_back_off(monkeypatch, config, seconds):
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    assert call_worst_case_seconds(_client(**config)) == seconds


def test_the_handlers_clients_worst_case_comes_from_their_config(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config = clients._config()
    attempts = config.retries["total_max_attempts"]
    expected = attempts * (config.connect_timeout + config.read_timeout) + sum(2**i for i in range(attempts - 1))
    forget_clients()  # made here without an endpoint: later tests must not inherit them
    try:
        assert call_worst_case_seconds(clients.sqs()) == call_worst_case_seconds(publishing.eventbridge()) == expected
    finally:
        forget_clients()
