"""The `order-creator` command: the real process for `local`, redrive and the worker; orders, dlq and table
commands against a real moto server; every user mistake is one line on stderr and a non-zero exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from order_creator import cli
from order_creator.local.run import EXAMPLES
from order_creator.models import load_json
from order_creator.operations import enqueue, inspect_dead_letters
from order_creator.worker import SqsWorker
from tests.factories import cart, message, new_tenant, record
from tests.integration.support import invoke, orders_of, serve_cart
from tests.integration.test_worker import (  # noqa: F401 - cart_api is a fixture
    ORDER_CREATOR,
    cart_api,
    new_queue,
    queue_counts,
    run_until_drained,
)

ROW = re.compile(r"^(?P<message>[0-9a-f]{8})\s{2}")


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


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], moto_url: str) -> Any:
    """`order-creator ARGS` in this process (against the session's moto); returns (exit code, stdout, stderr)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.setenv(name, moto_url)  # restored afterwards, whatever --endpoint-url sets

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main([*args])
        except SystemExit as exit_:  # argparse's way out
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


# order-creator local ---------------------------------------------------------------------------------


def test_local_runs_the_examples_end_to_end_and_prints_every_outcome():
    # Given a machine with no AWS settings, and the shipped examples
    entries = load_json((EXAMPLES / "messages.json").read_bytes())
    carts = {(c["tenantId"], c["cartId"]): c for c in load_json((EXAMPLES / "carts.json").read_bytes())}

    # When the README's command runs
    result = order_creator("local", env=without_aws(dict(os.environ)))

    # Then it exits 0 and prints one row per message, each with the outcome the examples expect
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if ROW.match(line)]
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
            assert re.search(r"dead-lettered \((InvalidMessage|CartNotFound): ", row), row
    assert "every message ended where expected" in result.stdout
    created = sum(entry["expect"] == "created" for entry in entries)
    assert f"{created} OrderCreated events at " in result.stdout
    assert "one per created order, none for a duplicate or a dead letter" in result.stdout
    assert "queue empty" in result.stderr


def test_local_exits_non_zero_when_a_message_does_not_end_as_expected(tmp_path: Path):
    # Given a messages file that expects an order from a cart the Cart API does not have
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps([{"expect": "created", "body": message("acme", "no-such-cart")}]))

    # When it runs
    result = order_creator("local", "--messages", str(messages), env=without_aws(dict(os.environ)))

    # Then the row says what happened and what was expected, and the exit code is 1
    assert result.returncode == 1, result.stderr
    assert "dead-lettered (CartNotFound" in result.stdout
    assert "<- expected created" in result.stdout


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
    assert "moved 2 message(s)" in err
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

    # Then it has both indexes, and the second attempt is one line and exit code 1
    assert first[0] == 0, first[2]
    indexes = {i["IndexName"] for i in dynamodb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]}
    assert indexes == {"OrdersByDateIndex", "OrderByIdIndex"}
    assert second[0] == 1
    assert second[2] == f"order-creator: error: table {name} already exists\n"


# user mistakes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("orders", "get", "x", "--table", "no-such-table"), "table no-such-table does not exist"),
        (("orders", "list", "--tenant", "t", "--table", "no-such-table"), "table no-such-table does not exist"),
        (("dlq", "inspect", "--queue-url", "{moto}/123456789012/no-such-queue"), "no such queue"),
        (("dlq", "redrive", "--queue-url", "{moto}/123456789012/no-such-queue"), "no such queue"),
        (("local", "--messages", "/no/such/file.json"), "No such file or directory: /no/such/file.json"),
        (("local", "--carts", "{readme}"), "README.md is not valid JSON"),
        (("orders", "list", "--tenant", "t", "--table", "x", "--limit", "0"), "argument --limit: 0 is not within"),
        (("orders", "list", "--tenant", "t", "--table", "x", "--after", "garbage"), "is not a cursor"),
        (("orders", "list", "--tenant", "t", "--from", "2025-12-30T10:00"), "needs an offset"),
        (("orders", "get", "x"), "no table: pass --table NAME or set DYNAMODB_TABLE_NAME"),
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
    result = order_creator("orders", "get", "x", "--table", "no-such-table")

    # Then stderr is that one line, no traceback, exit code 1
    assert result.returncode == 1
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

    # Then it says which one, in one line, and exits 1
    assert code == 1
    assert says in err
    assert len(err.splitlines()) == 1, err


def test_redrive_to_a_queue_that_does_not_exist_deletes_nothing(sqs, run, moto_url):
    # Given a dead letter
    _, dlq_url = new_queue(sqs, visibility_timeout=1, max_receive_count=1)
    enqueue(sqs, dlq_url, ["keep me"])

    # When it is redriven to a wrong URL
    code, _, err = run("dlq", "redrive", "--queue-url", dlq_url, "--to-queue-url", f"{moto_url}/123456789012/nope")

    # Then the send fails in one line, and the message is still in the dead-letter queue
    assert code == 1
    assert "no such queue (SendMessage)" in err
    assert [letter.body for letter in inspect_dead_letters(sqs, dlq_url)] == ["keep me"]
