"""The network the benchmark runs against, each role in its own process, printing its URLs as a JSON line when ready:
`moto`, the project's single-threaded moto server (`copy_tables_once`; `ReturnConsumedCapacity` by `bench/capacity.py`);
`network`, the reliability suite's wire proxy adding `--dynamodb-delay` to each request, and a Cart API where every
cart exists, answering after `--cart-delay`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.factories import cart
from tests.reliability.faults import WireProxy

import capacity
from order_creator.local import CartApiServer, MotoServer
from order_creator.tooling import exact_json

CART_PRICES = ("149.99", "49.50", "12.00")


class EveryCartApi(CartApiServer):
    """The Cart API where every cart exists, belongs to the tenant asked for, and holds three items."""

    def cart_text(self, tenant_id: str, cart_id: str) -> str | None:
        return exact_json(cart(tenant_id, cart_id, prices=CART_PRICES, tax="31.72"))


def copy_tables_once() -> None:
    """moto 5.2.5 deep-copies a table for every item of a transaction, each time for the same rollback state; copy
    it once per transaction instead. Same answers; the emulator's cost no longer grows with the transaction's size."""
    import copy
    from types import SimpleNamespace

    from moto.dynamodb import models

    stock = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: Any) -> None:
        copies: dict[int, Any] = {}

        def deepcopy(value: Any) -> Any:
            if not isinstance(value, models.Table):
                return copy.deepcopy(value)
            return copies[id(value)] if id(value) in copies else copies.setdefault(id(value), copy.deepcopy(value))

        models.copy = SimpleNamespace(deepcopy=deepcopy)  # type: ignore[assignment]  # one request at a time
        try:
            stock(self, transact_items)
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["moto", "network"])
    parser.add_argument("--moto-url")
    parser.add_argument("--dynamodb-delay", type=float, default=0.010)
    parser.add_argument("--cart-delay", type=float, default=0.050)
    args = parser.parse_args()
    if args.role == "moto":
        copy_tables_once()
        capacity.install()
        urls = {"moto": MotoServer().start()}
    else:
        carts = EveryCartApi()
        carts.delay_seconds = args.cart_delay
        urls = {"dynamodb": WireProxy(args.moto_url, args.dynamodb_delay).start(), "cart": carts.start()}
    print(json.dumps(urls), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
