"""The orders table as template.yaml declares it, as CreateTable arguments (no SAM tools needed: the table is a
plain CloudFormation resource, which the SAM transform leaves as it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from order_creator.store.keys import table_definition

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
# What CreateTable takes of the resource's properties for the table's shape (name, encryption, streams and
# protection are the deployment's, not the schema's).
SHAPE = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads `!Sub`, `!Ref`, `!If` and the other short forms as plain values (the shape holds none of them)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def template_table(table_name: str, logical_id: str = "OrdersTable") -> dict[str, Any]:
    """CreateTable arguments for the template's table resource, named `table_name`."""
    template = yaml.load(TEMPLATE.read_text(), Loader=_CloudFormationLoader)
    properties = template["Resources"][logical_id]["Properties"]
    return {"TableName": table_name, **{key: properties[key] for key in SHAPE if key in properties}}


def previous_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments of the previous version's table: OrdersByDateIndex and OrderByIdIndex projecting
    everything, OrdersByCustomerIndex sorted on GSI3_SK."""
    definition = table_definition(name)
    definition["AttributeDefinitions"].append({"AttributeName": "GSI3_SK", "AttributeType": "S"})
    by_date, by_id, by_customer = definition["GlobalSecondaryIndexes"]
    by_date["Projection"] = by_id["Projection"] = {"ProjectionType": "ALL"}
    by_customer["KeySchema"][1]["AttributeName"] = "GSI3_SK"
    return definition
