"""Listing a queue without deleting (dlq inspect, events show): every message once, however long the queue."""

from __future__ import annotations

from typing import Any

from order_creator.queues import inspect_dead_letters


class ClockedQueue:
    """The part of an SQS client a listing uses, with SQS's visibility rule on a clock that moves one second
    per receive (a slow connection, or moto's receives on a long queue): a received message is hidden for the
    visibility timeout, then visible again, the oldest first."""

    def __init__(self, count: int, *, honours_visibility: bool = True) -> None:
        self.now = 0
        self.visible_at = {f"m{i:04d}": 0 for i in range(count)}
        self.honours_visibility = honours_visibility
        self.released: list[str] = []

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        waiting = sum(1 for at in self.visible_at.values() if at <= self.now)
        return {"Attributes": {"ApproximateNumberOfMessages": str(waiting)}}

    def receive_message(self, *, MaxNumberOfMessages: int, VisibilityTimeout: int, **_: Any) -> dict[str, Any]:
        self.now += 1
        ready = [m for m, at in self.visible_at.items() if at <= self.now][:MaxNumberOfMessages]
        for message_id in ready:
            self.visible_at[message_id] = self.now + (VisibilityTimeout if self.honours_visibility else 0)
        messages = [{"MessageId": m, "ReceiptHandle": f"{m}@{self.now}", "Body": "{}"} for m in ready]
        return {"Messages": messages} if messages else {}

    def change_message_visibility_batch(self, *, Entries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        self.released += [e["ReceiptHandle"] for e in Entries]
        return {"Successful": [], "Failed": []}


def test_a_queue_whose_listing_outlasts_30_seconds_is_listed_whole_once():
    # Given a queue of 2,600 messages (the events soak's target), and a second per receive: 260 s to list it
    queue = ClockedQueue(2600)

    # When it is listed
    listed = inspect_dead_letters(queue, "url")  # type: ignore[arg-type]

    # Then every message is listed once (a 30 s visibility listed 300 and stopped), and all are released
    assert sorted(m.message_id for m in listed) == sorted(queue.visible_at)
    assert len(queue.released) == 2600


def test_a_limit_stops_the_listing_there():
    queue = ClockedQueue(250)
    listed = inspect_dead_letters(queue, "url", limit=35)  # type: ignore[arg-type]
    assert len({m.message_id for m in listed}) == len(listed) == 35


def test_a_queue_that_hands_the_same_messages_back_ends_the_listing_rather_than_looping():
    # Given a queue whose received messages come back at once (a visibility timeout it does not keep)
    queue = ClockedQueue(50, honours_visibility=False)

    # When it is listed, Then the listing ends after a whole pass brings nothing new, each message once
    listed = inspect_dead_letters(queue, "url")  # type: ignore[arg-type]
    assert len({m.message_id for m in listed}) == len(listed) == 10
    assert queue.now < 10
