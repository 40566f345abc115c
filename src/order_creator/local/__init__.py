"""Local stand-ins for AWS and the Cart API: the embedded emulator (a single-threaded moto server) and a
Cart API serving carts from a file, for `order-creator local` and the tests."""

from order_creator.local.cart_api import CartApiServer, IamAuth
from order_creator.local.emulator import MotoServer

__all__ = ["CartApiServer", "IamAuth", "MotoServer"]
