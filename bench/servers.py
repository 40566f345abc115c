"""The network the benchmark runs against: the emulator, a delaying proxy in front of it, and a slow Cart API.

Each runs in its own process (`python bench/servers.py moto|network ...`), so the code under test does
not share a GIL with the servers, and prints its URL(s) as one JSON line on stdout when ready.

- `moto`: the project's single-threaded moto server (`order_creator.local.MotoServer`), which serialises
  requests as DynamoDB does.
- `network`: the reliability suite's wire proxy (`tests.reliability.faults.WireProxy`, no faults), which waits
  `--dynamodb-delay` seconds before forwarding each request to moto and times moto's own work (clients reach
  it through `AWS_ENDPOINT_URL`), and the local Cart API in a variation where every cart exists: three items,
  answered after `--cart-delay` seconds. Both serve concurrent requests, as the real services do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.factories import cart
from tests.reliability.faults import WireProxy

from order_creator.local import CartApiServer, MotoServer
from order_creator.models import exact_json

CART_PRICES = ("149.99", "49.50", "12.00")


class EveryCartApi(CartApiServer):
    """The Cart API where every cart exists, belongs to the tenant asked for, and holds three items."""

    def cart_text(self, tenant_id: str, cart_id: str) -> str | None:
        return exact_json(cart(tenant_id, cart_id, prices=CART_PRICES, tax="31.72"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["moto", "network"])
    parser.add_argument("--moto-url")
    parser.add_argument("--dynamodb-delay", type=float, default=0.010)
    parser.add_argument("--cart-delay", type=float, default=0.050)
    args = parser.parse_args()
    if args.role == "moto":
        urls = {"moto": MotoServer().start()}
    else:
        carts = EveryCartApi()
        carts.delay_seconds = args.cart_delay
        urls = {"dynamodb": WireProxy(args.moto_url, args.dynamodb_delay).start(), "cart": carts.start()}
    print(json.dumps(urls), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
