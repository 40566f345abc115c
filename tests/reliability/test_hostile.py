"""Hostile input and a hostile Cart API (issue 16), each through the real handler on the real servers.

Every finding of the issue has its regression test here: the message or the Cart API's answer that broke
a promise, and the promise checked (contract §3–§5): no crash, no lost message, no credential sent to
another host, no personal data in anything written, the Cart API's time and size bounded. The hostile
answers are modes of the fault Cart API (`faults.CartReply`); the 4 MB transaction limit DynamoDB
enforces and moto does not is enforced by the proxy in front of moto.
"""

from __future__ import annotations

import json
import time
import tracemalloc
import uuid
from decimal import Decimal
from typing import Any

import pytest

from order_creator.errors import ConfigurationError
from order_creator.handler import lambda_handler
from tests.factories import (
    assert_gapless,
    cart,
    cart_json,
    invoke,
    lambda_context,
    message,
    new_tenant,
    orders_of,
    record,
    sqs_event,
)
from tests.reliability import faults as f
from tests.reliability.child import run_in_child
from tests.reliability.faults import CartApi, CartReply
from tests.reliability.scenario import read_dead_letters

EMOJI = "\N{GRINNING FACE}"  # four bytes in UTF-8, one character for the schema's length limits


def _serve(rig: Any, tenant: str, cart_id: str, document: dict[str, Any] | None = None, **reply: Any) -> None:
    rig.carts.put(tenant, cart_id, CartReply(cart_json(document or cart(tenant, cart_id)), **reply))


def _one_item_cart(tenant: str, cart_id: str, amount: str) -> dict[str, Any]:
    """A cart of one line at `amount`, no tax: every amount of the cart is `amount` exactly as written."""
    document = cart(tenant, cart_id, prices=(amount,), tax="0")
    document["items"][0]["unitPrice"] = document["items"][0]["subtotal"] = Decimal(amount)
    document["subtotal"] = document["total"] = Decimal(amount)
    return document


def _by_cart(rig: Any, tenant: str) -> dict[str, dict[str, Any]]:
    return {o["cartId"]: o for o in orders_of(rig.dynamodb, rig.table, tenant)}


# --- 1 and 8: amounts the table can hold are stored, whatever their form -------------------------------

TRAILING_ZEROS = "0.1000000000000000000000000000000000000000"  # 41 digits written, 0.1 meant


def test_amounts_written_past_38_digits_with_trailing_zeros_are_stored_and_the_batch_lives(rig):
    # Given a cart whose every amount is 0.1 written with 41 digits, a campaign percentage likewise, and a good order
    tenant = new_tenant("zeros")
    _serve(rig, tenant, "cart-zeros", _one_item_cart(tenant, "cart-zeros", TRAILING_ZEROS))
    _serve(rig, tenant, "cart-good")
    campaign = {"id": "c", "code": "C", "discountPercentage": Decimal("12.5" + "0" * 39)}
    records = [
        record(cart_json(message(tenant, "cart-zeros", campaign=campaign))),
        record(message(tenant, "cart-good")),
    ]

    # When the handler runs the batch
    failures = invoke(*records)

    # Then both are orders, the amounts stored by value
    assert failures == []
    stored = _by_cart(rig, tenant)
    assert set(stored) == {"cart-zeros", "cart-good"}
    zeros = stored["cart-zeros"]
    assert (zeros["total"], zeros["items"][0]["unitPrice"]) == (Decimal("0.1"), Decimal("0.1"))
    assert zeros["campaign"]["discountPercentage"] == Decimal("12.5")
    assert_gapless(rig.dynamodb, rig.table, tenant)


@pytest.mark.parametrize(
    "amount", ["0.123456789", "1E-130", "1E+16", "1234567890123456789012345678.9012345678", "9.9E+125"]
)
def test_any_amount_the_table_can_hold_is_stored_exactly(rig, amount):
    # Given a cart whose amounts are `amount`: more decimals than money usually has, tiny, huge, 38 digits
    tenant = new_tenant("exact")
    _serve(rig, tenant, "cart-1", _one_item_cart(tenant, "cart-1", amount))

    # When the handler runs it
    failures = invoke(record(cart_json(message(tenant, "cart-1"))))

    # Then it is an order with every amount exactly as the Cart API gave it
    assert failures == []
    (order,) = orders_of(rig.dynamodb, rig.table, tenant)
    assert (order["subtotal"], order["total"], order["items"][0]["unitPrice"]) == (Decimal(amount),) * 3
    assert read_dead_letters(rig.sqs, rig.dead_letter_queue) == []


@pytest.mark.parametrize("amount", ["1E-131", "1E+126", "1.000000000000000000000000000000000000001"])
def test_an_amount_the_table_cannot_hold_is_dead_lettered_with_the_reason(rig, amount):
    # Given a cart with an amount below DynamoDB's smallest number, past its largest, or of 40 significant digits
    tenant = new_tenant("exact")
    _serve(rig, tenant, "cart-1", _one_item_cart(tenant, "cart-1", amount))
    sent = record(cart_json(message(tenant, "cart-1")))

    # When the handler runs it
    failures = invoke(sent)

    # Then it is dead-lettered as an invalid cart, saying what DynamoDB cannot hold
    assert failures == []
    assert orders_of(rig.dynamodb, rig.table, tenant) == []
    (letter,) = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert (letter.source_message_id, letter.error_type) == (sent["messageId"], "InvalidCart")
    assert "DynamoDB" in letter.error_message


def test_a_discount_percentage_of_100_is_accepted(rig):
    # Given a campaign of 100% (the contract's range is 0-100)
    tenant = new_tenant("percent")
    _serve(rig, tenant, "cart-1")
    sent = record(cart_json(message(tenant, "cart-1", campaign={"id": "c", "code": "FREE", "discountPercentage": 100})))

    # When the handler runs it / Then it is an order carrying the percentage
    assert invoke(sent) == []
    (order,) = orders_of(rig.dynamodb, rig.table, tenant)
    assert order["campaign"]["discountPercentage"] == 100


# --- 2: an order is identified by tenant and order id ----------------------------------------------------


def test_one_order_id_in_two_tenants_in_one_batch_is_two_orders(rig):
    # Given two tenants' messages with one orderId and the same cartId text, in one batch
    tenants = [new_tenant("shared"), new_tenant("shared")]
    order_id = str(uuid.uuid4())
    for tenant in tenants:
        _serve(rig, tenant, "cart-same")
    records = [record(message(tenant, "cart-same", orderId=order_id)) for tenant in tenants]

    # When the handler runs the batch
    failures = invoke(*records)

    # Then each tenant has its order, from its own message, and nothing is dead-lettered
    assert failures == []
    for tenant, sent in zip(tenants, records, strict=True):
        assert [o["sourceMessageId"] for o in orders_of(rig.dynamodb, rig.table, tenant)] == [sent["messageId"]]
    assert read_dead_letters(rig.sqs, rig.dead_letter_queue) == []


def test_a_stored_order_of_one_tenant_leaves_another_tenants_order_of_the_same_id_alone(rig):
    # Given tenant A's order already stored, then a batch redelivering it with tenant B's order of the same id
    tenants = [new_tenant("shared"), new_tenant("shared")]
    order_id = str(uuid.uuid4())
    for tenant in tenants:
        _serve(rig, tenant, "cart-same")
    first = record(message(tenants[0], "cart-same", orderId=order_id))
    assert invoke(first) == []
    batch = [record(first["body"]), record(message(tenants[1], "cart-same", orderId=order_id))]

    # When the handler runs the batch
    failures = invoke(*batch)

    # Then A's is a duplicate (no new order) and B's is created
    assert failures == []
    assert [o["sourceMessageId"] for o in orders_of(rig.dynamodb, rig.table, tenants[0])] == [first["messageId"]]
    assert [o["sourceMessageId"] for o in orders_of(rig.dynamodb, rig.table, tenants[1])] == [batch[1]["messageId"]]


# --- 3: DynamoDB's size limits, in UTF-8 bytes --------------------------------------------------------------


def _emoji_cart(tenant: str, cart_id: str, product_id_chars: int) -> dict[str, Any]:
    """250 lines, each with a 256-character emoji name: valid for the schema, about 1 KB a field in UTF-8."""
    document = cart(tenant, cart_id, prices=["1.00"] * 250)
    for item in document["items"]:
        item["productName"] = EMOJI * 256
        item["productId"] = EMOJI * product_id_chars
    return document


def test_an_order_over_400_kb_is_dead_lettered_alone(rig):
    # Given an order whose item is about 530 KB in UTF-8 (but far fewer characters), between two good ones
    tenant = new_tenant("huge")
    _serve(rig, tenant, "cart-huge", _emoji_cart(tenant, "cart-huge", product_id_chars=256))
    _serve(rig, tenant, "cart-1")
    _serve(rig, tenant, "cart-2")
    records = [record(message(tenant, c)) for c in ("cart-1", "cart-huge", "cart-2")]

    # When the handler runs the batch
    failures = invoke(*records)

    # Then the good ones are orders and the huge one is dead-lettered, saying why
    assert failures == []
    assert set(_by_cart(rig, tenant)) == {"cart-1", "cart-2"}
    (letter,) = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert (letter.source_message_id, letter.error_type) == (records[1]["messageId"], "UnstorableOrder")
    assert "400 KB" in letter.error_message
    assert_gapless(rig.dynamodb, rig.table, tenant)


def test_transactions_are_packed_under_4_mb_of_utf8(rig):
    # Given twelve orders of one tenant and day of about 375 KB each in UTF-8 (4.5 MB together)
    tenant = new_tenant("packed")
    for i in range(12):
        _serve(rig, tenant, f"cart-{i}", _emoji_cart(tenant, f"cart-{i}", product_id_chars=100))
    records = [record(message(tenant, f"cart-{i}")) for i in range(12)]

    # When the handler runs the batch (the proxy refuses a transaction over 4 MB, as DynamoDB does)
    failures = invoke(*records)

    # Then every order is stored, and no transaction sent was over 4 MB
    assert failures == []
    assert len(orders_of(rig.dynamodb, rig.table, tenant)) == 12
    assert len(rig.proxy.transaction_bytes) >= 2
    assert max(rig.proxy.transaction_bytes) <= f.MAX_TRANSACTION_BYTES
    assert_gapless(rig.dynamodb, rig.table, tenant)


# --- 4, 5 and 7: a slow, redirecting or flooding Cart API --------------------------------------------------


def _slowest_cart_fetch(capsys: pytest.CaptureFixture[str]) -> float:
    """Seconds of the slowest cart fetch of the batches run since the last call: the handler's CartApiLatency.

    The handler's own measure of the fetch, not the whole invocation's: what the batch then writes to
    moto takes longer on a loaded machine, and is not what a trickle bound is about.
    """
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CartApiLatency"' in line]
    assert metrics, "the handler printed no CartApiLatency metric"
    return max(value for m in metrics for value in _values(m["CartApiLatency"])) / 1000


def _values(metric: Any) -> list[float]:
    return [float(v) for v in metric] if isinstance(metric, list) else [float(metric)]


def _one_trickled_cart_and_three_good(api: CartApi, prefix: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """A new tenant whose cart-slow is sent a byte every 0.2 s and cart-0..2 at once; its record of each."""
    tenant = new_tenant(prefix)
    api.put(tenant, "cart-slow", CartReply(cart_json(cart(tenant, "cart-slow")), trickle=0.2))
    for i in range(3):
        api.put(tenant, f"cart-{i}", CartReply(cart_json(cart(tenant, f"cart-{i}"))))
    return tenant, record(message(tenant, "cart-slow")), [record(message(tenant, f"cart-{i}")) for i in range(3)]


def _under_one_more_attempt() -> float:
    """The Cart API's worst case, CART_API_TIMEOUT_SECONDS × (retries + 1), plus less than one more attempt:
    a third attempt, or an attempt not cut off at its timeout (a byte every 0.2 s would last minutes), is over."""
    from order_creator.settings import Settings

    settings = Settings.from_env()
    return settings.cart_worst_case_seconds + settings.cart_api_timeout_seconds


def _slow_one_cut_off(capsys: pytest.CaptureFixture[str], slow: dict[str, Any], *others: dict[str, Any]) -> None:
    """Run `slow` and `others` in one batch; check that `slow` alone is left to retry (transient), its fetch cut
    off within the Cart API's worst case (plus less than one more attempt)."""
    capsys.readouterr()
    assert invoke(slow, *others) == [slow["messageId"]]
    assert _slowest_cart_fetch(capsys) < _under_one_more_attempt()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_trickling_cart_api_is_cut_off_at_the_timeout(rig, part, capsys):
    # Given a Cart API that sends one cart's headers or body one byte every 0.2 s (half its timeout)
    tenant = new_tenant("slow")
    _serve(rig, tenant, "cart-slow", trickle=0.2, trickle_headers=part == "headers")
    _serve(rig, tenant, "cart-ok")
    slow, good = record(message(tenant, "cart-slow")), record(message(tenant, "cart-ok"))

    # When the handler runs the batch (CART_API_TIMEOUT_SECONDS 0.5, one retry), Then the slow cart is a
    # transient failure, its fetch cut off within the Cart API's worst case (2 × 0.5 s)
    _slow_one_cut_off(capsys, slow, good)
    assert set(_by_cart(rig, tenant)) == {"cart-ok"}


@pytest.mark.timeout(60)
def test_over_tls_a_trickling_body_is_cut_off_and_the_connection_serves_the_next_cart(rig, tmp_path, capsys):
    # Given the Cart API over HTTPS (the production case), one cart's body trickled a byte every 0.2 s
    tls, certificate = f.self_signed_tls(str(tmp_path))
    api = CartApi()
    api.start(tls)
    try:
        rig.configure(CART_LAMBDA_API_URL=api.url, REQUESTS_CA_BUNDLE=certificate)
        tenant, slow, good = _one_trickled_cart_and_three_good(api, "tls")

        # When the handler runs the batch, Then the slow cart is transient, its fetch (handshakes included) cut
        # off within the Cart API's worst case
        _slow_one_cut_off(capsys, slow, *good)

        # And the good ones again on the same (warm) connections: they are orders
        assert invoke(*good) == []
        assert set(_by_cart(rig, tenant)) == {"cart-0", "cart-1", "cart-2"}
    finally:
        api.stop()


@pytest.mark.timeout(60)
def test_a_trickled_tls_handshake_is_cut_off_at_the_timeout(rig, tmp_path, capsys):
    # Given a Cart API over HTTPS that accepts the connection, then sends its handshake a byte every 0.1 s
    _, certificate = f.self_signed_tls(str(tmp_path))
    api = f.TrickledHandshake(trickle=0.1)
    api.start()
    try:
        rig.configure(CART_LAMBDA_API_URL=api.url, REQUESTS_CA_BUNDLE=certificate)
        sent = record(message(new_tenant("handshake"), "cart-1"))

        # When the handler runs it (CART_API_TIMEOUT_SECONDS 0.5, one retry), Then it is transient, its fetch
        # within the Cart API's worst case (2 × 0.5 s), both attempts made
        _slow_one_cut_off(capsys, sent)
        assert api.accepted == 2
    finally:
        api.stop()


def _through_proxy(rig: Any, proxy: f.TunnelProxy, folder: str) -> CartApi:
    """The Cart API over HTTPS, reached through `proxy` (HTTPS_PROXY), started; the caller stops it."""
    tls, certificate = f.self_signed_tls(folder)
    api = CartApi()
    api.start(tls)
    rig.configure(
        CART_LAMBDA_API_URL=api.url, REQUESTS_CA_BUNDLE=certificate, HTTPS_PROXY=proxy.url, NO_PROXY=None, no_proxy=None
    )
    return api


@pytest.mark.timeout(60)
def test_through_a_proxy_a_trickled_answer_to_connect_is_cut_off_at_the_timeout(rig, tmp_path, capsys):
    # Given HTTPS_PROXY naming a proxy that answers CONNECT one byte every 0.2 s (its answer takes 8 s)
    proxy = f.TunnelProxy(trickle=0.2)
    proxy.start()
    api = _through_proxy(rig, proxy, str(tmp_path))
    try:
        tenant = new_tenant("proxy")
        api.put(tenant, "cart-1", CartReply(cart_json(cart(tenant, "cart-1"))))
        sent = record(message(tenant, "cart-1"))

        # When the handler runs it (CART_API_TIMEOUT_SECONDS 0.5, one retry), Then it is transient, its fetch
        # within the Cart API's worst case, both attempts made through the proxy
        _slow_one_cut_off(capsys, sent)
        assert proxy.accepted == 2
    finally:
        proxy.stop()
        api.stop()


@pytest.mark.timeout(60)
def test_through_an_https_proxy_a_trickled_tunnel_is_cut_off_at_the_timeout_handshake_included(rig, tmp_path, capsys):
    # Given HTTPS_PROXY naming an https:// proxy that passes on what the Cart API sends one byte every 0.2 s: the
    # Cart API's TLS handshake, inside the proxy's TLS, arrives a byte at a time (each read well within the timeout)
    tls, certificate = f.self_signed_tls(str(tmp_path))  # the proxy's certificate and the Cart API's
    proxy = f.TrickledTunnel(tls, trickle=0.2)
    proxy.start()
    api = CartApi()
    api.start(tls)
    rig.configure(
        CART_LAMBDA_API_URL=api.url, REQUESTS_CA_BUNDLE=certificate, HTTPS_PROXY=proxy.url, NO_PROXY=None, no_proxy=None
    )
    try:
        tenant = new_tenant("tunnel")
        api.put(tenant, "cart-1", CartReply(cart_json(cart(tenant, "cart-1"))))
        sent = record(message(tenant, "cart-1"))

        # When the handler runs it (CART_API_TIMEOUT_SECONDS 0.5, one retry), Then it is transient, its fetch cut
        # off within the Cart API's worst case (2 × 0.5 s), both attempts made through the proxy
        _slow_one_cut_off(capsys, sent)
        assert proxy.accepted == 2
    finally:
        proxy.stop()
        api.stop()


@pytest.mark.timeout(60)
def test_through_a_proxy_the_deadline_holds_and_dropped_connections_are_made_again(rig, tmp_path, capsys):
    # Given the Cart API over HTTPS behind HTTPS_PROXY, one cart's body trickled a byte every 0.2 s, no retries
    proxy = f.TunnelProxy()
    proxy.start()
    api = _through_proxy(rig, proxy, str(tmp_path))
    rig.configure(CART_API_MAX_RETRIES="0")
    try:
        tenant, slow, good = _one_trickled_cart_and_three_good(api, "proxy")

        # When the handler runs the batch through the proxy, Then the slow cart is transient within its one
        # attempt's 0.5 s (and less than a second attempt)
        _slow_one_cut_off(capsys, slow, *good)

        # When the tunnels idle past the timeout and the network drops them (a frozen Lambda, a NAT's idle
        # timeout), and the handler runs new orders of the good carts
        time.sleep(0.6)
        proxy.drop()
        later = [record(message(tenant, f"cart-{i}")) for i in range(3)]
        again = invoke(*later)

        # And the good ones are orders both times: a connection made again through the proxy gets a deadline of
        # its own, not its last request's
        assert again == []
        stored = {o["sourceMessageId"] for o in orders_of(rig.dynamodb, rig.table, tenant)}
        assert stored == {r["messageId"] for r in good + later}
        assert proxy.accepted >= 5  # four tunnels for the batch, at least one again after the drop
    finally:
        proxy.stop()
        api.stop()


@pytest.mark.parametrize("form", ["http://{credentials}@{address}", "{credentials}@{address}"])
def test_a_proxy_is_used_as_requests_used_it_credentials_and_all(rig, tmp_path, form):
    # Given HTTPS_PROXY naming a proxy that wants credentials, given in its URL (percent-encoded), with a scheme
    # or without one (requests and curl read that as http://)
    proxy = f.TunnelProxy(credentials="cart-user:p@ss")
    proxy.start()
    api = _through_proxy(rig, proxy, str(tmp_path))
    rig.configure(HTTPS_PROXY=form.format(credentials="cart-user:p%40ss", address=proxy.address))
    try:
        tenant = new_tenant("proxy")
        api.put(tenant, "cart-1", CartReply(cart_json(cart(tenant, "cart-1"))))
        sent = record(message(tenant, "cart-1"))

        # When the handler runs it / Then it is an order, fetched through the proxy
        assert invoke(sent) == []
        assert set(_by_cart(rig, tenant)) == {"cart-1"}
        assert proxy.accepted == 1
    finally:
        proxy.stop()
        api.stop()


def test_a_proxy_urllib3_cannot_speak_is_a_configuration_error_naming_its_variable(rig):
    # Given HTTP_PROXY naming a SOCKS proxy for the (plain HTTP) Cart API
    rig.configure(HTTP_PROXY="socks5://127.0.0.1:1080", NO_PROXY=None, no_proxy=None)

    # When the handler runs / Then it raises, naming the variable (no record is at fault)
    with pytest.raises(ConfigurationError, match="HTTP_PROXY: a socks5 proxy is not supported"):
        lambda_handler(sqs_event(record(message(new_tenant(), "cart-1"))), lambda_context())


def test_a_cart_body_cut_off_before_its_end_is_retried_then_transient(rig):
    # Given a Cart API whose answer for one cart announces its length but closes the connection 10 bytes short
    tenant = new_tenant("cut")
    _serve(rig, tenant, "cart-cut", cut=10)
    _serve(rig, tenant, "cart-ok")
    cut, good = record(message(tenant, "cart-cut")), record(message(tenant, "cart-ok"))

    # When the handler runs the batch (one retry allowed)
    failures = invoke(cut, good)

    # Then the cut cart was asked for twice (contract §3: retried) and is a transient failure; the other is an order
    assert failures == [cut["messageId"]]
    assert rig.carts.requests == 3
    assert set(_by_cart(rig, tenant)) == {"cart-ok"}


def test_a_redirect_loop_is_not_followed(rig):
    # Given a Cart API that answers one cart with a 302 to itself
    tenant = new_tenant("loop")
    location = f"{rig.carts.url}/carts/cart-loop?tenantId={tenant}"
    _serve(rig, tenant, "cart-loop", status=302, headers=(("Location", location),))
    sent = record(message(tenant, "cart-loop"))

    # When the handler runs it
    failures = invoke(sent)

    # Then one request was made and the record is dead-lettered: a redirect is permanent
    assert failures == []
    assert rig.carts.requests == 1
    (letter,) = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert (letter.source_message_id, letter.error_type) == (sent["messageId"], "CartRejected")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_never_gets_the_signed_request(rig, status):
    # Given CART_API_AUTH=iam and a Cart API that redirects to another host serving a cart of its own
    rig.configure(CART_API_AUTH="iam")
    tenant = new_tenant("redirect")
    other = CartApi()
    other.start()
    try:
        other.put(tenant, "cart-1", CartReply(cart_json(cart(tenant, "cart-1", prices=("0.01",)))))
        _serve(
            rig, tenant, "cart-1", status=status, headers=(("Location", f"{other.url}/carts/cart-1?tenantId={tenant}"),)
        )
        sent = record(message(tenant, "cart-1"))

        # When the handler runs it
        failures = invoke(sent)

        # Then the signed request went to the Cart API only, never to the other host, and no order was made
        assert failures == []
        assert "X-Amz-Date" in rig.carts.seen[0] and "Authorization" in rig.carts.seen[0]
        assert other.seen == []
        assert orders_of(rig.dynamodb, rig.table, tenant) == []
        (letter,) = read_dead_letters(rig.sqs, rig.dead_letter_queue)
        assert (letter.source_message_id, letter.error_type) == (sent["messageId"], "CartRejected")
    finally:
        other.stop()


def test_each_attempt_of_a_signed_request_is_signed_afresh(rig):
    # Given CART_API_AUTH=iam and a Cart API that answers one cart with a 503 after 1.1 s, every time
    rig.configure(CART_API_AUTH="iam", CART_API_TIMEOUT_SECONDS="2")
    tenant = new_tenant("resign")
    _serve(rig, tenant, "cart-down", status=503, delay=1.1)
    sent = record(message(tenant, "cart-down"))

    # When the handler runs it (one retry)
    failures = invoke(sent)

    # Then both attempts were signed, the retry when it was sent (a later X-Amz-Date, another signature), not
    # with the first attempt's signature, which SigV4's five minutes would refuse after a long enough wait
    assert failures == [sent["messageId"]]
    first, retry = rig.carts.seen
    assert first["X-Amz-Date"] < retry["X-Amz-Date"]
    assert first["Authorization"] != retry["Authorization"]


@pytest.mark.parametrize("content_length", [True, False], ids=["with-length", "until-close"])
def test_a_cart_body_over_2_mb_is_refused_without_being_read_whole(rig, content_length):
    # Given a Cart API that answers one cart with 50 MB (the cart, then spaces), announced or not
    tenant = new_tenant("flood")
    _serve(rig, tenant, "cart-flood", padding=50_000_000, content_length=content_length)
    sent = record(message(tenant, "cart-flood"))

    # When the handler runs it
    failures = invoke(sent)

    # Then it is dead-lettered as an invalid cart, and far less than the body crossed the wire
    assert failures == []
    (letter,) = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert (letter.error_type, letter.error_message) == ("InvalidCart", "Cart API answered with a body over 2 MB")
    assert rig.carts.bytes_sent < 12_000_000, rig.carts.bytes_sent


def test_a_gzip_bomb_is_refused_by_its_decoded_size_in_bounded_memory(rig):
    # Given a warm handler, and a Cart API answering one cart with 97 KB of gzip that inflate to 100 MB
    tenant = new_tenant("bomb")
    for cart_id in ("cart-warm", "cart-ok"):
        _serve(rig, tenant, cart_id)
    _serve(rig, tenant, "cart-bomb", padding=100_000_000, gzip=True)
    assert invoke(record(message(tenant, "cart-warm"))) == []
    bomb, good = record(message(tenant, "cart-bomb")), record(message(tenant, "cart-ok"))

    # When the handler runs the bomb with a good cart, its allocations (and the servers') traced
    tracemalloc.start()
    try:
        failures = invoke(bomb, good)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    # Then the bomb is dead-lettered for its size after decoding, asked for once (permanent), the good cart is
    # an order, and the process never held a fraction of the 100 decoded megabytes (a batch alone peaks near 10)
    assert failures == []
    (letter,) = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert (letter.source_message_id, letter.error_type) == (bomb["messageId"], "InvalidCart")
    assert letter.error_message == "Cart API answered with a body over 2 MB"
    assert rig.carts.requests == 3
    assert set(_by_cart(rig, tenant)) == {"cart-warm", "cart-ok"}
    assert peak < 30_000_000, peak


def _only_the_bad_cart_dead_lettered(rig: Any, tenant: str, bad: dict[str, Any], good: dict[str, Any]) -> Any:
    """Run `bad` and `good` (the tenant's `cart-ok`) in one batch; check that nothing is left to retry, that `bad`
    alone is dead-lettered as an `InvalidCart`, its cart asked for once, and that `good` became the only order.
    Returns the dead letter."""
    assert invoke(bad, good) == []
    (letter,) = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert (letter.source_message_id, letter.error_type) == (bad["messageId"], "InvalidCart")
    assert rig.carts.requests == 2
    assert set(_by_cart(rig, tenant)) == {"cart-ok"}
    return letter


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, gzip, gzip, gzip, gzip, gzip"])
def test_a_body_its_content_encoding_cannot_decode_is_an_invalid_cart(rig, encoding):
    # Given a Cart API answering one cart with the plain JSON but announcing it compressed (or compressed six
    # times over, past urllib3's limit of five), and a good cart
    tenant = new_tenant("encoding")
    _serve(rig, tenant, "cart-bad", headers=(("Content-Encoding", encoding),))
    _serve(rig, tenant, "cart-ok")
    bad, good = record(message(tenant, "cart-bad")), record(message(tenant, "cart-ok"))

    # When the handler runs the batch, Then the undecodable answer is a malformed cart: dead-lettered, asked for
    # once (the same bytes again would not decode either); the good cart is an order
    letter = _only_the_bad_cart_dead_lettered(rig, tenant, bad, good)
    assert "Content-Encoding" in letter.error_message


@pytest.mark.parametrize("number", ["1e99999999999999999999", "-1E-99999999999999999999"])
def test_a_number_past_decimal_range_in_a_cart_is_an_invalid_cart(rig, number):
    # Given a cart carrying, in a field of its own, a number whose exponent is past what Decimal can hold
    # (Python's json hands it to Decimal, which raises InvalidOperation, an ArithmeticError), and a good cart
    tenant = new_tenant("exponent")
    document = cart_json(cart(tenant, "cart-big")).replace('"currency"', f'"weight": {number}, "currency"', 1)
    rig.carts.put(tenant, "cart-big", CartReply(document))
    _serve(rig, tenant, "cart-ok")
    big, good = record(message(tenant, "cart-big")), record(message(tenant, "cart-ok"))

    # When the handler runs the batch, Then the cart is dead-lettered as malformed (permanent, asked for once),
    # the good one is an order
    _only_the_bad_cart_dead_lettered(rig, tenant, big, good)


# --- 6: no personal data in anything written ------------------------------------------------------------------

EMAIL = "leak.canary.zq@example.com"
STREET = "7 Canaryzq Lane"
CITY = "Canaryzq City"
POSTAL = "ZQ-7731"
CANARIES = (EMAIL, STREET, CITY, POSTAL)


def _customer(tenant: str, cart_id: str, **fields: Any) -> dict[str, Any]:
    address = {"street": STREET, "city": CITY, "postalCode": POSTAL, "country": "ZA"}
    return message(tenant, cart_id, customerEmail=EMAIL, billingAddress=address, **fields)


def test_personal_data_never_reaches_logs_or_dead_letters_even_at_debug(rig):
    # Given a batch with the customer's e-mail and address everywhere: an order (its write committed but
    # answered 500, so the SDK's retry is cancelled and DynamoDB returns the stored item), a missing cart,
    # and personal data in the wrong fields (dateCreated, paidAt, a campaign's fromDate)
    tenant = new_tenant("privacy")
    _serve(rig, tenant, "cart-1")
    rig.proxy.faults = f.Faults(burst={f.COMMIT_THEN_500: 1})
    records = [
        record(_customer(tenant, "cart-1")),
        record(_customer(tenant, "cart-gone")),
        record(_customer(tenant, "cart-1", dateCreated=EMAIL)),
        record(_customer(tenant, "cart-1", paymentDetails={"paymentId": "p-1", "paidAt": STREET})),
        record(_customer(tenant, "cart-1", campaign={"id": "c", "code": "C", "fromDate": STREET})),
    ]
    rig.configure(AWS_LAMBDA_LOG_LEVEL="DEBUG", LOG_LEVEL="DEBUG")

    # When the real handler runs it in a process whose root logger is at DEBUG (as Lambda sets it)
    output: list[str] = []
    failures = run_in_child(records, proxy=rig.proxy, carts=rig.carts, output=output)

    # Then the records ended as they must, the process logged at DEBUG, and nothing it wrote holds the data
    assert failures == []
    assert rig.proxy.faults.injected[f.COMMIT_THEN_500] == 1
    written = "".join(output)
    assert "DEBUG" in written and "/v1.0/carts/cart-1" in written  # urllib3's debug lines: DEBUG was on
    assert [canary for canary in CANARIES if canary in written] == []
    dead = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert sorted(d.error_type for d in dead) == ["CartNotFound"] + ["InvalidMessage"] * 3
    attributes = " ".join(f"{d.error_type} {d.error_message} {d.source_message_id}" for d in dead)
    assert [canary for canary in CANARIES if canary in attributes] == []
    assert [o["sourceMessageId"] for o in orders_of(rig.dynamodb, rig.table, tenant)] == [records[0]["messageId"]]


# --- 9: malformed SQS attributes -------------------------------------------------------------------------------


def test_an_event_whose_record_attributes_are_not_an_object_raises_value_error(rig):
    # Given an SQS record whose attributes are a string / When the handler gets it / Then ValueError
    broken = {**record(message(new_tenant(), "cart-1")), "attributes": "SentTimestamp=1"}
    with pytest.raises(ValueError, match="not an SQS event"):
        lambda_handler(sqs_event(broken), lambda_context())


def test_a_sent_timestamp_that_is_not_a_number_of_milliseconds_is_ignored(rig):
    # Given a record with SentTimestamp infinity (and a dateCreated), and one without either
    tenant = new_tenant("stamp")
    _serve(rig, tenant, "cart-1")
    _serve(rig, tenant, "cart-2")
    dated = record(message(tenant, "cart-1"))
    dated["attributes"]["SentTimestamp"] = float("inf")
    undated = record(message(tenant, "cart-2", dateCreated=None))
    undated["attributes"]["SentTimestamp"] = float("inf")

    # When the handler runs them
    failures = invoke(dated, undated)

    # Then the dated one is an order and the other is dead-lettered: it has no usable date
    assert failures == []
    assert set(_by_cart(rig, tenant)) == {"cart-1"}
    (letter,) = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert (letter.source_message_id, letter.error_type) == (undated["messageId"], "InvalidMessage")
