"""Every job on the orders table in one object, for the CLI's commands (which share one) and the tests."""

from __future__ import annotations

from order_creator.migrate import TableMigration
from order_creator.store.listings import OrderListings
from order_creator.store.orders import OrderTable


class Table(OrderTable, OrderListings, TableMigration):
    """`ports.OrderStore`, the listings, `numbering_audit.AuditStore` and `migrate.MigrationStore` on one table."""
