"""A scenario: a seeded workload of SQS deliveries, the drain loop that redelivers until nothing is left,
and the invariant of contract §4–§5 checked on the table and the dead-letter queue afterwards.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from order_creator.cli.audit import describe
from order_creator.numbering import parse_day_key
from order_creator.numbering_audit import check_orders
from tests.factories import cart_json, counters_of, invoke, new_tenant, orders_of, record
from tests.reliability.faults import CART_MALFORMED, CART_WRONG_TYPE, CartApi, CartReply, Faults

DAYS = (date(2025, 12, 30), date(2025, 12, 31), date(2026, 1, 1))
OFFSETS = ("+02:00", "+00:00", "-05:00", "+14:00", "-11:00")

# What an invalid message is made of, and the errorType it must reach the dead-letter queue with.
INVALID_KINDS: dict[str, str] = {
    "body_not_json": "InvalidMessage",
    "body_wrong_shape": "InvalidMessage",
    "hash_in_tenant_id": "InvalidMessage",
    "date_without_offset": "InvalidMessage",
    "lone_surrogate": "InvalidMessage",
    "cart_404": "CartNotFound",
    "cart_400": "CartRejected",
    "cart_of_other_tenant": "InvalidCart",
    "cart_total_off_by_one_cent": "InvalidCart",
    CART_MALFORMED: "InvalidCart",
    CART_WRONG_TYPE: "InvalidCart",
    "order_id_reused_for_other_cart": "OrderConflict",
}
_ORDER_NUMBER = re.compile(r"^ORD-(\d{8})-(\d{5,})$")


@dataclass(frozen=True)
class Delivery:
    """One SQS record as delivered, and what the message must end as.

    `error_type` is None for a message that is valid on its own. Two valid messages with one order id
    and different carts are a conflict: exactly one becomes the order, the other is dead-lettered.
    """

    record: dict[str, Any]
    order_id: str | None
    tenant_id: str | None
    cart_id: str | None
    error_type: str | None
    kind: str = "valid"
    home: str = ""  # the tenant the message was written for, even when its body cannot say so

    @property
    def message_id(self) -> str:
        return str(self.record["messageId"])

    @property
    def body(self) -> str:
        return str(self.record["body"])


@dataclass
class Workload:
    """The deliveries in arrival order (duplicates included) and what the carts add up to."""

    deliveries: list[Delivery]
    tenants: list[str]
    zone: ZoneInfo
    totals: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # tenant → the table its orders go to
    personal_data: list[str] = field(default_factory=list)
    repeats: Counter[str] = field(default_factory=Counter)  # how many deliveries repeat another, and how

    @property
    def kinds(self) -> Counter[str]:
        return Counter(d.kind for d in self.deliveries)


def build_workload(
    carts: CartApi,
    messages: int,
    *,
    seed: int,
    tenants: int = 4,
    duplicate_share: float = 0.10,
    invalid_share: float = 0.05,
    zone: str = "Africa/Johannesburg",
    new_table: Callable[[], str],
    tenants_per_table: int = 2,
) -> Workload:
    """`messages` deliveries: a `duplicate_share` of them repeats (redeliveries with the same messageId
    and in-batch repeats with a new one), an `invalid_share` invalid in every way `INVALID_KINDS` lists.
    Registers every cart with `carts`; every `tenants_per_table` tenants share a new table.
    """
    rng = random.Random(seed)
    workload = Workload([], [new_tenant("rel") for _ in range(tenants)], ZoneInfo(zone))
    for start in range(0, tenants, tenants_per_table):
        table = new_table()
        workload.tables.update(dict.fromkeys(workload.tenants[start : start + tenants_per_table], table))
    duplicates = round(messages * duplicate_share)
    unique = messages - duplicates
    invalid_at = set(rng.sample(range(unique), round(messages * invalid_share)))
    kinds = sorted(INVALID_KINDS)
    originals: list[Delivery] = []
    for i in range(unique):
        kind = kinds[i % len(kinds)] if i in invalid_at else "valid"
        valid_before = [d for d in originals[-50:] if d.kind == "valid"]
        if kind == "order_id_reused_for_other_cart" and not valid_before:
            kind = "cart_404"
        originals.append(_delivery(workload, carts, rng, i, kind, rng.choice(valid_before) if valid_before else None))
    stream = list(originals)
    for _ in range(duplicates):
        original = rng.choice(originals)
        at = next(i for i, delivery in enumerate(stream) if delivery is original)
        if rng.random() < 0.5:  # SQS delivers the same message again, later
            copy = replace(original, record={**original.record, "receiptHandle": f"handle-{uuid.uuid4().hex}"})
            stream.insert(rng.randrange(at + 1, len(stream) + 1), copy)
            workload.repeats["redelivered, same messageId"] += 1
        else:  # the producer sent it twice: a new messageId, the same body, most likely in the same batch
            stream.insert(at + 1, replace(original, record=record(original.body)))
            workload.repeats["sent twice, new messageId"] += 1
    workload.deliveries = stream
    return workload


def _delivery(
    workload: Workload, carts: CartApi, rng: random.Random, i: int, kind: str, earlier: Delivery | None
) -> Delivery:
    tenant = rng.choice(workload.tenants)
    cart_id = f"cart-{i}-{rng.randrange(10**6)}"
    order_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if kind == "order_id_reused_for_other_cart":
        assert earlier is not None
        tenant, order_id = str(earlier.tenant_id), str(earlier.order_id)
    body = _message(rng, i, tenant, cart_id, order_id)
    workload.personal_data += [body["customerEmail"], body["billingAddress"]["street"]]
    document = _cart(rng, tenant, cart_id)
    reply = CartReply(cart_json(document))
    error_type = INVALID_KINDS.get(kind)
    text: str | None = None
    if kind == "body_not_json":
        text = json.dumps(body)[: rng.randrange(1, 60)]
    elif kind == "body_wrong_shape":
        text = json.dumps(rng.choice([[body], {"order": body}, {**body, "orderId": 42}, "order", 7]))
    elif kind == "hash_in_tenant_id":
        body["tenantId"] = f"{tenant}#ORDER#{order_id}"
    elif kind == "date_without_offset":
        body["dateCreated"] = "2025-12-30T10:15:00"
    elif kind == "lone_surrogate":
        body["billingAddress"]["street"] += " \ud800"  # json.dumps writes it as the escape \ud800
    elif kind == "cart_404":
        reply = None
    elif kind == "cart_400":
        reply = CartReply('{"message": "bad request"}', status=400)
    elif kind == "cart_of_other_tenant":
        other = next(t for t in workload.tenants if t != tenant) if len(workload.tenants) > 1 else new_tenant()
        reply = CartReply(cart_json({**document, "tenantId": other}))
    elif kind == "cart_total_off_by_one_cent":
        reply = CartReply(cart_json({**document, "total": document["total"] + Decimal("0.01")}))
    elif kind == CART_MALFORMED:
        reply = CartReply(cart_json(document)[: -rng.randrange(1, 20)], fault=CART_MALFORMED)
    elif kind == CART_WRONG_TYPE:
        reply = CartReply("<html><body>200 OK</body></html>", content_type="text/html", fault=CART_WRONG_TYPE)
    elif kind == "order_id_reused_for_other_cart":
        error_type = None  # valid on its own; which of the two wins is decided by arrival
    if reply is not None:
        carts.put(tenant, cart_id, reply)
    workload.totals[(tenant, cart_id)] = document["total"]
    parsed = error_type != "InvalidMessage"
    return Delivery(
        record(text if text is not None else json.dumps(body)),
        order_id if parsed else None,
        tenant if parsed else None,
        cart_id if parsed else None,
        error_type,
        kind,
        tenant,
    )


def _message(rng: random.Random, i: int, tenant: str, cart_id: str, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orderId": order_id,
        "tenantId": tenant,
        "cartId": cart_id,
        "customerEmail": f"buyer.{i}.{rng.randrange(10**6)}@mail-{i % 7}.example.org",
        "billingAddress": {
            "street": f"{i} Hidden Lane {rng.randrange(10**4)}",
            "city": "Cape Town",
            "province": "Western Cape",
            "postalCode": "8001",
            "country": "ZA",
        },
        "unknownField": {"tolerant": "reader"},
    }
    if rng.random() < 0.9:  # otherwise the record's SentTimestamp is the order's date
        moment = f"{rng.choice(DAYS)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        body["dateCreated"] = moment + rng.choice(OFFSETS)
    if rng.random() < 0.5:
        body["paymentDetails"] = {"paymentId": f"pay-{i}", "method": "card", "paidAt": "2025-12-30T10:16:00+02:00"}
    if rng.random() < 0.3:
        body["campaign"] = {"id": "camp-1", "code": "SUMMER25", "discountPercentage": 25}
    return body


def _cart(rng: random.Random, tenant: str, cart_id: str) -> dict[str, Any]:
    items = []
    for k in range(rng.randint(1, 3)):
        quantity = rng.randint(1, 3)
        unit_price = Decimal(rng.randint(100, 99_999)) / 100
        discount = min(Decimal(rng.randint(0, 500)) / 100, unit_price * quantity)
        items.append(
            {
                "id": f"li-{k}",
                "productId": f"p-{rng.randrange(100)}",
                "productName": f"Product {k} ünïcode ✓",
                "quantity": quantity,
                "unitPrice": unit_price,
                "discount": discount,
                "subtotal": unit_price * quantity - discount,
            }
        )
    subtotal = sum((item["subtotal"] for item in items), Decimal(0))
    tax = (subtotal * Decimal("0.15")).quantize(Decimal("0.01"))
    return {
        "cartId": cart_id,
        "tenantId": tenant,
        "currency": "ZAR",
        "items": items,
        "subtotal": subtotal,
        "tax": tax,
        "total": subtotal + tax,
    }


# --- the drain loop -----------------------------------------------------------------------------------

BatchRunner = Callable[[list[dict[str, Any]], int], "list[str] | None"]


@dataclass
class DrainReport:
    """How the queue was drained."""

    rounds: int = 0
    invocations: int = 0
    redeliveries: int = 0
    crashes: int = 0
    left: list[dict[str, Any]] = field(default_factory=list)


def drain(
    records: Sequence[dict[str, Any]],
    faults: Sequence[Faults],
    *,
    seed: int,
    max_rounds: int = 12,
    quiet_rounds: int = 2,
    batch_size: int = 10,
    crash_runner: BatchRunner | None = None,
    crash_every: int = 0,
    batch_offset: int = 0,
) -> DrainReport:
    """Deliver `records` in batches to the real handler and redeliver what it reports as failed, shuffled
    into later batches, as SQS would, until nothing is left or `max_rounds` have passed. The faults are
    switched off for the last `quiet_rounds` so a correct handler always converges.

    With `crash_runner`, every `crash_every`-th batch (counting from `batch_offset`) runs in a child
    process that is killed mid-batch; a killed batch is redelivered whole.
    """
    rng = random.Random(seed)
    report = DrainReport()
    pending = list(records)
    batch_number = batch_offset
    while pending and report.rounds < max_rounds:
        for switch in faults:
            switch.enabled = report.rounds < max_rounds - quiet_rounds
        failed: list[dict[str, Any]] = []
        for batch in _batches(pending, batch_size):
            batch_number += 1
            report.invocations += 1
            if crash_runner is not None and crash_every and batch_number % crash_every == 0:
                # A crash batch runs without faults, so the step it is killed at is the one chosen.
                enabled = [switch.enabled for switch in faults]
                for switch in faults:
                    switch.enabled = False
                failures = crash_runner(batch, batch_number)
                for switch, was in zip(faults, enabled, strict=True):
                    switch.enabled = was
                if failures is None:
                    report.crashes += 1
                    failures = [r["messageId"] for r in batch]
            else:
                failures = invoke(*batch)
            kept = set(failures)
            failed += [_redelivered(r) for r in batch if r["messageId"] in kept]
        report.rounds += 1
        report.redeliveries += len(failed)
        rng.shuffle(failed)
        pending = failed
    for switch in faults:
        switch.enabled = True
    report.left = pending
    return report


def drain_by_table(
    workload: Workload, configure: Callable[..., None], faults: Sequence[Faults], *, seed: int, **options: Any
) -> DrainReport:
    """`drain` each table's share of the deliveries, the handler configured for that table.

    Why several tables: moto copies a whole table for every item of a transaction, so one table of
    20,000 orders would make the emulator, not the code under test, the bottleneck.
    """
    total = DrainReport()
    for table in dict.fromkeys(workload.tables.values()):
        configure(DYNAMODB_TABLE_NAME=table)
        records = [d.record for d in workload.deliveries if workload.tables[d.home] == table]
        report = drain(records, faults, seed=seed, batch_offset=total.invocations, **options)
        total.rounds = max(total.rounds, report.rounds)
        total.invocations += report.invocations
        total.redeliveries += report.redeliveries
        total.crashes += report.crashes
        total.left += report.left
    return total


def _batches(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """Batches of up to `size` in order, never holding one messageId twice (SQS does not)."""
    batches: list[list[dict[str, Any]]] = []
    waiting = list(records)
    while waiting:
        batch: list[dict[str, Any]] = []
        ids: set[str] = set()
        rest = []
        for r in waiting:
            if len(batch) < size and r["messageId"] not in ids:
                batch.append(r)
                ids.add(r["messageId"])
            else:
                rest.append(r)
        batches.append(batch)
        waiting = rest
    return batches


def _redelivered(original: dict[str, Any]) -> dict[str, Any]:
    attributes = dict(original["attributes"])
    attributes["ApproximateReceiveCount"] = str(int(attributes.get("ApproximateReceiveCount", "1")) + 1)
    return {**original, "receiptHandle": f"handle-{uuid.uuid4().hex}", "attributes": attributes}


# --- the invariant --------------------------------------------------------------------------------------


@dataclass
class DeadLetterCopy:
    source_message_id: str
    error_type: str
    error_message: str
    body: str


@dataclass
class Verdict:
    """The invariant's figures, and every violation found (empty when the promise held)."""

    messages: int = 0
    valid_orders: int = 0
    stored_orders: int = 0
    dead_letters: int = 0
    lost: int = 0
    duplicated: int = 0
    gaps: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)


def read_dead_letters(sqs: Any, queue_url: str) -> list[DeadLetterCopy]:
    """Every message in the dead-letter queue (received with a long visibility timeout, so each once)."""
    letters: list[DeadLetterCopy] = []
    empty_answers = 0
    while empty_answers < 2:
        page = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=3600, MessageAttributeNames=["All"]
        )
        messages = page.get("Messages", [])
        empty_answers = 0 if messages else empty_answers + 1
        for message in messages:
            attributes = {k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()}
            letters.append(
                DeadLetterCopy(
                    attributes.get("sourceMessageId", ""),
                    attributes.get("errorType", ""),
                    attributes.get("errorMessage", ""),
                    message["Body"],
                )
            )
    return letters


def verify(dynamodb: Any, sqs: Any, dead_letter_queue: str, workload: Workload) -> Verdict:
    """Check contract §4–§5 after a drained scenario.

    Every valid order id is stored exactly once, from one of its messages, with its cart's total; for
    every tenant and day the numbers are exactly 1..N and N is the counter; every message that must fail
    is in the dead-letter queue exactly once per delivery, with its errorType and its body byte for byte;
    nothing else is stored, no item lacks its number, and every key is built from validated ids (a table
    holds items of its own tenants only: none under an unvalidated id, none of another table's tenants).
    """
    verdict = Verdict(messages=len(workload.deliveries))
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    for tenant in workload.tenants:
        table = workload.tables[tenant]
        orders = orders_of(dynamodb, table, tenant)
        for order in orders:
            stored[(tenant, order["id"])] = order
        _check_numbers(verdict, workload, tenant, orders, counters_of(dynamodb, table, tenant))
    for table in set(workload.tables.values()):
        owners = {t for t, home in workload.tables.items() if home == table}
        for key in _keys_of(dynamodb, table):
            prefix, _, owner = key.partition("#")
            if prefix not in ("TENANT", "COUNTER") or owner not in owners:
                verdict.problem(f"{table} holds an item under {key!r}, not a key of one of its tenants")
    verdict.stored_orders = len(stored)

    letters = read_dead_letters(sqs, dead_letter_queue)
    verdict.dead_letters = len(letters)
    expected_letters: Counter[str] = Counter()
    expected_types: dict[str, str] = {}
    groups: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
    for delivery in workload.deliveries:
        if delivery.error_type is None:
            groups[(str(delivery.tenant_id), str(delivery.order_id))].append(delivery)
        else:
            expected_letters[delivery.message_id] += 1
            expected_types[delivery.message_id] = delivery.error_type
            if delivery.order_id is not None and (str(delivery.tenant_id), delivery.order_id) in stored:
                verdict.problem(f"invalid message {delivery.message_id} ({delivery.kind}) became an order")
    verdict.valid_orders = len(groups)
    for key, group in groups.items():
        order = stored.get(key)
        if order is None:
            verdict.lost += 1
            verdict.problem(f"order {key[1]} of tenant {key[0]} was lost")
            continue
        _check_order(verdict, workload, order, group)
        for delivery in group:
            if delivery.cart_id != order["cartId"]:
                expected_letters[delivery.message_id] += 1
                expected_types[delivery.message_id] = "OrderConflict"
    unexpected = set(stored) - set(groups)
    verdict.duplicated += len(unexpected)
    for key in sorted(unexpected):
        verdict.problem(f"order {key} was stored but no valid message asked for it")

    bodies = {d.message_id: d.body for d in workload.deliveries}
    seen: Counter[str] = Counter(letter.source_message_id for letter in letters)
    if seen != expected_letters:
        kinds = {d.message_id: d.kind for d in workload.deliveries}
        types = {letter.source_message_id: letter.error_type for letter in letters}

        def described(ids: Counter[str]) -> dict[str, str]:
            return {m: f"{n}x {kinds.get(m, '?')} ({types.get(m, '-')})" for m, n in ids.items()}

        missing = described(expected_letters - seen)
        extra = described(seen - expected_letters)
        verdict.problem(f"dead-letter queue differs: missing {missing}, unexpected {extra}")
    for letter in letters:
        want = expected_types.get(letter.source_message_id)
        if want is not None and letter.error_type != want:
            verdict.problem(f"{letter.source_message_id}: errorType {letter.error_type!r}, expected {want!r}")
        if not letter.error_message:
            verdict.problem(f"{letter.source_message_id}: dead letter without errorMessage")
        if letter.body != bodies.get(letter.source_message_id):
            verdict.problem(f"{letter.source_message_id}: dead-letter body is not the message body byte for byte")
    return verdict


def _keys_of(dynamodb: Any, table: str) -> list[str]:
    """The partition key of every item in the table (a scan, all pages)."""
    keys: list[str] = []
    kwargs: dict[str, Any] = {"TableName": table, "ProjectionExpression": "PK", "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        keys += [item["PK"]["S"] for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return keys
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _check_order(verdict: Verdict, workload: Workload, order: dict[str, Any], group: list[Delivery]) -> None:
    tenant, order_id = str(group[0].tenant_id), str(group[0].order_id)
    carts = {d.cart_id for d in group}
    where = f"order {order_id} of {tenant}"
    if order["cartId"] not in carts:
        verdict.problem(f"{where} has cart {order['cartId']}, none of its messages asked for it")
        return
    winners = [d for d in group if d.cart_id == order["cartId"]]
    if order["sourceMessageId"] not in {d.message_id for d in winners}:
        verdict.problem(f"{where} names source message {order['sourceMessageId']}, not one of its own")
    cart_total = workload.totals[(tenant, order["cartId"])]
    if order["total"] != cart_total:
        verdict.problem(f"{where}: total {order['total']} is not its cart's {cart_total}")
    keys = (order["PK"], order["SK"], order["GSI1_PK"], order["GSI2_PK"], order["GSI2_SK"])
    if keys != (f"TENANT#{tenant}", f"ORDER#{order_id}", f"TENANT#{tenant}", f"ORDER#{order_id}", "METADATA"):
        verdict.problem(f"{where}: keys {keys} are not built from its validated ids")
    if not str(order["GSI1_SK"]).endswith(f"Z#{order_id}"):
        verdict.problem(f"{where}: GSI1_SK {order['GSI1_SK']} is not '<utc time>#<orderId>'")
    body = json.loads(winners[0].body)
    if "dateCreated" in body and order["dateCreated"] != body["dateCreated"]:
        verdict.problem(f"{where}: dateCreated {order['dateCreated']} is not the message's {body['dateCreated']}")


def _check_numbers(
    verdict: Verdict, workload: Workload, tenant: str, orders: list[dict[str, Any]], counters: dict[str, int]
) -> None:
    """The product's numbering audit (contract §8) over the tenant's orders and counters."""
    by_day = {parse_day_key(day): value for day, value in counters.items()}
    for day in check_orders(tenant, orders, by_day, workload.zone):
        verdict.duplicated += len(day.duplicated)
        verdict.gaps += len(day.missing) + len(day.beyond) + len(day.malformed)
        if not day.ok:
            verdict.problem(f"numbering audit: {describe(day)}")


# order events (contract §7) ----------------------------------------------------------------------------


@dataclass
class EventsVerdict:
    """The order-events invariant: every stored order has at least one OrderCreated event, no event names an
    order that does not exist, and every event is whole; duplicates (at least once) are counted, not errors."""

    orders: int = 0
    events: int = 0
    duplicates: int = 0  # events beyond the first of their order
    without_event: int = 0
    without_order: int = 0
    problems: list[str] = field(default_factory=list)


def verify_events(dynamodb: Any, workload: Workload, published: Sequence[dict[str, Any]]) -> EventsVerdict:
    """Check §7 on `published`, the PutEvents entries EventBridge accepted (as the publisher sent them),
    against the orders stored in the workload's tables: ids, number, cart and exact amounts agree."""
    verdict = EventsVerdict()
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    for tenant in workload.tenants:
        for order in orders_of(dynamodb, workload.tables[tenant], tenant):
            stored[(tenant, order["id"])] = order
    verdict.orders = len(stored)
    seen: Counter[tuple[str, str]] = Counter()
    for entry in published:
        detail = json.loads(entry["Detail"], parse_float=Decimal)
        key = (str(detail.get("tenantId")), str(detail.get("orderId")))
        if key[0] not in workload.tables:
            continue  # another test's tenant on a shared bus
        verdict.events += 1
        seen[key] += 1
        order = stored.get(key)
        if order is None:
            verdict.without_order += 1
            verdict.problems.append(f"event for order {key[1]} of tenant {key[0]}, which does not exist")
            continue
        wanted = {
            "orderNumber": order["orderNumber"],
            "cartId": order["cartId"],
            "subtotal": order["subtotal"],
            "tax": order["tax"],
            "total": order["total"],
            "itemCount": len(order["items"]),
            "sourceMessageId": order["sourceMessageId"],
        }
        wrong = sorted(name for name, value in wanted.items() if detail.get(name) != value)
        if wrong:
            verdict.problems.append(f"event of order {key[1]} disagrees with the table on {wrong}")
    verdict.duplicates = sum(n - 1 for n in seen.values())
    missing = set(stored) - set(seen)
    verdict.without_event = len(missing)
    verdict.problems += [f"order {order_id} of tenant {tenant} has no event" for tenant, order_id in sorted(missing)]
    return verdict
