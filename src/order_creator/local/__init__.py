"""The embedded emulator: a single-threaded moto server on loopback, for `order-creator local` and the tests."""

from order_creator.local.emulator import MotoServer

__all__ = ["MotoServer"]
