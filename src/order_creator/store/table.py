"""Every job on the orders table in one object, for the CLI's commands (which share one) and the tests."""

from __future__ import annotations

from order_creator.store.listings import OrderListings
from order_creator.store.orders import OrderTable
from order_creator.store.scans import TableScans


class Table(OrderTable, OrderListings, TableScans):
    """`ports.OrderStore`, the listings and `numbering_audit.AuditStore` on one table."""
