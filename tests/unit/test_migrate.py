"""`table migrate`'s rate limit and state file (the migration itself runs against moto in the integration tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from order_creator.migrate import MigrationState, RateLimit
from order_creator.tooling import OperationError


def test_the_rate_limit_waits_until_the_average_is_back_under_it():
    # Given a limit of 10 units a second on a clock that only moves when told
    now = [100.0]
    slept: list[float] = []
    limit = RateLimit(10, clock=lambda: now[0], sleep=slept.append)

    # When 5 units are spent at once, then 5 more a second later
    limit.spend(5)
    now[0] += 1.0
    limit.spend(5)

    # Then it waited half a second the first time and not at all the second
    assert slept == [pytest.approx(0.5)]


def test_the_state_survives_a_round_trip_and_refuses_another_table(tmp_path: Path):
    path = tmp_path / "state.json"
    MigrationState("orders", position={"PK": "TENANT#a", "SK": "ORDER#1"}, pages=3, orders=7).save(path)

    loaded = MigrationState.load(path, "orders")

    assert loaded is not None
    assert (loaded.position, loaded.pages, loaded.orders) == ({"PK": "TENANT#a", "SK": "ORDER#1"}, 3, 7)
    assert MigrationState.load(tmp_path / "none.json", "orders") is None
    with pytest.raises(OperationError, match="another table"):
        MigrationState.load(path, "other")
    path.write_text("not json")
    with pytest.raises(OperationError, match="not a migration state file"):
        MigrationState.load(path, "orders")
