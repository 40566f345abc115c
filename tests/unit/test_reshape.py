"""The order of the index changes `table migrate` makes: one index at a time, each deleted and then created
before the next starts, waiting while DynamoDB is busy."""

from __future__ import annotations

import copy
from typing import Any

from order_creator import reshape
from order_creator.store.keys import table_definition
from tests.template_table import previous_definition


class Table:
    """A table's description that takes one poll to finish each index change, as DynamoDB does in the background."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.indexes = [{**copy.deepcopy(i), "IndexStatus": "ACTIVE"} for i in definition["GlobalSecondaryIndexes"]]
        self.log: list[str] = []

    def describe(self) -> dict[str, Any]:
        described = {"TableStatus": "ACTIVE", "GlobalSecondaryIndexes": copy.deepcopy(self.indexes)}
        for index in self.indexes:  # what was under way is done by the next look
            if index["IndexStatus"] == "CREATING":
                index["IndexStatus"] = "ACTIVE"
        self.indexes = [i for i in self.indexes if i["IndexStatus"] != "DELETING"]
        return described

    def change_index(self, step: reshape.IndexStep, wanted: dict[str, Any]) -> None:
        busy = [i["IndexName"] for i in self.indexes if i["IndexStatus"] != "ACTIVE"]
        assert not busy, f"{step} while {busy} is changing"  # DynamoDB: one index change at a time
        self.log.append(f"{step.action} {step.index}")
        if step.action == "delete":
            (index,) = [i for i in self.indexes if i["IndexName"] == step.index]
            index["IndexStatus"] = "DELETING"
        else:
            (index,) = [i for i in wanted["GlobalSecondaryIndexes"] if i["IndexName"] == step.index]
            self.indexes.append({**copy.deepcopy(index), "IndexStatus": "CREATING"})


def test_each_index_of_another_shape_is_deleted_then_created_one_at_a_time():
    table, waits = Table(previous_definition("t")), []

    steps = reshape.reshape_indexes(table, table_definition("t"), say=lambda _: None, sleep=waits.append)  # type: ignore[arg-type]

    assert table.log == [
        "delete OrdersByDateIndex",
        "create OrdersByDateIndex",
        "delete OrderByIdIndex",
        "create OrderByIdIndex",
        "delete OrdersByCustomerIndex",
        "create OrdersByCustomerIndex",
    ]
    assert steps == 6
    assert len(waits) == 6  # each change waited for before the next
    assert reshape.next_index_step(table.describe(), table_definition("t")) is None


def test_a_table_of_this_shape_is_left_alone_and_a_busy_one_waited_for():
    wanted = table_definition("t")
    table = Table(wanted)
    assert reshape.reshape_indexes(table, wanted, say=lambda _: None, sleep=lambda _: None) == 0  # type: ignore[arg-type]
    assert table.log == []

    described = table.describe()
    described["GlobalSecondaryIndexes"][1]["Backfilling"] = True
    assert reshape.next_index_step(described, wanted) == reshape.IndexStep("wait")
    described["GlobalSecondaryIndexes"][1]["Backfilling"] = False
    described["TableStatus"] = "UPDATING"
    assert reshape.next_index_step(described, wanted) == reshape.IndexStep("wait")


def test_only_the_indexes_of_another_shape_are_rebuilt_and_others_are_kept():
    wanted = table_definition("t")
    described = {"TableStatus": "ACTIVE", "GlobalSecondaryIndexes": copy.deepcopy(wanted["GlobalSecondaryIndexes"])}
    described["GlobalSecondaryIndexes"][0]["Projection"]["NonKeyAttributes"].reverse()  # the same set
    described["GlobalSecondaryIndexes"].append({**described["GlobalSecondaryIndexes"][1], "IndexName": "Someone's"})
    assert reshape.next_index_step(described, wanted) is None

    described["GlobalSecondaryIndexes"][2]["KeySchema"][1]["AttributeName"] = "GSI3_SK"
    assert reshape.next_index_step(described, wanted) == reshape.IndexStep("delete", "OrdersByCustomerIndex")
    del described["GlobalSecondaryIndexes"][2]
    assert reshape.next_index_step(described, wanted) == reshape.IndexStep("create", "OrdersByCustomerIndex")
