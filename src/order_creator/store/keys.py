"""The orders table's shape (contract §4): every key, index name and projection, and an order as its item."""

from __future__ import annotations

import hashlib
import string
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from order_creator.models import Order
from order_creator.numbering import day_key, utc_millis

ORDERS_BY_DATE_INDEX = "OrdersByDateIndex"
ORDER_BY_ID_INDEX = "OrderByIdIndex"
ORDERS_BY_CUSTOMER_INDEX = "OrdersByCustomerIndex"
# What OrdersByDateIndex and OrdersByCustomerIndex project besides the keys (docs/design.md says why)
LISTING_ATTRIBUTES = (
    "id",
    "orderNumber",
    "tenantId",
    "cartId",
    "status",
    "currency",
    "subtotal",
    "tax",
    "total",
    "dateCreated",
    "sourceMessageId",
)
CUSTOMER_INDEX_ATTRIBUTES = LISTING_ATTRIBUTES


def order_key(tenant_id: str, order_id: str) -> dict[str, str]:
    """The order's primary key as plain strings."""
    return {"PK": f"TENANT#{tenant_id}", "SK": f"ORDER#{order_id}"}


def counter_key(tenant_id: str, day: date) -> dict[str, str]:
    """The counter's primary key: one partition per tenant, one item per business day."""
    return {"PK": f"COUNTER#{tenant_id}", "SK": f"ORDER_NUMBER#{day_key(day)}"}


def customer_partition(tenant_id: str, email: str) -> str:
    """`GSI3_PK`: the tenant and a SHA-256 of the address's `mailbox_key`, never the address itself."""
    digest = hashlib.sha256(mailbox_key(email).encode("utf-8", "surrogatepass")).hexdigest()
    return f"TENANT#{tenant_id}#CUSTOMER#{digest}"


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def mailbox_key(email: str) -> str:
    """What is the same mailbox (docs/contract.md §4): the address without the ASCII blanks around it; the local
    part with its ASCII letters lower-cased, in NFC; the domain in NFC, lower-cased, each label in its IDNA form."""
    text = email.strip(" \t\r\n")
    if text.isascii():
        return text.lower()  # the rules below, for the common address: every letter ASCII
    local, at, domain = text.rpartition("@")
    if not at:
        return unicodedata.normalize("NFC", text.translate(_ASCII_LOWER))
    return f"{unicodedata.normalize('NFC', local.translate(_ASCII_LOWER))}@{_domain_key(domain)}"


def _domain_key(domain: str) -> str:
    labels = []
    for label in unicodedata.normalize("NFC", domain).split("."):
        if label.isascii():
            labels.append(label.lower())
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))  # IDNA 2003 ToASCII: nameprep (case, forms), punycode
        except UnicodeError:  # a label IDNA refuses (too long, a prohibited character): compared as written
            labels.append(label.lower())
    return ".".join(labels)


def counters_of_day_partition(day: date) -> str:
    """`GSI1_PK` of every counter of a business day: OrdersByDateIndex then lists the tenants that took orders."""
    return f"COUNTERS#{day_key(day)}"


def order_item(order: Order) -> dict[str, Any]:
    """The order as a table item with every key of the table and its three indexes."""
    return {
        **order_key(order.tenant_id, order.id),
        "GSI1_PK": f"TENANT#{order.tenant_id}",
        "GSI1_SK": f"{utc_millis(datetime.fromisoformat(order.date_created))}#{order.id}",  # the creation key
        "GSI2_PK": f"ORDER#{order.id}",
        "GSI2_SK": "METADATA",
        "GSI3_PK": customer_partition(order.tenant_id, order.customer_email),  # sorted by GSI1_SK (§4)
        "entityType": "ORDER",
        **order.to_attributes(),
    }


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for the contract's schema, as template.yaml declares the table (on demand)."""
    keys = ("PK", "SK", "GSI1_PK", "GSI1_SK", "GSI2_PK", "GSI2_SK", "GSI3_PK")
    listing = {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(LISTING_ATTRIBUTES)}

    def index(name: str, pk: str, sk: str, projection: dict[str, Any]) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
            "Projection": projection,
        }

    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            index(ORDERS_BY_DATE_INDEX, "GSI1_PK", "GSI1_SK", listing),
            index(ORDER_BY_ID_INDEX, "GSI2_PK", "GSI2_SK", {"ProjectionType": "KEYS_ONLY"}),
            index(ORDERS_BY_CUSTOMER_INDEX, "GSI3_PK", "GSI1_SK", listing),
        ],
    }


def missing_indexes(described: Mapping[str, Any]) -> list[str]:
    """The schema's indexes a table (as DescribeTable describes it) lacks."""
    present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    return [i["IndexName"] for i in table_definition("")["GlobalSecondaryIndexes"] if i["IndexName"] not in present]
