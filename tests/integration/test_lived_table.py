"""The operator's commands on a table that has lived: items written by an older version, by hand in the console,
by a script that went wrong, built here item by item (DynamoDB JSON straight to the moto server).

Every command — `orders audit` (one tenant, every tenant), the nightly audit, `table migrate`, `orders get`,
`orders list`, `events replay` — reads each shape and answers with lines and the documented exit code, never a
traceback: a malformed item is a finding of its (tenant, day), named by its keys and ids, never by its values.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_creator import audit, day_check, events, numbering_audit
from order_creator.store.keys import customer_partition, table_definition
from tests.factories import lambda_context, new_tenant
from tests.integration.test_worker import ORDER_CREATOR

DAY = date(2025, 12, 30)
KEY = "20251230"
SECRET = "kate.lived@example.com"  # an address no line, log or answer may carry


@pytest.fixture(scope="module")
def lived(dynamodb: Any) -> str:
    """A table of its own: the every-tenant audit and the migration read all of it."""
    name = f"lived-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(**table_definition(name))
    return name


@pytest.fixture(scope="module")
def bus(moto_url: str) -> str:
    """An event bus for `events replay`."""
    import boto3

    name = f"lived-bus-{uuid.uuid4().hex[:8]}"
    boto3.client("events", endpoint_url=moto_url).create_event_bus(Name=name)
    return name


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, lived: str, moto_url: str) -> str:
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", lived)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.delenv("ORDER_NUMBER_TIMEZONE", raising=False)
    monkeypatch.setattr(numbering_audit, "RECHECK_SECONDS", 0.01)  # a lived item does not settle: no wait
    return lived


def counter(tenant: str, value: dict[str, Any] | None, sk: str = f"ORDER_NUMBER#{KEY}") -> dict[str, Any]:
    """A counter item in DynamoDB JSON; `value` None: no currentValue at all."""
    item: dict[str, Any] = {
        "PK": {"S": f"COUNTER#{tenant}"},
        "SK": {"S": sk},
        "GSI1_PK": {"S": f"COUNTERS#{KEY}"},
        "GSI1_SK": {"S": tenant},
    }
    if value is not None:
        item["currentValue"] = value
    return item


def order(tenant: str, number: int | None, **attributes: dict[str, Any] | None) -> dict[str, Any]:
    """An order item as this version writes it, numbered `number` on DAY; each keyword replaces an attribute
    (None removes it)."""
    order_id = str(uuid.uuid4())
    created = f"2025-12-30T08:{(number or 0) % 60:02d}:00.000Z#{order_id}"
    item: dict[str, Any] = {
        "PK": {"S": f"TENANT#{tenant}"},
        "SK": {"S": f"ORDER#{order_id}"},
        "GSI1_PK": {"S": f"TENANT#{tenant}"},
        "GSI1_SK": {"S": created},
        "GSI2_PK": {"S": f"ORDER#{order_id}"},
        "GSI2_SK": {"S": "METADATA"},
        "GSI3_PK": {"S": customer_partition(tenant, SECRET)},
        "GSI3_SK": {"S": created},
        "entityType": {"S": "ORDER"},
        "id": {"S": order_id},
        "tenantId": {"S": tenant},
        "cartId": {"S": "cart-1"},
        "customerEmail": {"S": SECRET},
        "orderNumber": {"S": f"ORD-{KEY}-{number:05d}"} if number else {"NULL": True},
        "items": {"L": [{"M": {"quantity": {"N": "1"}, "productName": {"S": "Hosting"}, "unitPrice": {"N": "9.5"}}}]},
        "subtotal": {"N": "9.5"},
        "tax": {"N": "0"},
        "total": {"N": "9.5"},
        "currency": {"S": "ZAR"},
        "status": {"S": "PENDING_PAYMENT"},
        "dateCreated": {"S": "2025-12-30T10:00:00+02:00"},
        "sourceMessageId": {"S": "m-1"},
    }
    for name, value in attributes.items():
        if value is None:
            item.pop(name, None)
        else:
            item[name] = value
    return item


def put(dynamodb: Any, table: str, *items: dict[str, Any]) -> None:
    for item in items:
        dynamodb.put_item(TableName=table, Item=item)


def one_line_each(text: str, *, address: bool = False) -> None:
    """No traceback, every line short; no address unless the command shows the whole order (`address`)."""
    assert "Traceback" not in text
    assert address or SECRET not in text
    assert all(len(line) < 2000 for line in text.splitlines() if not line.startswith("{"))


# The shapes: each a tenant whose day 2025-12-30 must fail, with what the audit's line must name. ------------


def bad_counter(value: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    return lambda tenant: [counter(tenant, value), order(tenant, 1)]  # type: ignore[return-value]


SHAPES: dict[str, Any] = {
    "counter -5": bad_counter({"N": "-5"}),
    "counter 1.5": bad_counter({"N": "1.5"}),
    "counter -1 without orders": lambda t: [counter(t, {"N": "-1"})],
    "counter a string '3'": bad_counter({"S": "3"}),
    "counter NULL": bad_counter({"NULL": True}),
    "counter a map": bad_counter({"M": {"n": {"N": "1"}}}),
    "counter a list": bad_counter({"L": [{"N": "1"}]}),
    "counter a number set": bad_counter({"NS": ["1", "2"]}),
    "counter without currentValue": bad_counter(None),
    "counter 1e11": bad_counter({"N": "1e11"}),
    "counter of 38 digits": bad_counter({"N": "9" * 38}),
    "a counter key of another version": lambda t: [
        counter(t, {"N": "1"}),
        order(t, 1),
        counter(t, {"N": "1"}, sk="ORDER_NUMBER#2025-12-30"),
    ],
    "a missing order": lambda t: [counter(t, {"N": "3"}), order(t, 1), order(t, 3)],
    "an order without a number": lambda t: [counter(t, {"N": "1"}), order(t, 1), order(t, None)],
    "an order number of a million digits' worth": lambda t: [
        counter(t, {"N": "1"}),
        order(t, 1),
        order(t, 1, orderNumber={"S": f"ORD-{KEY}-" + "9" * 300_000}),
    ],
    "an order number as a number": lambda t: [counter(t, {"N": "1"}), order(t, 1, orderNumber={"N": "1"})],
    "an order without dateCreated": lambda t: [counter(t, {"N": "1"}), order(t, 1, dateCreated=None), order(t, 2)],
    "an order with a dateCreated of no calendar": lambda t: [
        counter(t, {"N": "1"}),
        order(t, 1, dateCreated={"S": "0001-01-01T00:00:00+14:00"}),
    ],
    "an order with dateCreated a map": lambda t: [counter(t, {"N": "2"}), order(t, 1, dateCreated={"M": {}})],
    "an order whose creation key is of another shape": lambda t: [
        counter(t, {"N": "2"}),
        order(t, 1),
        order(t, 2, GSI1_SK={"S": "2025-12-30 08:00#old"}, dateCreated={"S": "yesterday"}),
    ],
    "an order without id and with odd fields": lambda t: [
        counter(t, {"N": "2"}),
        order(t, 1, id=None, items={"S": "not a list"}, total={"S": "a lot"}, currency=None),
    ],
}


@pytest.mark.parametrize("shape", SHAPES)
def test_each_lived_shape_is_a_finding_of_its_day_for_every_command(shape, env, bus, dynamodb, run):
    # Given a tenant whose 2025-12-30 holds the shape
    tenant = new_tenant("lived")
    put(dynamodb, env, *SHAPES[shape](tenant))

    # When the operator audits the tenant
    code, out, err = run("orders", "audit", "--tenant", tenant, "--json")

    # Then the day is a finding: exit 1, each line JSON, the day not ok, never a traceback or a value
    assert code == 1, err
    verdicts = [json.loads(line) for line in out.splitlines()]
    failing = [v for v in verdicts if not v["ok"]]
    assert failing and all(v["tenantId"] == tenant for v in verdicts), out
    one_line_each(out + err)

    # And every other command reads the tenant's items in one line each, with its documented exit code
    for args, codes in (
        (("orders", "list", "--tenant", tenant), (0,)),
        (("orders", "list", "--tenant", tenant, "--json"), (0,)),
        (("orders", "list", "--tenant", tenant, "--email", SECRET), (0,)),
        (("orders", "list", "--tenant", tenant, "--from", "2025-12-30", "--to", "2025-12-30"), (0,)),
    ):
        code, out, err = run(*args)
        assert code in codes, (args, err)
        one_line_each(out + err, address="--json" in args)
    for handler in logging.getLogger(events.logger.name).handlers:  # bound to an earlier test's captured stdout
        handler.stream = sys.stdout  # type: ignore[attr-defined]
    code, out, err = run("events", "replay", "--tenant", tenant, "--from", "2025-12-01", "--bus", bus)
    assert code == 0, err
    assert f"of tenant {tenant} to {bus}" in err
    one_line_each(out + err)
    for item in SHAPES[shape](tenant):
        order_id = item.get("id", {}).get("S")
        if order_id:
            for args in (("orders", "get", order_id), ("orders", "get", order_id, "--json")):
                code, out, err = run(*args)
                assert code in (0, 1), err
                one_line_each(out + err, address="--json" in args)


def test_every_shape_at_once_fails_the_every_tenant_audit_the_nightly_and_keeps_migrate_going(
    dynamodb, monkeypatch, moto_url, run, tmp_path: Path
):
    # Given a table of its own holding every shape, each in a tenant of its own, and one clean tenant
    table = f"shapes-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(**table_definition(table))
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", table)
    monkeypatch.setattr(numbering_audit, "RECHECK_SECONDS", 0.01)
    tenants = {shape: new_tenant("shape") for shape in SHAPES}
    for shape, tenant in tenants.items():
        put(dynamodb, table, *SHAPES[shape](tenant))
    clean = new_tenant("clean")
    put(dynamodb, table, counter(clean, {"N": "2"}), order(clean, 1), order(clean, 2))

    # When the day is audited for every tenant, by the command and by the nightly handler
    code, out, err = run("orders", "audit", "--from", DAY.isoformat(), "--to", DAY.isoformat())
    summary = audit.lambda_handler({"day": DAY.isoformat()}, lambda_context())

    # Then every shape's tenant fails, the clean one holds, and nothing raised
    assert code == 1, err
    failed = {line.split()[1] for line in out.splitlines() if "FAILED" in line}
    assert failed == set(tenants.values()), out
    assert f"{clean}  counter 2, 2 orders: ok" in out
    one_line_each(out + err)
    assert set(summary["failedTenants"]) == set(tenants.values())
    assert summary["unreadTenants"] == []

    # And the migration goes through the whole table: exit 0 (every shape's keys are readable) or 1, one line each
    code, out, err = run("table", "migrate", "--state", str(tmp_path / "state.json"))
    assert code in (0, 1), err
    assert "migrate: done: " in err
    one_line_each(out + err)


def test_the_audit_names_odd_counters_and_a_missing_order_with_ids_only(env, dynamodb, run):
    # Given a tenant with a counter stored as the string "3" and another day's counter of 3 whose number 2 is missing
    tenant = new_tenant("odd")
    put(dynamodb, env, counter(tenant, {"S": "3"}), order(tenant, 1))
    other = {**counter(tenant, {"N": "3"}, sk="ORDER_NUMBER#20251231")}
    first = order(tenant, 1, dateCreated={"S": "2025-12-31T10:00:00+00:00"}, orderNumber={"S": "ORD-20251231-00001"})
    first["GSI1_SK"] = {"S": "2025-12-31T10:00:00.000Z#" + first["id"]["S"]}
    third = order(tenant, 3, dateCreated={"S": "2025-12-31T11:00:00+00:00"}, orderNumber={"S": "ORD-20251231-00003"})
    third["GSI1_SK"] = {"S": "2025-12-31T11:00:00.000Z#" + third["id"]["S"]}
    put(dynamodb, env, other, first, third)

    # When the tenant is audited
    code, out, err = run("orders", "audit", "--tenant", tenant, "--json")

    # Then both days fail: the string counter is unreadable (null, named as a problem), the other misses 2
    assert code == 1, err
    by_day = {v["day"]: v for v in map(json.loads, out.splitlines())}
    assert by_day["2025-12-30"]["counter"] is None
    assert by_day["2025-12-30"]["ok"] is False
    assert by_day["2025-12-30"]["problems"] == ["counter: currentValue is not a non-negative integer"]
    assert (by_day["2025-12-31"]["missing"], by_day["2025-12-31"]["ok"]) == ([2], False)
    assert "3" not in json.dumps(by_day["2025-12-30"]["problems"])


def test_a_counter_of_ten_to_the_eleven_lists_some_missing_numbers_and_counts_them_all(env, dynamodb, run):
    # Given a counter of 10^11 and one order (a bytearray of the counter's size would need 100 GB)
    tenant = new_tenant("huge")
    put(dynamodb, env, counter(tenant, {"N": "1e11"}), order(tenant, 1))

    # When audited
    code, out, err = run("orders", "audit", "--tenant", tenant, "--json")

    # Then the missing numbers are counted, the first thousand listed
    assert code == 1, err
    (verdict,) = map(json.loads, out.splitlines())
    assert verdict["counter"] == 10**11
    assert verdict["missingCount"] == 10**11 - 1
    assert verdict["missing"][:3] == [2, 3, 4]
    assert len(verdict["missing"]) == day_check.LISTED


def test_the_nightly_audit_reports_a_tenant_it_could_not_read_and_audits_the_rest(env, dynamodb, monkeypatch):
    # Given two tenants of the day, the first of which the table fails to answer for, the second with a gap
    broken, gapped = new_tenant("unread"), new_tenant("gap")
    put(dynamodb, env, counter(broken, {"N": "1"}), order(broken, 1))
    put(dynamodb, env, counter(gapped, {"N": "2"}), order(gapped, 2))
    real = numbering_audit.NumberingAudit.tenant

    def failing(self: Any, tenant_id: str, *args: Any) -> Any:
        if tenant_id == broken:
            raise RuntimeError("the table did not answer")
        return real(self, tenant_id, *args)

    monkeypatch.setattr(numbering_audit.NumberingAudit, "tenant", failing)

    # When the nightly audit runs
    summary = audit.lambda_handler({"day": DAY.isoformat()}, lambda_context())

    # Then the gap is reported, and the unread tenant too
    assert gapped in summary["failedTenants"]
    assert broken in summary["failedTenants"]
    assert summary["unreadTenants"] == [broken]


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    value=st.one_of(
        st.integers(min_value=-(10**6), max_value=10**12).map(lambda n: {"N": str(n)}),
        st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=1000).map(
            lambda d: {"N": str(d)}
        ),
        st.text(max_size=20).map(lambda s: {"S": s}),
        st.just({"NULL": True}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.dictionaries(st.text("abc", min_size=1, max_size=3), st.just({"N": "1"}), max_size=2).map(
            lambda m: {"M": m}
        ),
    ),
    numbers=st.lists(st.one_of(st.integers(min_value=1, max_value=5), st.none()), max_size=4),
    odd_key=st.sampled_from([None, "ORDER_NUMBER#2025-12-30", "ORDER_NUMBER#20251230-old", "ORDER_NUMBER#x"]),
)
def test_whatever_a_counter_and_orders_hold_the_audit_answers_in_lines(env, dynamodb, run, value, numbers, odd_key):
    # Given a tenant with a generated counter value, orders, perhaps a counter key of another shape
    tenant = new_tenant("gen")
    put(dynamodb, env, counter(tenant, value), *(order(tenant, n) for n in numbers))
    if odd_key:
        put(dynamodb, env, counter(tenant, {"N": "1"}, sk=odd_key))

    # When audited
    code, out, err = run("orders", "audit", "--tenant", tenant, "--json")

    # Then the answer is lines of JSON and an exit code that agrees with them: 0 only when every day holds
    verdicts = [json.loads(line) for line in out.splitlines()]
    assert code == (0 if all(v["ok"] for v in verdicts) else 1), err
    one_line_each(out + err)
    number = Decimal(value["N"]) if "N" in value else None
    if number is None or number < 0 or number != number.to_integral_value():
        assert not verdicts[0]["ok"] and verdicts[0]["counter"] is None
    if odd_key:
        assert code == 1


# table migrate ------------------------------------------------------------------------------------------


def old_table(dynamodb: Any, monkeypatch: pytest.MonkeyPatch, orders: int) -> tuple[str, str]:
    """A table of its own written by the version before the customer index: `orders` orders without GSI3 keys,
    their counter without its day key; DYNAMODB_TABLE_NAME points at it. Returns (table, tenant)."""
    table = f"old-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(**table_definition(table))
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", table)
    tenant = new_tenant("old")
    old_counter = {k: v for k, v in counter(tenant, {"N": str(orders)}).items() if not k.startswith("GSI1")}
    put(dynamodb, table, old_counter)
    for n in range(1, orders + 1):
        put(dynamodb, table, order(tenant, n, GSI3_PK=None, GSI3_SK=None))
    return table, tenant


def keyed(dynamodb: Any, table: str) -> int:
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return sum(1 for item in items if "GSI3_PK" in item)


def test_migrate_skips_what_it_cannot_key_names_it_by_its_keys_and_finishes_the_rest(
    dynamodb, monkeypatch, run, tmp_path: Path
):
    # Given ten old orders, an old counter of another key shape and an order without an address
    table, tenant = old_table(dynamodb, monkeypatch, 10)
    odd = {k: v for k, v in counter(tenant, {"N": "1"}, sk="ORDER_NUMBER#2025-12-30").items() if "GSI1" not in k}
    nameless = order(tenant, 11, GSI3_PK=None, GSI3_SK=None, customerEmail=None)
    put(dynamodb, table, odd, nameless)
    state = tmp_path / "state.json"

    # When the migration runs
    code, out, err = run("table", "migrate", "--state", str(state))

    # Then the ten orders are keyed, the two odd items named by their keys, and the exit code says so
    assert code == 1, err
    assert keyed(dynamodb, table) == 10
    assert f"migrate: skipped PK='COUNTER#{tenant}' SK='ORDER_NUMBER#2025-12-30': its key is not" in err
    assert f"SK='ORDER#{nameless['id']['S']}': its customerEmail is absent or not a string" in err
    assert "done: 10 orders and 1 counters keyed, 0 already keyed, 2 skipped" in err
    assert "2 item(s) could not be keyed" in err
    one_line_each(out + err)
    assert not state.exists()

    # And a second run finds the ten keyed and the two still odd
    code, _, err = run("table", "migrate", "--state", str(state))
    assert code == 1
    assert "done: 0 orders and 0 counters keyed, 10 already keyed, 2 skipped" in err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"table": "T", "extra": 1}', "unknown key 'extra'"),
        ('{"table": "T", "pages": "3"}', "'pages' is not int"),
        ('{"table": "T", "finished": 1}', "'finished' is not bool"),
        ('{"table": "T", "position": [1]}', "'position' is not dict/null"),
        ('{"table": "T", "position": {"PK": {"S": "x"}}}', "'position' is not a key"),
        ('{"pages": 1}', "no 'table'"),
        ("[]", "not a JSON object"),
        ('{"table": "T", "pages": ' + "9" * 5000 + "}", "is not a migration state file; remove it"),
        ("\xff\xfe", "is not a migration state file; remove it"),
    ],
)
def test_migrate_checks_its_state_file_as_input(content, says, dynamodb, monkeypatch, run, tmp_path: Path):
    table, _ = old_table(dynamodb, monkeypatch, 1)
    state = tmp_path / "state.json"
    state.write_bytes(content.replace('"T"', json.dumps(table)).encode("latin-1"))

    code, _, err = run("table", "migrate", "--state", str(state))

    assert code == 2
    (line,) = err.splitlines()
    assert says in line and str(state) in line
    assert keyed(dynamodb, table) == 0


def test_migrate_refuses_a_state_file_it_cannot_write_before_any_work(dynamodb, monkeypatch, run, tmp_path: Path):
    # Given a --state whose directory cannot hold it (a file stands where the directory should: refused even to root)
    table, _ = old_table(dynamodb, monkeypatch, 1)
    (tmp_path / "not-a-directory").write_text("")

    code, _, err = run("table", "migrate", "--state", str(tmp_path / "not-a-directory" / "state.json"))

    assert code == 2
    (line,) = err.splitlines()
    assert (
        "cannot write the migration's state file" in line and "pass --state FILE in a directory you can write" in line
    )
    assert keyed(dynamodb, table) == 0


def test_sigterm_ends_migrate_with_143_and_the_rerun_continues_and_reports_the_total(
    dynamodb, monkeypatch, moto_url, tmp_path: Path
):
    # Given six old orders and a migration held to one write unit a second
    table, _ = old_table(dynamodb, monkeypatch, 6)
    state = tmp_path / "state.json"
    command = [ORDER_CREATOR, "table", "migrate", "--table", table, "--state", str(state), "--max-wcu", "1"]
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_url}
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)

    # When SIGTERM arrives while it works
    deadline = time.monotonic() + 30
    while keyed(dynamodb, table) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)

    # Then it exits 128 + 15, the state file it names exists, and the same command finishes the work
    assert child.returncode == 143, err
    assert f"saved in {state}: run the same command to continue" in err
    assert state.exists()
    assert "Traceback" not in err
    done = subprocess.run(
        [*command[:-2], "--max-wcu", "1000"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f"continuing from {state}" in done.stderr
    assert "done: 6 orders and 1 counters keyed" in done.stderr
    assert keyed(dynamodb, table) == 6


def test_migrate_rekeys_orders_keyed_by_the_old_address_rule_and_the_listing_follows(
    dynamodb, monkeypatch, run, tmp_path: Path
):
    # Given orders keyed by the old rule (blanks stripped, str.lower()): a Kelvin-sign Kate merged with kate, a
    # punycode domain apart from its Unicode spelling
    import hashlib

    table, tenant = old_table(dynamodb, monkeypatch, 0)
    kelvin, plain, unicode_domain = "\u212aate@example.com", "kate@example.com", "j@b\u00fccher.example"

    def old_key(email: str) -> dict[str, str]:
        return {"S": f"TENANT#{tenant}#CUSTOMER#" + hashlib.sha256(email.strip().lower().encode()).hexdigest()}

    orders = {
        email: order(tenant, n, customerEmail={"S": email}, GSI3_PK=old_key(email))
        for n, email in enumerate((kelvin, plain, unicode_domain), start=1)
    }
    put(dynamodb, table, *orders.values())
    assert old_key(kelvin) == old_key(plain)

    # When the table is migrated
    code, _, err = run("table", "migrate", "--state", str(tmp_path / "state.json"))

    # Then the two orders whose key changed are re-keyed, and each spelling finds its own mailbox's orders only
    assert code == 0, err
    assert "done: 2 orders and 1 counters keyed, 1 already keyed, 0 skipped" in err

    def found(email: str) -> set[str]:
        code, out, err = run("orders", "list", "--tenant", tenant, "--email", email, "--json")
        assert code == 0, err
        return {json.loads(line)["id"] for line in out.splitlines()}

    ids = {email: item["id"]["S"] for email, item in orders.items()}
    assert found(kelvin) == {ids[kelvin]}
    assert found(" KATE@example.COM") == {ids[plain]}
    assert found("j@XN--BCHER-KVA.example") == {ids[unicode_domain]}


# Hypothesis: orders whose attributes hold whatever a console or a script could write ---------------------

SCALARS = st.one_of(
    st.text(max_size=30).map(lambda s: {"S": s}),
    st.integers(min_value=-(10**12), max_value=10**12).map(lambda n: {"N": str(n)}),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**6), max_value=10**6).map(
        lambda d: {"N": str(d)}
    ),
    st.just({"NULL": True}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.sampled_from(["ORD-20251230-00001", "ORD-20251230-1", "2025-12-30T10:00:00+02:00", "ZAR"]).map(
        lambda s: {"S": s}
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: {"L": items}),
        st.dictionaries(st.sampled_from(["quantity", "productName", "unitPrice", "x"]), inner, max_size=3).map(
            lambda fields: {"M": fields}
        ),
    ),
    max_leaves=6,
)
REPLACEABLE = ["id", "orderNumber", "dateCreated", "items", "total", "subtotal", "currency", "status", "customerEmail"]


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(replaced=st.dictionaries(st.sampled_from(REPLACEABLE), st.one_of(st.none(), VALUES), max_size=4))
def test_whatever_an_order_holds_every_command_answers_in_lines(env, bus, dynamodb, run, replaced):
    # Given a tenant's day whose one order holds generated attribute values (None: the attribute removed)
    tenant = new_tenant("genorder")
    item = order(tenant, 1, **replaced)
    put(dynamodb, env, counter(tenant, {"N": "1"}), item)
    order_id = item["SK"]["S"].removeprefix("ORDER#")
    for handler in logging.getLogger(events.logger.name).handlers:
        handler.stream = sys.stdout  # type: ignore[attr-defined]

    # When every operator command reads it, then each answers with its documented exit code, never a traceback
    code, out, err = run("orders", "audit", "--tenant", tenant, "--json")
    verdicts = [json.loads(line) for line in out.splitlines()]
    assert code == (0 if all(v["ok"] for v in verdicts) else 1), err
    assert all(v["tenantId"] == tenant for v in verdicts)
    for args in (
        ("orders", "list", "--tenant", tenant),
        ("orders", "list", "--tenant", tenant, "--json"),
        ("orders", "get", order_id, "--json"),
        ("orders", "get", order_id),
        ("events", "replay", "--tenant", tenant, "--from", "2025-12-01", "--bus", bus),
    ):
        code, out, err = run(*args)
        assert code == 0, (args, err)
        assert "Traceback" not in out + err


def test_dlq_inspect_lists_whatever_a_dead_letter_queue_holds_in_rows(run, sqs):
    # Given a queue of messages no version of the pipeline wrote: not JSON, JSON of other shapes, odd attributes
    queue = sqs.create_queue(QueueName=f"lived-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    bodies = [
        "not json at all",
        "[1, 2, 3]",
        json.dumps({"orderId": {"nested": SECRET}, "tenantId": 7, "customerEmail": SECRET}),
        json.dumps({"orderId": "o" * 5000, "tenantId": "t"}),
        "x" * 200_000,
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    odd_attributes: list[dict[str, Any]] = [
        {"errorType": {"DataType": "String", "StringValue": "InvalidMessage"}},
        {"errorMessage": {"DataType": "String", "StringValue": "a reason without a type"}},
        {"errorType": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}},
        {"sourceMessageId": {"DataType": "Number", "StringValue": "12"}},
    ]
    for attributes in odd_attributes:
        sqs.send_message(QueueUrl=queue, MessageBody="{}", MessageAttributes=attributes)

    # When it is inspected, as a table and as JSON lines
    code, out, err = run("dlq", "inspect", "--queue-url", queue)
    code_json, out_json, err_json = run("dlq", "inspect", "--queue-url", queue, "--json")

    # Then every message is listed, nothing is deleted, and the table carries no address
    assert (code, code_json) == (0, 0), err + err_json
    assert "9 messages in the dead-letter queue; none deleted" in err
    assert len(out_json.splitlines()) == 9
    assert "Traceback" not in out + err + out_json + err_json
    assert SECRET not in out + err
    assert all(len(line) < 2000 for line in out.splitlines())
