"""The `order-creator` command: the real process for `local`, redrive and the worker; orders, dlq and table
commands against a real moto server; every user mistake is one line on stderr and a non-zero exit code."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from order_creator.local.run import EXAMPLES
from order_creator.models import load_json
from order_creator.queues import enqueue, inspect_dead_letters
from order_creator.store.keys import table_definition
from order_creator.worker import SqsWorker
from tests.factories import cart, invoke, message, new_tenant, orders_of, record, serve_cart
from tests.integration.test_worker import (  # noqa: F401 - cart_api is a fixture
    ORDER_CREATOR,
    cart_api,
    new_queue,
    queue_counts,
    run_until_drained,
)
from tests.reliability.faults import WireProxy

ROW = re.compile(r"^(?P<message>[0-9a-f]{8})\s{2}")
ORDER = "00000000-0000-4000-8000-000000000000"  # an order id no test stores


def order_creator(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed command in a child process."""
    return subprocess.run(
        [ORDER_CREATOR, *args],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def without_aws(environ: dict[str, str]) -> dict[str, str]:
    """The environment of a fresh machine: no AWS settings, no handler settings."""
    prefixes = ("AWS_", "DYNAMODB_", "CART_", "DEAD_LETTER_", "POWERTOOLS_", "LOG_LEVEL")
    return {k: v for k, v in environ.items() if not k.startswith(prefixes)}


# order-creator local ---------------------------------------------------------------------------------


def test_local_runs_the_examples_end_to_end_and_prints_every_outcome():
    # Given a machine with no AWS settings, and the shipped examples
    entries = load_json((EXAMPLES / "messages.json").read_bytes())
    carts = {(c["tenantId"], c["cartId"]): c for c in load_json((EXAMPLES / "carts.json").read_bytes())}

    # When the README's command runs
    result = order_creator("local", env=without_aws(dict(os.environ)))

    # Then it exits 0 and prints one row per message, each with the outcome the examples expect
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if ROW.match(line)]
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        assert re.search(rf"\s{entry['expect']}\b", row), (row, entry["expect"])
        body = entry["body"]
        # the event column: one OrderCreated event for a created order, none for a duplicate or a dead letter
        assert re.search(r"\sOrderCreated\s" if entry["expect"] == "created" else r"\snone\s", row), row
        if entry["expect"] == "created":
            # the order number, and the total of the cart exactly, as the Cart API gave it
            _, order_id, tenant, number, total, _, _ = re.split(r"\s{2,}", row)
            expected = carts[(body["tenantId"], body["cartId"])]
            assert (order_id, tenant) == (body["orderId"], body["tenantId"])
            assert re.fullmatch(r"ORD-\d{8}-\d{5}", number)
            amount, currency = total.split()
            assert (Decimal(amount), currency) == (expected["total"], expected["currency"])
        if entry["expect"] == "dead-lettered":
            # the reason, whole, on the lines beneath the row
            after = lines[lines.index(row) + 1 :]
            reason = " ".join(line.strip() for line in itertools.takewhile(lambda line: not ROW.match(line), after))
            assert re.match(r"(InvalidMessage|CartNotFound): ", reason), row
    # no line runs wider than 120 characters, and no reason is cut (the longest one ends as the handler wrote it)
    assert max(len(line) for line in lines) <= 120
    assert "billingAddress.country: String should match pattern '^[A-Z]{2}$'" in " ".join(x.strip() for x in lines)
    assert "..." not in result.stdout
    assert "every message ended where expected" in result.stdout
    created = sum(entry["expect"] == "created" for entry in entries)
    assert f"{created} OrderCreated events at " in result.stdout
    assert "one per created order, none for a duplicate or a dead letter" in result.stdout
    assert "queue empty" in result.stderr
    assert "Warning" not in result.stderr  # e.g. Powertools' "No application metrics to publish"
    assert "batch: 10 messages: 6 created, 1 duplicate, 3 dead-lettered, 0 left to SQS" in result.stderr


def test_local_exits_non_zero_when_a_message_does_not_end_as_expected(tmp_path: Path):
    # Given a messages file that expects an order from a cart the Cart API does not have
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps([{"expect": "created", "body": message("acme", "no-such-cart")}]))

    # When it runs
    result = order_creator("local", "--messages", str(messages), env=without_aws(dict(os.environ)))

    # Then the row says what happened and what was expected, and the exit code is 1
    assert result.returncode == 1, result.stderr
    assert "dead-lettered  <- expected created" in result.stdout
    assert "CartNotFound: cart no-such-cart not found" in result.stdout
    assert "1 message: 1 dead-lettered; 1 not as expected" in result.stdout


# dlq redrive + worker -------------------------------------------------------------------------------


def test_redrive_then_the_worker_turns_a_cart_api_outage_into_one_order(
    cart_api,  # noqa: F811 - the fixture imported above
    lambda_env,
    sqs,
    dynamodb,
    table_name,
):
    # Given a message that failed while the Cart API was down (503), until the redrive policy dead-lettered it
    tenant = new_tenant()
    cart_api.put(cart(tenant, "cart-1"))
    cart_api.available = False
    queue_url, dlq_url = new_queue(sqs, visibility_timeout=2, max_receive_count=1)
    body = message(tenant, "cart-1")
    enqueue(sqs, queue_url, [json.dumps(body)])
    run_until_drained(SqsWorker(sqs, queue_url, wait_seconds=1))
    assert len(inspect_dead_letters(sqs, dlq_url)) == 1
    assert orders_of(dynamodb, table_name, tenant) == []

    # When the Cart API is back, the operator redrives the dead-letter queue and runs the worker
    cart_api.available = True
    env = {**os.environ, **lambda_env, "CART_API_TIMEOUT_SECONDS": "3", "LOG_LEVEL": "WARNING"}
    redriven = order_creator("dlq", "redrive", "--queue-url", dlq_url, env=env)
    worked = order_creator(
        "worker",
        "--queue-url",
        queue_url,
        "--until-empty",
        "--wait-seconds",
        "1",
        "--visibility-timeout",
        "10",
        env=env,
    )

    # Then the message went back to its source queue (found from the DLQ) and became exactly one order
    assert redriven.returncode == 0, redriven.stderr
    assert f"-> {queue_url}" in redriven.stderr
    assert "moved 1 message" in redriven.stderr
    assert worked.returncode == 0, worked.stderr
    orders = orders_of(dynamodb, table_name, tenant)
    assert [(o["id"], o["orderNumber"][-5:]) for o in orders] == [(body["orderId"], "00001")]
    assert queue_counts(sqs, queue_url) == (0, 0)
    assert queue_counts(sqs, dlq_url) == (0, 0)


def test_redrive_max_moves_only_that_many(sqs, run):
    # Given three dead letters
    queue_url, dlq_url = new_queue(sqs, visibility_timeout=30, max_receive_count=1)
    enqueue(sqs, dlq_url, ["one", "two", "three"])

    # When two are redriven to a named queue
    code, _, err = run("dlq", "redrive", "--queue-url", dlq_url, "--to-queue-url", queue_url, "--max", "2")

    # Then two moved, with progress shown, and one is left
    assert code == 0, err
    assert "moved 2 messages" in err
    assert queue_counts(sqs, queue_url) == (2, 0)
    assert queue_counts(sqs, dlq_url) == (1, 0)


def test_dlq_inspect_shows_the_reasons_and_deletes_nothing(lambda_env, httpserver, monkeypatch, sqs, run):
    # Given two permanent failures the handler sent to its dead-letter queue
    _, dlq_url = new_queue(sqs, visibility_timeout=30, max_receive_count=5)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq_url)
    tenant = new_tenant()
    missing = message(tenant, "no-such-cart")
    httpserver.expect_request("/v1.0/carts/no-such-cart").respond_with_data("{}", status=404)
    assert invoke(record(missing), record("not json")) == []

    # When the operator inspects it, as a table and as JSON
    code, out, err = run("dlq", "inspect")
    json_code, json_out, _ = run("dlq", "inspect", "--queue-url", dlq_url, "--json")

    # Then each message shows its reason (and ids, never the customer's address) and both are still there
    assert code == 0, err
    assert "CartNotFound: cart no-such-cart not found" in out
    assert "InvalidMessage: body is not valid JSON" in out
    assert missing["orderId"] in out
    assert "jane@example.com" not in out
    assert sorted(json.loads(line)["errorType"] for line in json_out.splitlines()) == ["CartNotFound", "InvalidMessage"]
    assert json_code == 0
    assert queue_counts(sqs, dlq_url) == (2, 0)


# orders get / list ----------------------------------------------------------------------------------


@pytest.fixture
def tenant_orders(lambda_env, httpserver) -> tuple[str, list[dict[str, Any]]]:
    """Seven orders of a new tenant over two days, the even ones paid; returns the tenant and the messages."""
    tenant = new_tenant()
    messages = []
    for i in range(7):
        day, hour = ("2025-12-30", 10 + i) if i < 4 else ("2025-12-31", i)
        paid = {"paymentId": f"pay-{i}", "paidAt": f"{day}T{hour:02d}:30:00+00:00"} if i % 2 == 0 else None
        serve_cart(httpserver, cart(tenant, f"cart-{i}", prices=("0.10", "0.20"), tax="0.05"))
        messages.append(message(tenant, f"cart-{i}", dateCreated=f"{day}T{hour:02d}:00:00+00:00", paymentDetails=paid))
    assert invoke(*(record(m) for m in messages)) == []
    return tenant, messages


def test_orders_list_pages_through_a_tenant_with_limit_and_cursor(tenant_orders, table_name, run):
    tenant, messages = tenant_orders
    # When the operator lists three at a time, continuing from each printed cursor
    seen: list[str] = []
    after: list[str] = []
    for _ in range(len(messages)):
        code, out, err = run("orders", "list", "--tenant", tenant, "--table", table_name, "--limit", "3", *after)
        assert code == 0, err
        rows = out.splitlines()[1:]
        assert 0 < len(rows) <= 3
        seen.extend(row.split()[0] for row in rows)
        cursor = re.search(r"--after (\S+)", err)
        if cursor is None:
            break
        after = ["--after", cursor.group(1), "--page-size", "2"]

    # Then every order was printed exactly once, over three pages
    assert sorted(seen) == sorted(m["orderId"] for m in messages)
    assert len(seen) == len(messages)


def test_orders_list_filters_by_status_and_date_range_as_json(tenant_orders, table_name, run):
    tenant, messages = tenant_orders
    base = ("orders", "list", "--tenant", tenant, "--table", table_name, "--json", "--page-size", "2")

    def ids(*args: str) -> list[str]:
        code, out, err = run(*base, *args)
        assert code == 0, err
        return [json.loads(line)["id"] for line in out.splitlines()]

    # When listing the paid ones, one UTC day, and an inclusive time range
    paid = ids("--status", "PAID")
    day_two = ids("--from", "2025-12-31", "--to", "2025-12-31")
    window = ids("--from", "2025-12-30T11:00:00+00:00", "--to", "2025-12-30T12:00:00Z")

    # Then each holds exactly the matching orders, the date queries in creation order
    assert sorted(paid) == sorted(m["orderId"] for i, m in enumerate(messages) if i % 2 == 0)
    assert day_two == [m["orderId"] for m in messages[4:]]
    assert window == [messages[1]["orderId"], messages[2]["orderId"]]


def test_orders_get_finds_an_order_by_id_alone(tenant_orders, table_name, run):
    _, messages = tenant_orders
    order_id = messages[0]["orderId"]

    # When the operator asks for one order, as text and as JSON
    code, out, err = run("orders", "get", order_id, "--table", table_name)
    json_code, json_out, _ = run("orders", "get", order_id, "--table", table_name, "--json")

    # Then both show it; the JSON amounts are exact (0.10 + 0.20 + 0.05 tax) and carry no table keys
    assert code == 0, err
    assert re.search(r"orderNumber\s+ORD-20251230-0000\d", out)
    assert json_code == 0
    order = json.loads(json_out, parse_float=Decimal)
    assert order["id"] == order_id
    assert order["subtotal"] == Decimal("0.10") + Decimal("0.20")
    assert order["total"] == order["subtotal"] + Decimal("0.05")
    assert order["status"] == "PAID"
    assert "PK" not in order
    assert "GSI2_PK" not in order


# table create ---------------------------------------------------------------------------------------


def test_table_create_makes_the_contract_schema_and_refuses_to_make_it_twice(dynamodb, run, moto_url):
    name = f"orders-dev-{uuid.uuid4().hex[:8]}"
    # When the table is created, then created again
    first = run("table", "create", "--table", name, "--endpoint-url", moto_url)
    second = run("table", "create", "--table", name)

    # Then it has the contract's three indexes, and the second attempt is one line and exit code 2
    assert first[0] == 0, first[2]
    indexes = {i["IndexName"] for i in dynamodb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]}
    assert indexes == {"OrdersByDateIndex", "OrderByIdIndex", "OrdersByCustomerIndex"}
    assert second[0] == 2
    assert second[2] == f"order-creator: error: table {name} already exists: pass another --table, or use it as it is\n"


# user mistakes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("orders", "get", ORDER, "--table", "no-such-table"), "table no-such-table does not exist"),
        (("orders", "list", "--tenant", "t", "--table", "no-such-table"), "table no-such-table does not exist"),
        (("dlq", "inspect", "--queue-url", "{moto}/123456789012/no-such-queue"), "no such queue"),
        (("dlq", "redrive", "--queue-url", "{moto}/123456789012/no-such-queue"), "no such queue"),
        (("local", "--messages", "/no/such/file.json"), "No such file or directory: /no/such/file.json"),
        (("local", "--carts", "{readme}"), "README.md is not valid JSON"),
        (
            ("orders", "list", "--tenant", "t", "--table", "orders-x", "--limit", "0"),
            "argument --limit: 0 is not within",
        ),
        (("orders", "list", "--tenant", "t", "--table", "orders-x", "--after", "garbage"), "is not a cursor"),
        (("orders", "list", "--tenant", "t", "--from", "2025-12-30T10:00"), "needs an offset"),
        (("orders", "get", ORDER), "no table: pass --table NAME or set DYNAMODB_TABLE_NAME"),
        (("dlq", "redrive"), "no dead-letter queue"),
    ],
)
def test_a_user_mistake_is_one_line_on_stderr_and_a_non_zero_exit(args, says, run, moto_url, monkeypatch):
    # Given no table or dead-letter queue in the environment
    monkeypatch.delenv("DYNAMODB_TABLE_NAME", raising=False)
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    readme = str(Path(__file__).parents[2] / "README.md")

    # When the command runs with the mistake
    code, _, err = run(*(a.format(moto=moto_url, readme=readme) for a in args))

    # Then it says so in one line and fails
    assert code != 0
    assert says in err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_the_real_process_prints_one_line_for_a_missing_table(moto_url):
    # When the installed command is asked for an order of a table that does not exist
    result = order_creator("orders", "get", ORDER, "--table", "no-such-table")

    # Then stderr is that one line, no traceback, exit code 2
    assert result.returncode == 2
    assert result.stderr == "order-creator: error: table no-such-table does not exist (Query)\n"


@pytest.mark.parametrize(
    ("table", "queue", "says"),
    [
        ("no-such-table", "orders", "table no-such-table does not exist (DescribeTable)"),
        (None, "no-such-queue", "no such queue"),
    ],
)
def test_the_worker_refuses_a_missing_table_or_queue_before_touching_a_message(
    table, queue, says, lambda_env, monkeypatch, sqs, run, moto_url
):
    # Given a worker pointed at a table or a queue that does not exist
    queue_url, _ = new_queue(sqs, visibility_timeout=30, max_receive_count=3)
    if table:
        monkeypatch.setenv("DYNAMODB_TABLE_NAME", table)
    url = queue_url if queue == "orders" else f"{moto_url}/123456789012/{queue}"

    # When it starts
    code, _, err = run("worker", "--queue-url", url, "--wait-seconds", "0")

    # Then it says which one, in one line, and exits 2
    assert code == 2
    assert says in err
    assert len(err.splitlines()) == 1, err


def test_redrive_to_a_queue_that_does_not_exist_deletes_nothing(sqs, run, moto_url):
    # Given a dead letter
    _, dlq_url = new_queue(sqs, visibility_timeout=1, max_receive_count=1)
    enqueue(sqs, dlq_url, ["keep me"])

    # When it is redriven to a wrong URL
    code, _, err = run("dlq", "redrive", "--queue-url", dlq_url, "--to-queue-url", f"{moto_url}/123456789012/nope")

    # Then the send fails in one line, and the message is still in the dead-letter queue
    assert code == 2
    assert "no such queue (SendMessage)" in err
    assert [letter.body for letter in inspect_dead_letters(sqs, dlq_url)] == ["keep me"]


# signals: Ctrl-C and SIGTERM at every phase ----------------------------------------------------------


class HoldingProxy(WireProxy):
    """The wire proxy in front of moto, holding every request of one operation until `released` is set.

    When `arrived` is set, the process under test is known to be in that phase: creating its table,
    checking it, waiting on the queue, writing a batch. A request still held when the test ends is
    dropped, not forwarded: moto serves one request at a time, and a forwarded 20 s long poll of a
    process long gone would stall the tests after it.
    """

    def __init__(self, upstream: str, operation: str) -> None:
        super().__init__(upstream)
        self.operation = operation
        self.arrived = threading.Event()
        self.released = threading.Event()
        self.test_over = threading.Event()

    def handle(self, request: Any) -> None:
        if (request.headers.get("X-Amz-Target") or "").endswith(f".{self.operation}"):
            self.arrived.set()
            self.released.wait(30)
            if self.test_over.is_set():
                request.close_connection = True
                return
        super().handle(request)


@pytest.fixture
def holding_proxy(moto_url: str) -> Any:
    """Make a HoldingProxy for an operation; all are released and stopped after the test."""
    proxies: list[HoldingProxy] = []

    def make(operation: str) -> HoldingProxy:
        proxy = HoldingProxy(moto_url, operation)
        proxy.start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.test_over.set()
        proxy.released.set()
        proxy.stop()


class Child:
    """The installed command in a child process, its stdout and stderr read as they are written.

    A test waits for what the process says (it took the signal, it finished a phase) before it acts or
    measures, never for a fixed pause: on a loaded machine a pause can end before the process has run.
    """

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [ORDER_CREATOR, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._lines: dict[str, list[str]] = {"out": [], "err": []}
        self._open = {"out": True, "err": True}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(stream, name), daemon=True)
            for stream, name in ((self.process.stdout, "out"), (self.process.stderr, "err"))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, name: str) -> None:
        for line in stream:
            with self._changed:
                self._lines[name].append(line)
                self._changed.notify_all()
        with self._changed:
            self._open[name] = False
            self._changed.notify_all()

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def send_signal(self, number: int) -> None:
        self.process.send_signal(number)

    def line_with(self, text: str, timeout: float = 15) -> str | None:
        """The first stderr line containing `text`, waiting up to `timeout` s for it (None if it never comes)."""

        def found() -> str | None:
            return next((line for line in self._lines["err"] if text in line), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or not self._open["err"], timeout)
            return found()

    def finish(self, timeout: float = 15) -> tuple[str, str]:
        """Wait for the end; the whole stdout and stderr. A process still running after `timeout` s is killed
        and fails the test with what it wrote."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"still running after {timeout:g} s; it wrote: {self._written()}") from None
        for reader in self._readers:
            reader.join(timeout)
        return self._written()

    def _written(self) -> tuple[str, str]:
        with self._changed:
            return "".join(self._lines["out"]), "".join(self._lines["err"])


def start(*args: str, env: dict[str, str]) -> Child:
    """The installed command in a child process, once its signal scheme is in place.

    Python itself catches SIGINT from its first moment, but nothing catches SIGTERM until the command's
    scheme does: the process's caught-signal mask says when a signal reaches the command, not the
    interpreter's start-up (which no program can answer).
    """
    child = Child(*args, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and child.process.poll() is None:
        status = Path(f"/proc/{child.process.pid}/status").read_text()
        caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
        if caught >> (signal.SIGTERM - 1) & 1:
            return child
        time.sleep(0.005)
    raise AssertionError(f"the command never took over its signals: {child.finish(timeout=5)}")


def interrupt(child: Child, number: int, says: str | None = None, timeout: float = 15) -> tuple[str, str, float]:
    """Send the signal and wait for the end; stdout, stderr, and the seconds until the line `says` (else the end).

    With `says`, the seconds are the command's own reaction (signal taken, work stopped, line printed), not
    the interpreter's exit after it, where coverage writes its data file (slowly, on a loaded machine). The
    exit must still come within `timeout`: 15 s is half the 30 s a HoldingProxy holds a request.
    """
    sent = time.monotonic()
    child.send_signal(number)
    if says is None:
        out, err = child.finish(timeout)
        return out, err, time.monotonic() - sent
    said = child.line_with(says, timeout)
    reacted = time.monotonic() - sent
    out, err = child.finish(timeout)
    assert said is not None, err
    return out, err, reacted


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err, err
    assert "Exception ignored" not in err, err
    assert "KeyboardInterrupt" not in err, err


@pytest.mark.parametrize("operation", ["CreateTable", "CreateQueue", "SendMessageBatch"])
def test_ctrl_c_while_local_sets_up_ends_it_in_one_line_with_exit_code_130(operation, holding_proxy):
    # Given `local` on an endpoint that holds the step in question (table creation, queue creation, enqueueing)
    proxy = holding_proxy(operation)
    process = start("local", "--endpoint-url", proxy.url, env=without_aws(dict(os.environ)))
    assert proxy.arrived.wait(60), process.finish(timeout=5)

    # When Ctrl-C arrives during that step
    _, err, seconds = interrupt(process, signal.SIGINT, says="order-creator: interrupted by SIGINT")

    # Then it ends at once (its line within 5 s, not when the step's 30 s hold ends), in one line, with the
    # shell's code for SIGINT
    assert process.returncode == 130, err
    assert err.splitlines()[-1] == "order-creator: interrupted by SIGINT"
    assert_no_traceback(err)
    assert seconds < 5


def test_ctrl_c_while_local_writes_a_batch_finishes_the_batch_then_reports_and_exits_130(holding_proxy):
    # Given `local` whose first batch is writing its orders
    proxy = holding_proxy("TransactWriteItems")
    process = start("local", "--endpoint-url", proxy.url, env=without_aws(dict(os.environ)))
    assert proxy.arrived.wait(60), process.finish(timeout=5)

    # When Ctrl-C arrives, is taken (the process says so), and the write then completes
    process.send_signal(signal.SIGINT)
    taken = process.line_with("SIGINT: finishing the batch in hand")
    proxy.released.set()
    out, err = process.finish()

    # Then the batch was finished and reported, what it knows is printed, and the exit code says SIGINT
    assert process.returncode == 130, err
    assert taken is not None, err
    assert "SIGINT: finishing the batch in hand (10 messages)" in err
    assert "stopped (SIGINT)" in err
    assert "created" in out
    assert err.splitlines()[-1] == "order-creator: interrupted by SIGINT"
    assert_no_traceback(err)


@pytest.fixture
def worker_env(cart_api, lambda_env) -> dict[str, str]:  # noqa: F811 - cart_api is the fixture imported above
    """The worker's environment: the session's table, the local Cart API, a budget a 10 s visibility fits."""
    return {**os.environ, **lambda_env, "CART_API_TIMEOUT_SECONDS": "2", "LOG_LEVEL": "WARNING"}


@pytest.mark.parametrize(
    ("operation", "code", "says"),
    [
        ("DescribeTable", 130, "order-creator: interrupted by SIGINT"),  # checking the table, before any message
        ("GetQueueAttributes", 130, "order-creator: interrupted by SIGINT"),  # checking the queue
        ("ReceiveMessage", 0, "worker: stopped (SIGINT): no message received"),  # idle, in a long poll
    ],
)
def test_ctrl_c_at_each_phase_of_the_worker_ends_it_at_once_in_one_line(
    operation, code, says, worker_env, holding_proxy, sqs
):
    # Given a worker held in one phase (its long poll could last 20 s)
    queue_url, _ = new_queue(sqs, visibility_timeout=10, max_receive_count=3)
    proxy = holding_proxy(operation)
    process = start("worker", "--queue-url", queue_url, "--endpoint-url", proxy.url, env=worker_env)
    assert proxy.arrived.wait(60), process.finish(timeout=5)

    # When Ctrl-C arrives
    _, err, seconds = interrupt(process, signal.SIGINT, says=says)

    # Then it ends within moments (its line within 5 s, not after the 30 s hold or a 20 s long poll), with one
    # line that says how, and no traceback
    assert process.returncode == code, err
    assert err.splitlines()[-1] == says
    assert "batch in hand (" not in err  # no word of a batch that does not exist
    assert_no_traceback(err)
    assert seconds < 5


def test_a_second_signal_during_a_batch_ends_the_worker_at_once(worker_env, holding_proxy, sqs, cart_api):  # noqa: F811
    # Given a worker in the middle of a batch whose write is held
    tenant = new_tenant()
    cart_api.put(cart(tenant, "cart-1"))
    queue_url, _ = new_queue(sqs, visibility_timeout=10, max_receive_count=3)
    enqueue(sqs, queue_url, [json.dumps(message(tenant, "cart-1"))])
    proxy = holding_proxy("TransactWriteItems")
    process = start("worker", "--queue-url", queue_url, "--endpoint-url", proxy.url, env=worker_env)
    assert proxy.arrived.wait(60), process.finish(timeout=5)

    # When Ctrl-C comes twice: the second once the first is taken (two signals before the handler runs are
    # one signal to Python, and the batch would then end only when its 30 s hold does)
    process.send_signal(signal.SIGINT)
    first = process.line_with("worker: SIGINT: finishing the batch in hand")
    _, err, seconds = interrupt(process, signal.SIGINT)

    # Then the first asks for the end of the batch, the second ends the process by SIGINT itself, at once
    assert first is not None, err
    assert "worker: SIGINT: finishing the batch in hand (1 message), then stopping" in err
    assert err.splitlines()[-1] == "order-creator: second SIGINT: ending now"
    assert process.returncode == -signal.SIGINT
    assert_no_traceback(err)
    assert seconds < 2


@pytest.mark.parametrize("command", ["local", "worker"])
def test_ctrl_c_at_any_moment_never_shows_a_traceback(command, worker_env, sqs):
    # Given the command started over and over, each time interrupted a little later (import, clients, setup, work)
    queue_url, _ = new_queue(sqs, visibility_timeout=10, max_receive_count=3)
    # (a worker's long poll of 1 s: one interrupted is still served by the one-request-at-a-time moto, after it)
    args = ("local",) if command == "local" else ("worker", "--queue-url", queue_url, "--wait-seconds", "1")
    env = without_aws(dict(os.environ)) if command == "local" else worker_env
    endings = set()
    for delay in (0.0, 0.1, 0.4, 1.2):
        process = start(*args, env=env)
        time.sleep(delay)

        # When Ctrl-C arrives
        _, err, _ = interrupt(process, signal.SIGINT, timeout=30)

        # Then it ends with one line of its own and a code that says how: interrupted (130), or done (0)
        assert_no_traceback(err)
        assert process.returncode in (0, 130), err
        if process.returncode == 130:
            assert err.splitlines()[-1] == "order-creator: interrupted by SIGINT", err
        endings.add(process.returncode)
    assert 130 in endings  # at least the early ones were interrupted mid-way


# the README's route on one's own emulator ------------------------------------------------------------

REPO = Path(__file__).parents[2]


def readme_route() -> list[str]:
    """The command lines of the own-emulator route of docs/operating.md, exactly as printed there."""
    text = (REPO / "docs" / "operating.md").read_text()
    section = text[text.index("## On your own emulator") :]
    block = section[section.index("```bash\n") + len("```bash\n") : section.index("\n```\n", section.index("```bash"))]
    return [line for line in block.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_readme_route_from_local_to_redrive_works_as_printed(tmp_path: Path):
    # Given the README's lines, on free ports instead of 5000 and 8081 (parallel sessions share this machine)
    moto_port, cart_port = free_port(), free_port()
    lines = [line.replace("5000", str(moto_port)).replace("8081", str(cart_port)) for line in readme_route()]
    steps = [
        "set -e",
        # wait for a port to answer, as a person would before the next line
        'ready() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; '
        "exit 9; }",
    ]
    for number, line in enumerate(lines):
        steps += [f'echo "@@ {number}"; echo "@@ {number}" >&2', line]
        if re.search(r"&\s*(#.*)?$", line):  # a server left running: wait for it as a person would
            steps.append(f"ready {moto_port if 'moto_server' in line else cart_port}")
    steps.append('echo "@@ end"; echo "@@ end" >&2')

    # When they run one after the other in one shell, from the repository's root, on a fresh machine's environment
    out_file, err_file = tmp_path / "out", tmp_path / "err"
    with out_file.open("w") as out_stream, err_file.open("w") as err_stream:
        shell = subprocess.Popen(
            ["bash", "-c", "\n".join(steps)],
            cwd=REPO,
            env=without_aws(dict(os.environ)),
            stdout=out_stream,
            stderr=err_stream,
            text=True,
            start_new_session=True,  # the servers it leaves in the background go with the group below
        )
        try:
            shell.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGTERM)
    out, err = out_file.read_text(), err_file.read_text()

    # Then every line succeeded and did what the README says
    assert shell.returncode == 0, (out[-3000:], err[-3000:])

    def step(stream: str, words: str) -> str:
        number = next(i for i, line in enumerate(lines) if words in line)
        return stream.split(f"@@ {number}\n")[1].split("@@ ", maxsplit=1)[0]

    assert "every message ended where expected" in step(out, "local --name demo")
    worker = "worker --queue-url"
    first_worker = step(err, worker)
    assert "worker: batch: 10 messages: 7 duplicates, 3 dead-lettered, 0 left to SQS" in first_worker
    assert "worker: stopped (queue empty) after 1 batch" in first_worker
    assert len(step(out, "orders list --tenant acme").splitlines()) == 1 + 4  # the header and acme's four orders
    assert re.search(r"orderNumber\s+ORD-20251230-00001", step(out, "orders get"))
    assert "6 messages in the dead-letter queue; none deleted" in step(err, "dlq inspect")
    assert "moved 6 messages" in step(err, "dlq redrive")
    last_worker = err.split(f"@@ {len(lines) - 1}\n")[1]
    assert "worker: batch: 6 messages: 6 dead-lettered, 0 left to SQS" in last_worker
    assert "Traceback" not in err


# one-line errors of every kind ------------------------------------------------------------------------

COMMANDS = [
    ("orders", "get", ORDER, "--table", "orders-x"),
    ("orders", "list", "--tenant", "t", "--table", "orders-x"),
    ("worker", "--queue-url", "http://127.0.0.1:5000/123456789012/q"),
    ("dlq", "inspect", "--queue-url", "http://127.0.0.1:5000/123456789012/q"),
    ("dlq", "redrive", "--queue-url", "http://127.0.0.1:5000/123456789012/q"),
    ("table", "create", "--table", "orders-x"),
    ("queue", "send", "--queue-url", "http://127.0.0.1:5000/123456789012/q"),
    ("local",),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]))
@pytest.mark.parametrize("where", ["--endpoint-url", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"])
def test_an_endpoint_without_a_scheme_is_one_line_and_exit_code_2_for_every_command(args, where, run, monkeypatch):
    # Given an endpoint typed without http://, on the command line or in the environment
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", "orders-x")
    monkeypatch.setenv("CART_LAMBDA_API_URL", "http://127.0.0.1:9/v1.0")
    extra: tuple[str, ...] = ()
    if where == "--endpoint-url":
        extra = ("--endpoint-url", "127.0.0.1:5000")
    else:
        monkeypatch.setenv(where, "127.0.0.1:5000")

    # When the command runs
    code, _, err = run(*args, *extra)

    # Then it names the endpoint and what it lacks, in one line, with exit code 2
    assert code == 2, err
    assert "127.0.0.1:5000" in err
    assert "e.g. http://127.0.0.1:5000" in err
    assert len(err.splitlines()) == 1, err


@pytest.mark.parametrize(
    "args",
    [("orders", "list", "--tenant", "t", "--table", "orders-x"), ("dlq", "inspect", "--queue-url", "{web}/1/q")],
    ids=["dynamodb", "sqs"],
)
def test_a_web_page_where_aws_should_answer_is_one_line(args, httpserver):
    # Given an endpoint on a port where a web server answers with an HTML error page
    page = "<!DOCTYPE HTML>\n<html lang='en'>\n<head><title>Error response</title></head>\n<body>501</body>\n</html>\n"
    httpserver.expect_request("/", method="POST").respond_with_data(page, status=501, content_type="text/html")
    web = httpserver.url_for("").rstrip("/")

    # When a command talks to it
    result = order_creator(*(a.format(web=web) for a in args), "--endpoint-url", web)
    err = result.stderr

    # Then the error is one line that says so, not the page
    assert result.returncode == 2
    assert len(err.splitlines()) == 1, err
    assert "answered HTTP 501 with a page that is not an AWS answer" in err
    assert "<html" not in err


def test_a_cursor_continues_only_the_listing_and_tenant_that_printed_it(tenant_orders, table_name, run):
    tenant, _ = tenant_orders
    base = ("orders", "list", "--table", table_name, "--limit", "2")
    # Given a cursor from the tenant's partition listing, and one from a date listing
    _, _, err = run(*base, "--tenant", tenant)
    partition = re.search(r"--after (\S+)", err).group(1)  # type: ignore[union-attr]
    _, _, err = run(*base, "--tenant", tenant, "--from", "2025-12-01")
    by_date = re.search(r"--after (\S+)", err).group(1)  # type: ignore[union-attr]

    # When each is used with another kind of listing, or for another tenant
    cases = {
        "with --from": run(*base, "--tenant", tenant, "--after", partition, "--from", "2025-12-01"),
        "without --from": run(*base, "--tenant", tenant, "--after", by_date),
        "other tenant": run(*base, "--tenant", new_tenant(), "--after", partition),
    }

    # Then each is refused in one line, exit code 2, saying why
    for case, (code, out, err) in cases.items():
        assert code == 2, (case, err)
        assert len(err.splitlines()) == 1, (case, err)
        assert out == ""
    assert "comes from a listing without --from/--to/--email, not with --from/--to" in cases["with --from"][2]
    assert "comes from a listing with --from/--to, not without" in cases["without --from"][2]
    assert "belongs to another tenant's listing" in cases["other tenant"][2]


def test_orders_get_takes_an_id_in_any_case_and_refuses_what_is_no_id(tenant_orders, table_name, run):
    _, messages = tenant_orders
    order_id = messages[0]["orderId"]

    # When the id is typed in upper case, and when it is no UUID at all
    found = run("orders", "get", order_id.upper(), "--table", table_name)
    nope = run("orders", "get", "nope", "--table", table_name)

    # Then the first finds the order, the second says it is no order id (not "no order")
    assert found[0] == 0, found[2]
    assert re.search(rf"id\s+{order_id}", found[1])
    assert nope[0] == 2
    assert "'nope' is not an order id (a UUID)" in nope[2]


def test_a_table_without_the_indexes_is_named_as_such_not_as_missing(dynamodb, run):
    # Given a table with the right keys but none of the schema's indexes
    name = f"plain-{uuid.uuid4().hex[:8]}"
    definition = table_definition(name)
    del definition["GlobalSecondaryIndexes"]
    definition["AttributeDefinitions"] = [
        a for a in definition["AttributeDefinitions"] if a["AttributeName"] in ("PK", "SK")
    ]
    dynamodb.create_table(**definition)

    # When an order is looked up by id
    code, _, err = run("orders", "get", ORDER, "--table", name)

    # Then the error names the missing index and how to make a table that has it
    assert code == 2
    assert f"table {name} has no " in err
    assert "OrderByIdIndex" in err
    assert "does not exist" not in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("orders", "list", "--tenant", "t", "--from", "2025-12-31", "--to", "2025-12-01"), "is after --to"),
        (("table", "create", "--table", "a b"), "'a b' is not a table name"),
        (("local", "--name", "a b"), "'a b' is not a table and queue name"),
        (("dlq", "redrive", "--queue-url", "{dlq}"), "no queue uses"),
    ],
)
def test_misleading_answers_are_now_plain_refusals(args, says, run, sqs, table_name):
    dlq = sqs.create_queue(QueueName=f"lonely-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    code, _out, err = run(*(a.format(dlq=dlq) for a in args), *(("--table", table_name) if "list" in args else ()))
    assert code == 2, err
    assert says in err
    assert len(err.splitlines()) == 1, err
    assert "(s)" not in err


def test_dlq_inspect_max_says_how_many_the_queue_holds(sqs, run):
    # Given three dead letters
    _, dlq_url = new_queue(sqs, visibility_timeout=30, max_receive_count=1)
    enqueue(sqs, dlq_url, ["one", "two", "three"])

    # When one is inspected
    code, _out, err = run("dlq", "inspect", "--queue-url", dlq_url, "--max", "1")

    # Then it says it showed one of about three, not that the queue holds one
    assert code == 0, err
    assert err.strip() == "1 message shown of about 3 in the dead-letter queue; none deleted"
    assert queue_counts(sqs, dlq_url) == (3, 0)


def test_the_worker_summary_counts_dead_letters_and_until_empty_stops_without_a_long_poll(
    cart_api,  # noqa: F811
    lambda_env,
    sqs,
    run,
    monkeypatch,
):
    # Given two good messages and three that are dead-lettered at once (no cart, not JSON, not a message)
    tenant = new_tenant()
    cart_api.put(cart(tenant, "cart-1"))
    queue_url, dlq_url = new_queue(sqs, visibility_timeout=10, max_receive_count=3)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq_url)
    bodies = [json.dumps(message(tenant, "cart-1")), json.dumps(message(tenant, "cart-1")), "{}", "not json"]
    bodies.append(json.dumps(message(tenant, "no-such-cart")))
    enqueue(sqs, queue_url, bodies)

    # When the worker runs until the queue is empty, with the longest poll
    started = time.monotonic()
    code, _, err = run("worker", "--queue-url", queue_url, "--until-empty", "--wait-seconds", "20")
    seconds = time.monotonic() - started

    # Then its lines say what became of them, and it stopped as soon as the queue was empty
    assert code == 0, err
    assert "worker: batch: 5 messages: 2 created, 3 dead-lettered, 0 left to SQS" in err
    assert (
        err.splitlines()[-1]
        == "worker: stopped (queue empty) after 1 batch: 5 messages: 2 created, 3 dead-lettered, 0 left to SQS"
    )
    assert seconds < 10  # not a 20 s long poll after the last batch
    assert len(inspect_dead_letters(sqs, dlq_url)) == 3


def test_cart_api_serves_the_carts_file_until_a_signal_and_refuses_a_busy_port_in_one_line():
    # Given a port another program already listens on
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = str(busy.getsockname()[1])

        # When cart-api is asked for it, and then for any free port
        refused = order_creator("cart-api", "--port", taken)
        server = start("cart-api", "--port", "0", env=dict(os.environ))
        line = server.line_with(" at http://") or ""
        url = re.search(r"at (http://\S+/v1.0)", line).group(1)  # type: ignore[union-attr]
        answer = requests.get(f"{url}/carts/cart-hosting", params={"tenantId": "acme"}, timeout=5)
        _, err, _ = interrupt(server, signal.SIGTERM)

    # Then the busy port is one line and exit code 2; the free one served the examples' cart until SIGTERM (143)
    assert refused.returncode == 2
    assert (
        refused.stderr
        == f"order-creator: error: cannot serve on 127.0.0.1:{taken}: Address already in use (try --port 0)\n"
    )
    assert answer.status_code == 200
    assert answer.json()["cartId"] == "cart-hosting"
    assert server.returncode == 143  # 128 + SIGTERM, as every command a signal ends
    assert err.splitlines()[-1] == "cart-api: stopped (SIGTERM)"
