"""The CLI as an operator meets it: each mistake of the command line or the environment is one line naming the
thing to change, with the documented exit code, never a traceback nor a quiet success."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import uuid
from typing import Any

import pytest

from order_creator.queues import enqueue
from order_creator.store.keys import table_definition
from tests.factories import message
from tests.integration.test_cli import HoldingProxy, assert_no_traceback, interrupt, start
from tests.integration.test_worker import ORDER_CREATOR
from tests.reliability.faults import WireProxy

BAD_RANGES = [
    (
        (
            "orders",
            "audit",
            "--tenant",
            "acme",
            "--from",
            "0001-01-01",
            "--to",
            "0001-01-02",
            "--timezone",
            "Asia/Tokyo",
        ),
        "--from 0001-01-01 in Asia/Tokyo reaches outside the calendar",
    ),
    (("orders", "audit", "--tenant", "acme", "--to", "0001-01-01", "--timezone", "Asia/Tokyo"), "--to 0001-01-01"),
    (("orders", "list", "--tenant", "acme", "--from", "0001-01-01T00:00:00+14:00"), "is outside the calendar in UTC"),
    (("orders", "list", "--tenant", "acme", "--to", "9999-12-31T23:59:59-12:00"), "is outside the calendar in UTC"),
    (
        ("events", "replay", "--tenant", "acme", "--bus", "b", "--from", "0001-01-01T00:00:00+14:00"),
        "is outside the calendar in UTC",
    ),
    (
        (
            "events",
            "replay",
            "--tenant",
            "acme",
            "--bus",
            "b",
            "--from",
            "2025-12-01",
            "--to",
            "9999-12-31T23:59:59-12:00",
        ),
        "is outside the calendar in UTC",
    ),
    (
        ("events", "replay", "--tenant", "acme", "--bus", "b", "--from", "2025-12-31", "--to", "2025-12-01"),
        "--from 2025-12-31 is after --to 2025-12-01",
    ),
    (("orders", "list", "--tenant", "ac me"), "'ac me' is not a tenant id (1-64 of A-Z a-z 0-9 _ -)"),
    (("orders", "list", "--tenant", "a" * 300), "... (300 characters)' is not a tenant id"),
    (("orders", "audit", "--tenant", "a#b"), "'a#b' is not a tenant id"),
    (("events", "replay", "--tenant", "", "--bus", "b", "--from", "2025-12-01"), "'' is not a tenant id"),
]


@pytest.mark.parametrize(("args", "says"), BAD_RANGES)
def test_out_of_range_dates_and_bad_tenants_are_one_line_and_exit_2(args, says, run, table_name):
    code, out, err = run(*args, "--table", table_name)
    assert code == 2, err
    assert says in err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and not out


def test_an_unknown_tenant_has_nothing_to_audit_and_says_so(run, table_name):
    code, out, err = run("orders", "audit", "--tenant", "nobody-at-all", "--table", table_name)
    assert code == 1
    assert not out
    assert "tenant nobody-at-all has no counter and no order up to " in err
    assert "is the tenant id right?" in err


ORDER = "00000000-0000-4000-8000-000000000000"


def test_a_bad_order_number_timezone_is_named_as_the_variable_not_as_an_option(run, table_name, monkeypatch):
    monkeypatch.setenv("ORDER_NUMBER_TIMEZONE", "Mars/Olympus_Mons")
    code, _, err = run("orders", "audit", "--tenant", "acme", "--table", table_name)
    assert code == 2
    assert err.strip() == (
        "order-creator: error: ORDER_NUMBER_TIMEZONE 'Mars/Olympus_Mons' is not an IANA time zone "
        "(e.g. UTC, Africa/Johannesburg)"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("[{not json", "is not valid JSON"),
        ('{"cartId": "c"}', "expected a JSON array of carts, each with a tenantId and a cartId"),
        ("[1, 2]", "expected a JSON array of carts"),
    ],
)
def test_cart_api_with_a_carts_file_that_is_not_carts_is_one_line(content, says, run, tmp_path):
    carts = tmp_path / "carts.json"
    carts.write_text(content)
    code, _, err = run("cart-api", "--carts", str(carts), "--port", "0")
    assert code == 2
    (line,) = err.splitlines()
    assert str(carts) in line and says in line


def test_version_prints_the_version(run):
    code, out, _ = run("--version")
    assert code == 0
    assert re.fullmatch(r"order-creator \d+\.\d+\.\d+\n", out)


def test_replay_to_a_bus_that_does_not_exist_names_the_bus(run, table_name):
    code, _, err = run(
        "events", "replay", "--tenant", "acme", "--from", "2025-12-01", "--bus", "no-such-bus", "--table", table_name
    )
    assert code == 2
    (line,) = err.splitlines()
    assert "no event bus 'no-such-bus'" in line and "pass --bus NAME or set EVENT_BUS_NAME" in line
    assert "run the replay again" not in line


def test_events_show_on_a_queue_of_other_messages_says_so_without_blank_rows(run, sqs):
    queue = sqs.create_queue(QueueName=f"plain-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    enqueue(sqs, queue, ["hello", '{"orderId": "x"}'])
    code, out, err = run("events", "show", "--queue-url", queue)
    assert code == 0
    assert "2 message(s) in the queue are not order events (not shown)" in err
    assert len(out.splitlines()) <= 2  # the header and its rule alone, no blank rows


def test_dlq_inspect_on_an_events_queue_says_they_are_not_dead_letters(run, sqs):
    queue = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    event = {"id": "e-1", "source": "order-creator", "detail-type": "OrderCreated", "detail": {"orderId": "o"}}
    enqueue(sqs, queue, [json.dumps(event)])
    code, out, err = run("dlq", "inspect", "--queue-url", queue)
    assert code == 0
    assert "not a dead letter: an EventBridge event" in out
    assert "redrive policy" not in out
    assert "1 of these are EventBridge events, not dead letters: is --queue-url the dead-letter queue?" in err


def test_https_to_a_plain_http_endpoint_says_to_use_http(moto_url, table_name):
    # (a process of its own: the clients it makes point at the wrong scheme for the rest of its life)
    https = moto_url.replace("http://", "https://")
    result = subprocess.run(
        [ORDER_CREATOR, "orders", "get", ORDER, "--table", table_name, "--endpoint-url", https],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"no TLS at {https}" in line and "give it as http://" in line


def test_aws_region_wins_over_aws_default_region(dynamodb, moto_url):
    # Given a table that exists only in eu-west-1
    import boto3

    name = f"region-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb", endpoint_url=moto_url, region_name="eu-west-1").create_table(**table_definition(name))
    env = {**os.environ, "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_url}

    # When a command runs with both variables set
    result = subprocess.run(
        [ORDER_CREATOR, "orders", "get", ORDER, "--table", name], env=env, capture_output=True, text=True, check=False
    )

    # Then it reads eu-west-1's table (no such order there: 1), not us-east-1 (no such table: 2)
    assert result.returncode == 1, result.stderr
    assert f"no order {ORDER} in table {name}" in result.stderr


def test_local_with_a_name_already_taken_says_to_choose_another(dynamodb, moto_url):
    name = f"taken-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(**table_definition(name))
    result = subprocess.run(
        [ORDER_CREATOR, "local", "--name", name, "--endpoint-url", moto_url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"order-creator: error: CreateTable failed: Table already exists: {name}: choose another --name"
    )


class SecondBatchHeld(HoldingProxy):
    """Forwards the first SendMessageBatch, holds the second."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, "SendMessageBatch")
        self.seen = 0

    def handle(self, request: Any) -> None:
        if (request.headers.get("X-Amz-Target") or "").endswith(".SendMessageBatch"):
            self.seen += 1
            if self.seen == 1:
                WireProxy.handle(self, request)
                return
        super().handle(request)


def test_ctrl_c_in_queue_send_says_how_many_were_sent(moto_url, sqs, tmp_path):
    # Given 15 messages (two requests) and an endpoint that holds the second request
    queue = sqs.create_queue(QueueName=f"send-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps([{"expect": "created", "body": message("acme", f"c{n}")} for n in range(15)]))
    proxy = SecondBatchHeld(moto_url)
    proxy.start()
    try:
        child = start(
            "queue",
            "send",
            "--queue-url",
            queue,
            "--messages",
            str(messages),
            "--endpoint-url",
            proxy.url,
            env=dict(os.environ),
        )
        assert proxy.arrived.wait(60), child.finish(timeout=5)

        # When Ctrl-C arrives while the second request is held
        out, err, _ = interrupt(child, signal.SIGINT, says="order-creator: interrupted by SIGINT")
    finally:
        proxy.test_over.set()
        proxy.released.set()
        proxy.stop()

    # Then it says how many went (the ten of the first request), prints their ids, and exits 130
    assert child.returncode == 130, err
    assert f"queue send: interrupted: sent 10 of 15 messages from {messages} (the first 10)" in err
    assert len(out.splitlines()) == 10
    assert_no_traceback(err)
