"""The numbering audit (contract §8), the e-mail listing and `table migrate` (§4), over the real moto server.

Orders are made by the real handler; violations are planted by writing the table directly, as a bug or a
hand edit would.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from order_creator import audit, clients, numbering_audit
from order_creator.migrate import MigrationState, TableMigration, migrate
from order_creator.store.keys import table_definition
from order_creator.store.table import Table
from tests.factories import (
    assert_gapless,
    cart,
    invoke,
    lambda_context,
    message,
    new_tenant,
    orders_of,
    record,
    serve_cart,
    unmarshal,
)

DAY = date(2025, 12, 30)  # the business day of the factories' dateCreated (2025-12-30T10:15:00+02:00), in UTC
UTC = ZoneInfo("UTC")
CONTRACT_KEYS = ["tenantId", "day", "counter", "orders", "missing", "duplicated", "beyond", "misdated", "ok"]


def create_orders(httpserver: Any, tenant: str, count: int, **overrides: Any) -> list[dict[str, Any]]:
    """`count` orders of the tenant through the real handler (batches of ten); returns their messages."""
    messages = []
    for _ in range(count):
        cart_id = f"cart-{uuid.uuid4().hex[:8]}"
        serve_cart(httpserver, cart(tenant, cart_id))
        messages.append(message(tenant, cart_id, **overrides))
    for start in range(0, count, 10):
        assert invoke(*(record(m) for m in messages[start : start + 10])) == []
    return messages


def by_number(dynamodb: Any, table: str, tenant: str) -> dict[int, dict[str, Any]]:
    return {int(o["orderNumber"].rsplit("-", 1)[1]): o for o in orders_of(dynamodb, table, tenant)}


def verdicts(table: str, tenant: str) -> list[numbering_audit.DayAudit]:
    store = Table(table, clients.dynamodb())
    return list(numbering_audit.NumberingAudit(store, UTC, recheck_seconds=0).tenant(tenant))


def put(dynamodb: Any, table: str, item: dict[str, Any]) -> None:
    from order_creator.store.attributes import marshal as _marshal

    dynamodb.put_item(TableName=table, Item=_marshal(item))


# the audit -------------------------------------------------------------------------------------------


def test_a_clean_table_passes_and_prints_the_contract_line(lambda_env, httpserver, dynamodb, table_name, run):
    # Given a tenant with 12 orders made by the handler
    tenant = new_tenant()
    create_orders(httpserver, tenant, 12)

    # When the tenant is audited, as a library and as the command
    found = verdicts(table_name, tenant)
    code, out, err = run("orders", "audit", "--tenant", tenant, "--json")

    # Then the day holds, and the line has the contract's shape
    assert [(v.day, v.counter, v.orders, v.ok) for v in found] == [(DAY, 12, 12, True)]
    assert code == 0, err
    (line,) = out.splitlines()
    document = json.loads(line)
    assert list(document) == CONTRACT_KEYS
    assert document == {
        "tenantId": tenant,
        "day": "2025-12-30",
        "counter": 12,
        "orders": 12,
        "missing": [],
        "duplicated": [],
        "beyond": [],
        "misdated": [],
        "ok": True,
    }
    assert "audited 1 (tenant, day) pair(s), 12 orders: 0 failed" in err


def test_each_kind_of_violation_is_found_and_named(lambda_env, httpserver, dynamodb, table_name, run):
    # Given a tenant's 8 orders, then the table edited by hand: order 3 deleted (missing), a second order
    # numbered 2 (duplicated), an order numbered 9 beyond the counter (beyond), order 5 given another day's
    # number (misdated), order 6 given a number of no day (malformed)
    tenant = new_tenant()
    create_orders(httpserver, tenant, 8)
    orders = by_number(dynamodb, table_name, tenant)
    dynamodb.delete_item(TableName=table_name, Key={"PK": {"S": orders[3]["PK"]}, "SK": {"S": orders[3]["SK"]}})
    twin, extra = str(uuid.uuid4()), str(uuid.uuid4())
    put(dynamodb, table_name, {**orders[2], "id": twin, "SK": f"ORDER#{twin}", "GSI1_SK": f"{orders[2]['GSI1_SK']}x"})
    put(dynamodb, table_name, {**orders[1], "id": extra, "SK": f"ORDER#{extra}", "orderNumber": "ORD-20251230-00009"})
    put(dynamodb, table_name, {**orders[5], "orderNumber": "ORD-20251231-00005"})
    put(dynamodb, table_name, {**orders[6], "orderNumber": "ORD-2025-6"})

    # When it is audited
    (verdict,) = verdicts(table_name, tenant)
    code, out, _ = run("orders", "audit", "--tenant", tenant)
    json_code, json_out, _ = run("orders", "audit", "--tenant", tenant, "--json")

    # Then every kind is found, with the numbers and order ids an operator acts on
    assert verdict.counter == 8
    assert verdict.orders == 9
    assert verdict.missing == [3, 5, 6]  # 5 and 6 carry no number of this day any more
    assert verdict.duplicated == [2]
    assert verdict.beyond == [9]
    assert verdict.misdated == [orders[5]["id"]]
    assert verdict.malformed == [orders[6]["id"]]
    assert not verdict.ok
    assert code == json_code == 1
    assert f"missing 3, 5, 6; duplicated 2; beyond 9; misdated {orders[5]['id']}; malformed {orders[6]['id']}" in out
    document = json.loads(json_out)
    assert document["ok"] is False
    assert sorted(document["misdated"]) == sorted([orders[5]["id"], orders[6]["id"]])


def test_a_counter_without_orders_and_orders_without_a_counter_fail(lambda_env, httpserver, dynamodb, table_name):
    # Given a tenant whose counter of the 31st says 2 with no order, and whose 30th lost its counter
    tenant = new_tenant()
    create_orders(httpserver, tenant, 2)
    dynamodb.put_item(
        TableName=table_name,
        Item={"PK": {"S": f"COUNTER#{tenant}"}, "SK": {"S": "ORDER_NUMBER#20251231"}, "currentValue": {"N": "2"}},
    )
    dynamodb.delete_item(
        TableName=table_name, Key={"PK": {"S": f"COUNTER#{tenant}"}, "SK": {"S": "ORDER_NUMBER#20251230"}}
    )

    # When it is audited
    found = verdicts(table_name, tenant)

    # Then both days fail, each naming its numbers
    assert [(v.day, v.counter, v.orders, v.missing, v.beyond) for v in found] == [
        (DAY, 0, 2, [], [1, 2]),
        (date(2025, 12, 31), 2, 0, [1, 2], []),
    ]


def test_the_business_day_is_taken_in_the_order_number_zone(lambda_env, httpserver, monkeypatch, dynamodb, table_name):
    # Given orders numbered in Johannesburg, one at 23:30 and one at 00:30 local time (21:30 and 22:30 UTC)
    monkeypatch.setenv("ORDER_NUMBER_TIMEZONE", "Africa/Johannesburg")
    tenant = new_tenant()
    create_orders(httpserver, tenant, 2, dateCreated="2025-12-30T23:30:00+02:00")
    create_orders(httpserver, tenant, 3, dateCreated="2025-12-31T00:30:00+02:00")
    store = Table(table_name, clients.dynamodb())

    # When audited in that zone, and (wrongly) in UTC
    local = list(numbering_audit.NumberingAudit(store, ZoneInfo("Africa/Johannesburg")).tenant(tenant))
    in_utc = list(numbering_audit.NumberingAudit(store, UTC, recheck_seconds=None).tenant(tenant))

    # Then the zone's days hold, and UTC sees every order on the 30th with numbers of the 31st
    assert [(v.day, v.counter, v.orders, v.ok) for v in local] == [(DAY, 2, 2, True), (date(2025, 12, 31), 3, 3, True)]
    assert not in_utc[0].ok
    assert len(in_utc[0].misdated) == 3


def test_every_tenant_of_a_day_is_audited_from_the_counters_without_a_scan(
    lambda_env, httpserver, dynamodb, table_name, run
):
    # Given two tenants with orders on the 30th, one of them with a hole
    clean, broken = new_tenant("clean"), new_tenant("broken")
    create_orders(httpserver, clean, 3)
    create_orders(httpserver, broken, 3)
    hole = by_number(dynamodb, table_name, broken)[2]
    dynamodb.delete_item(TableName=table_name, Key={"PK": {"S": hole["PK"]}, "SK": {"S": hole["SK"]}})
    operations: list[str] = []
    client = clients.dynamodb()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: operations.append(model.name))

    # When every tenant of the day is audited
    code, out, _ = run("orders", "audit", "--from", "2025-12-30", "--to", "2025-12-30", "--json")

    # Then both are among the tenants found (other tests' tenants too), the broken one failing; and no scan ran
    lines = {json.loads(line)["tenantId"]: json.loads(line) for line in out.splitlines()}
    assert lines[clean]["ok"] is True
    assert lines[broken]["missing"] == [2]
    assert code == 1
    assert "Scan" not in operations


def test_the_nightly_audit_checks_the_day_and_emits_numbering_violations(
    lambda_env, httpserver, dynamodb, table_name, capsys, caplog, monkeypatch
):
    # Given orders of the 30th, one tenant with an order numbered twice
    clean, broken = new_tenant("clean"), new_tenant("broken")
    create_orders(httpserver, clean, 2)
    create_orders(httpserver, broken, 2)
    first = by_number(dynamodb, table_name, broken)[1]
    twin = str(uuid.uuid4())
    put(dynamodb, table_name, {**first, "id": twin, "SK": f"ORDER#{twin}", "GSI1_SK": first["GSI1_SK"] + "x"})
    capsys.readouterr()
    caplog.clear()
    monkeypatch.setattr(numbering_audit, "RECHECK_SECONDS", 0)  # other tests' planted violations share the day

    # When the scheduled handler runs for that day
    summary = audit.lambda_handler({"day": "2025-12-30"}, lambda_context())

    # Then it reports the day, the broken tenant and the metric, and logs the violation by ids only
    out = capsys.readouterr().out
    assert summary["day"] == "2025-12-30"
    assert broken in summary["failedTenants"]
    assert clean not in summary["failedTenants"]
    assert summary["violations"] >= 1
    blobs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    metric = next(b for b in blobs if "NumberingViolations" in b)
    assert metric["NumberingViolations"] in (summary["violations"], [summary["violations"]])
    logged = [r for r in caplog.records if r.getMessage() == "numbering violation" and r.tenant_id == broken]
    assert [(r.kind, r.numbers) for r in logged] == [("duplicated", [1])]
    assert "jane@example.com" not in out + caplog.text


def test_the_command_refuses_what_it_cannot_run(run):
    assert run("orders", "audit", "--table", "orders-test")[0] == 2  # all tenants need --from
    assert run("orders", "audit", "--tenant", "t", "--timezone", "Mars/Base", "--table", "x")[0] == 2
    assert run("orders", "audit", "--tenant", "t", "--from", "2025-13-01", "--table", "x")[0] == 2
    assert run("orders", "audit", "--from", "2025-12-30", "--deep", "--max-rcu", "0", "--table", "orders-test")[0] == 2
    code, _, err = run("orders", "audit", "--tenant", "t", "--deep", "--table", "orders-test")
    assert code == 2  # the tenant's orders are all read already: a scan would find nothing more
    assert "--deep is for every tenant" in err
    code, _, err = run("orders", "audit", "--tenant", "t", "--table", "no-such-table")
    assert code == 2  # an access error (contract §8), not a verdict on the numbers
    assert "no-such-table does not exist" in err
    assert "Traceback" not in err


def test_the_test_invariant_is_the_audit(lambda_env, httpserver, dynamodb, table_name):
    # Given a tenant with a hole in its numbers
    tenant = new_tenant()
    create_orders(httpserver, tenant, 3)
    hole = by_number(dynamodb, table_name, tenant)[3]
    dynamodb.delete_item(TableName=table_name, Key={"PK": {"S": hole["PK"]}, "SK": {"S": hole["SK"]}})

    # Then the suite's own invariant check fails on it, naming the missing number
    with pytest.raises(AssertionError, match=r"counter 3, 2 orders: FAILED: missing 3"):
        assert_gapless(dynamodb, table_name, tenant)


# orders by e-mail ------------------------------------------------------------------------------------


def test_the_email_listing_finds_one_customers_orders_whatever_the_spelling(
    lambda_env, httpserver, dynamodb, table_name, run
):
    # Given a customer's orders under three spellings of the address, another customer's, and the same address
    # at another tenant
    tenant, other_tenant = new_tenant(), new_tenant()
    jane = [
        *create_orders(httpserver, tenant, 2, customerEmail="Jane.Doe@Example.com"),
        *create_orders(httpserver, tenant, 1, customerEmail="jane.doe@example.com"),
    ]
    create_orders(httpserver, tenant, 2, customerEmail="john@example.com")
    create_orders(httpserver, other_tenant, 2, customerEmail="jane.doe@example.com")

    # When the listing asks with yet another spelling, with blanks around it
    code, out, err = run("orders", "list", "--tenant", tenant, "--email", "  JANE.doe@EXAMPLE.COM ", "--json")
    page_code, page_out, page_err = run(
        "orders", "list", "--tenant", tenant, "--email", "jane.doe@example.com", "--limit", "2"
    )

    # Then it has exactly her orders of this tenant, and never the address itself
    assert code == 0, err
    listed = [json.loads(line) for line in out.splitlines()]
    assert sorted(o["id"] for o in listed) == sorted(m["orderId"] for m in jane)
    assert all(o["tenantId"] == tenant for o in listed)
    assert "jane" not in out.lower()
    assert page_code == 0
    assert len(page_out.splitlines()) == 3  # the header and two orders
    assert "--after" in page_err
    cursor = page_err.split("--after ")[1].split()[0]
    _, rest, _ = run("orders", "list", "--tenant", tenant, "--email", "jane.doe@example.com", "--after", cursor)
    assert len(rest.splitlines()) == 2  # the header and the third


def test_the_index_holds_a_hash_of_the_address_never_the_address(lambda_env, httpserver, dynamodb, table_name):
    tenant = new_tenant()
    create_orders(httpserver, tenant, 1, customerEmail="Jane@Example.com")
    (order,) = orders_of(dynamodb, table_name, tenant)
    assert order["GSI3_PK"].startswith(f"TENANT#{tenant}#CUSTOMER#")
    assert "jane" not in order["GSI3_PK"].lower()
    assert "GSI3_SK" not in order  # the index sorts on GSI1_SK itself


# table migrate ---------------------------------------------------------------------------------------


class Interrupting:
    """The real DAO, with Ctrl-C pressed after `after` items were keyed."""

    def __init__(self, dao: TableMigration, after: int) -> None:
        self._dao, self._left = dao, after

    def items_without_new_keys(self, *args: Any, **kwargs: Any) -> Any:
        return self._dao.items_without_new_keys(*args, **kwargs)

    def add_new_keys(self, item: dict[str, Any]) -> float | None:
        if self._left == 0:
            raise KeyboardInterrupt
        self._left -= 1
        return self._dao.add_new_keys(item)


def test_migrate_keys_older_orders_resumes_after_an_interruption_and_touches_nothing_else(
    lambda_env, httpserver, monkeypatch, dynamodb, tmp_path, run
):
    # Given a table of its own whose 25 orders and 2 counters were written before the new keys existed, and one
    # order written after
    table = f"migrate-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(**table_definition(table))
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", table)
    tenant, other = new_tenant(), new_tenant()
    create_orders(httpserver, tenant, 20, customerEmail="Old.Customer@example.com")
    create_orders(httpserver, other, 5, customerEmail="old.customer@example.com")
    for item in scan(dynamodb, table):
        keys = ("GSI3_PK", "GSI3_SK") if item["SK"].startswith("ORDER#") else ("GSI1_PK", "GSI1_SK")
        dynamodb.update_item(
            TableName=table,
            Key={"PK": {"S": item["PK"]}, "SK": {"S": item["SK"]}},
            UpdateExpression="REMOVE " + ", ".join(keys),
        )
    (newer,) = create_orders(httpserver, tenant, 1, customerEmail="old.customer@example.com")
    before = {(i["PK"], i["SK"]): i for i in scan(dynamodb, table)}
    assert sum(k[1].startswith("ORDER#") and "GSI3_PK" not in i for k, i in before.items()) == 25
    # both counters: the day key is set when a counter is created, not by its later updates
    assert sum(k[1].startswith("ORDER_NUMBER#") and "GSI1_PK" not in i for k, i in before.items()) == 2
    state = tmp_path / "state.json"

    # When a migration in pages of 4 is interrupted after 10 items, then the command is run to the end, twice
    dao = TableMigration(table, clients.dynamodb())
    with pytest.raises(KeyboardInterrupt):
        migrate(Interrupting(dao, 10), MigrationState(table), state, max_wcu=1000, page_size=4)
    saved = MigrationState.load(state, table)
    code, _, err = run("table", "migrate", "--table", table, "--state", str(state), "--max-wcu", "500")
    again, _, again_err = run("table", "migrate", "--table", table, "--state", str(state))

    # Then it stopped at a page boundary, continued from there, and a second run had nothing to do
    assert saved is not None
    assert saved.pages >= 2
    assert saved.position is not None
    assert code == 0, err
    assert "continuing from" in err
    assert not state.exists()
    assert again == 0
    assert "done: 0 orders and 0 counters keyed" in again_err
    # every order is findable by e-mail, in its own tenant only
    code, out, _ = run("orders", "list", "--tenant", tenant, "--email", "OLD.customer@example.com", "--json")
    assert len(out.splitlines()) == 21
    code, out, _ = run("orders", "list", "--tenant", other, "--email", "old.customer@example.com", "--json")
    assert len(out.splitlines()) == 5
    # the counters are found by day, and the audit of the day holds
    assert sorted(dao.tenants_of_day(DAY)) == sorted([tenant, other])
    assert [v.ok for v in numbering_audit.NumberingAudit(dao, UTC).every_tenant(DAY, DAY)] == [True, True]
    # and nothing but the new keys changed
    after = {(i["PK"], i["SK"]): i for i in scan(dynamodb, table)}
    assert set(after) == set(before)
    new_keys = {"GSI3_PK", "GSI3_SK", "GSI1_PK", "GSI1_SK"}
    for key, item in after.items():
        old = before[key]
        assert {k: v for k, v in item.items() if k not in new_keys} == {
            k: v for k, v in old.items() if k not in new_keys
        }
        assert all(old[k] == item[k] for k in new_keys & set(old))
    assert (
        after[(f"TENANT#{tenant}", f"ORDER#{newer['orderId']}")]
        == before[(f"TENANT#{tenant}", f"ORDER#{newer['orderId']}")]
    )


def scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        items += [unmarshal(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_migrate_refuses_a_state_file_of_another_table(run, tmp_path: Path):
    state = tmp_path / "state.json"
    MigrationState("another-table").save(state)
    code, _, err = run("table", "migrate", "--table", "orders-test", "--state", str(state))
    assert code == 2  # a usage error: exit code 1 is kept for "ran, and the answer is no"
    assert "another table" in err


# a tenant whose counter is gone ----------------------------------------------------------------------


def counterless_day(httpserver: Any, dynamodb: Any, monkeypatch: Any) -> tuple[str, str, str]:
    """A table of its own with two tenants' orders of DAY, the second tenant's counter of DAY deleted (by hand,
    a restore or a bug): returns the table, the intact tenant and the one without a counter."""
    table = f"counterless-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(**table_definition(table))
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", table)
    intact, counterless = new_tenant("intact"), new_tenant("counterless")
    create_orders(httpserver, intact, 2)
    create_orders(httpserver, counterless, 2)
    dynamodb.delete_item(
        TableName=table, Key={"PK": {"S": f"COUNTER#{counterless}"}, "SK": {"S": "ORDER_NUMBER#20251230"}}
    )
    return table, intact, counterless


def test_a_deep_audit_reports_a_tenant_whose_counter_is_gone(lambda_env, httpserver, dynamodb, monkeypatch, run):
    # Given a day of two tenants, one of whose counter was deleted
    table, intact, counterless = counterless_day(httpserver, dynamodb, monkeypatch)
    operations: list[str] = []
    clients.dynamodb().meta.events.register("before-call.dynamodb", lambda model, **_: operations.append(model.name))

    # When every tenant of the day is audited with --deep
    code, out, err = run(
        "orders", "audit", "--table", table, "--from", "2025-12-30", "--to", "2025-12-30", "--json", "--deep"
    )

    # Then both tenants are reported, the one without a counter failing with its orders' numbers beyond it,
    # found by one scan whose read units are told
    lines = {json.loads(line)["tenantId"]: json.loads(line) for line in out.splitlines()}
    assert set(lines) == {intact, counterless}, err
    assert list(lines[counterless]) == CONTRACT_KEYS
    assert lines[intact]["ok"] is True
    assert (lines[counterless]["counter"], lines[counterless]["orders"], lines[counterless]["beyond"]) == (0, 2, [1, 2])
    assert lines[counterless]["ok"] is False
    assert code == 1
    assert "audited 2 (tenant, day) pair(s), 4 orders: 1 failed" in err
    assert "found by a scan of the whole table too, read units spent: " in err
    assert operations.count("Scan") == 1


def test_without_deep_the_audit_keeps_to_the_counters_and_says_so(lambda_env, httpserver, dynamodb, monkeypatch, run):
    # Given the same damage
    table, intact, counterless = counterless_day(httpserver, dynamodb, monkeypatch)

    # When the day is audited from its counters alone, and the tenant by name
    code, out, err = run("orders", "audit", "--table", table, "--from", "2025-12-30", "--to", "2025-12-30", "--json")
    tenant_code, tenant_out, _ = run("orders", "audit", "--table", table, "--tenant", counterless, "--json")

    # Then the counters (it has none in the fortnight around the day) find only the intact tenant, and the
    # summary names the limit and the way past it; the tenant named is found failing
    assert [json.loads(line)["tenantId"] for line in out.splitlines()] == [intact]
    assert code == 0
    assert "found from the counters of 2025-12-23 to 2026-01-06: one with no counter there is found by --deep" in err
    assert tenant_code == 1
    assert json.loads(tenant_out)["beyond"] == [1, 2]


def test_a_deep_scan_is_held_to_max_rcu_and_finds_each_days_tenants(lambda_env, httpserver, dynamodb, monkeypatch):
    # Given the damaged day's table, and a rate limit of 2 read units a second (moto reports 1 a page)
    table, intact, counterless = counterless_day(httpserver, dynamodb, monkeypatch)
    store = Table(table, clients.dynamodb())
    pages: list[tuple[int, float]] = []

    # When the tenants of the 29th..31st are found by a scan in pages of one order (4 orders and a counter)
    class OnePerPage:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def scan_created(self, start: Any, end: Any, page_size: int = 1000) -> Any:
            return store.scan_created(start, end, page_size=1)

    numbering = numbering_audit.NumberingAudit(OnePerPage(), UTC)
    started = time.monotonic()
    found = numbering.tenants_by_scan(
        date(2025, 12, 29), date(2025, 12, 31), max_rcu=2, progress=lambda n, units: pages.append((n, units))
    )
    elapsed = time.monotonic() - started

    # Then every page was counted and the scan took at least its units over the limit; both tenants were found
    assert found == {intact, counterless}
    units = numbering.read_units_scanned
    assert pages[-1] == (len(pages), units)
    assert len(pages) >= 5
    assert elapsed >= units / 2 - 0.01


def test_a_tenant_whose_counter_of_a_day_is_gone_is_found_by_its_counters_of_the_days_around(
    lambda_env, httpserver, dynamodb, monkeypatch, run, capsys, caplog
):
    # Given the damaged day, the tenant without its counter of the 30th having taken an order on the 29th
    table, intact, counterless = counterless_day(httpserver, dynamodb, monkeypatch)
    create_orders(httpserver, counterless, 1, dateCreated="2025-12-29T10:15:00+02:00")
    operations: list[str] = []
    clients.dynamodb().meta.events.register("before-call.dynamodb", lambda model, **_: operations.append(model.name))
    monkeypatch.setattr(numbering_audit, "RECHECK_SECONDS", 0)

    # When the 30th is audited for every tenant, by the command and by the nightly handler, neither scanning
    code, out, err = run("orders", "audit", "--table", table, "--from", "2025-12-30", "--to", "2025-12-30", "--json")
    summary = audit.lambda_handler({"day": "2025-12-30"}, lambda_context())

    # Then both report the tenant's 30th as failing (its numbers beyond counter 0), and nothing scanned
    lines = {json.loads(line)["tenantId"]: json.loads(line) for line in out.splitlines()}
    assert set(lines) == {intact, counterless}, err
    assert (lines[counterless]["counter"], lines[counterless]["beyond"], lines[counterless]["ok"]) == (0, [1, 2], False)
    assert lines[intact]["ok"] is True
    assert code == 1
    assert (summary["tenants"], summary["failedTenants"], summary["violations"]) == (2, [counterless], 2)
    assert "Scan" not in operations
