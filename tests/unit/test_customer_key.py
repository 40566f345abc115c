"""What is the same mailbox (docs/contract.md §4): the customer key `GSI3_PK` hashes `mailbox_key`."""

from __future__ import annotations

import pytest

from order_creator.store.keys import customer_partition, mailbox_key

KELVIN = "\u212a"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (" Kate@Example.COM\r\n", "kate@example.com"),  # ASCII blanks around, ASCII case
        ("\tkate@example.com ", "kate@example.com"),
        ("j@b\u00fccher.example", "j@xn--bcher-kva.example"),  # a domain's Unicode and punycode spellings
        ("j@B\u00dcCHER.EXAMPLE", "j@XN--BCHER-KVA.example"),
        ("e\u0301@x.example", "\u00e9@x.example"),  # one character, composed or not (NFC)
        ("J@b\u00fccher.example", "j@bu\u0308cher.example"),
    ],
)
def test_spellings_of_one_mailbox_share_one_key(one, other):
    assert mailbox_key(one) == mailbox_key(other)
    assert customer_partition("t", one) == customer_partition("t", other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (f"{KELVIN}ate@example.com", "kate@example.com"),  # str.lower() folds the Kelvin sign into k
        ("kate@example.com\u00a0", "kate@example.com"),  # a non-breaking space is no blank
        ("\u00c9@x.example", "\u00e9@x.example"),  # case beyond ASCII is not folded in the local part
        ("stra\u00dfe@x.example", "strasse@x.example"),
        ("kate@example.com", "kate@example.co"),
    ],
)
def test_different_mailboxes_never_share_a_key(one, other):
    assert customer_partition("t", one) != customer_partition("t", other)


def test_the_key_is_per_tenant_and_never_holds_the_address():
    key = customer_partition("acme", "Kate@Example.com")
    assert key.startswith("TENANT#acme#CUSTOMER#") and "kate" not in key.lower()
    assert key != customer_partition("other", "Kate@Example.com")


def test_any_text_gets_a_key_without_raising():
    for text in ("", "@", "no-at-sign", "a@" + "\u00e4" * 70 + ".example", "\udcff@x.example", "a@b@c"):
        assert customer_partition("t", text).startswith("TENANT#t#CUSTOMER#")
