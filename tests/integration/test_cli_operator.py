"""The CLI as an operator meets it: each mistake of the command line or the environment is one line naming the
thing to change, with the documented exit code, never a traceback nor a quiet success."""

from __future__ import annotations

import pytest

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
