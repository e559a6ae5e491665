"""The card fingerprint's hand-rolled HMAC-SHA256, pinned to the standard library's ``hmac``.

A drift would silently orphan every linked card (each would read "not linked"), so the fast
HMAC is checked against ``hmac.new(key, msg, hashlib.sha256)`` for keys shorter than, equal to
and longer than SHA-256's 64-byte block, and a few fingerprints are pinned as literal hex so
that a drift shared by both (a changed encoding, say) is caught too.
"""

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.cards import Fingerprinter, HmacSha256
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD

KEY_LENGTHS = [1, 32, 63, 64, 65, 128, 1000]  # around the 64-byte block, where the key is hashed
MESSAGES = [b"", b"0", ALICE_CARD.encode(), BOB_CARD.encode(), CAROL_CARD.encode(), b"\x00" * 64,
            bytes(range(256)), b"x" * 1000]


def key_of(length: int) -> bytes:
    """A key of ``length`` bytes whose bytes all differ from their neighbours (not one repeated)."""
    return bytes((i * 7 + 3) % 256 for i in range(length))


def stdlib(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("length", KEY_LENGTHS)
@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: f"{len(m)}-bytes")
def test_the_fast_hmac_equals_the_standard_librarys(length: int, message: bytes) -> None:
    """For keys of 1 to 1000 bytes and messages of 0 to 1000 bytes, the digest is hmac's."""
    key = key_of(length)
    assert HmacSha256(key).hexdigest(message) == stdlib(key, message)


@pytest.mark.parametrize("length", [n for n in KEY_LENGTHS if n >= 32])
@pytest.mark.parametrize("card", [ALICE_CARD, BOB_CARD, CAROL_CARD, "4111111111111111"])
def test_a_fingerprint_is_the_hmac_of_the_card_digits(length: int, card: str) -> None:
    """A fingerprint, for every key length a fingerprint key may have, is hmac of the ASCII digits."""
    key = key_of(length)
    assert Fingerprinter(key).fingerprint(card) == stdlib(key, card.encode("ascii"))


def test_one_hmac_serves_many_messages_unchanged() -> None:
    """Digesting a message leaves the precomputed key state as it was: the next digest is still right."""
    key = key_of(65)
    keyed = HmacSha256(key)
    for message in MESSAGES + MESSAGES:
        assert keyed.hexdigest(message) == stdlib(key, message)


@given(key=st.binary(min_size=1, max_size=300), message=st.binary(max_size=300))
def test_any_key_and_message_give_hmacs_digest(key: bytes, message: bytes) -> None:
    """Property: for any key and message, the fast HMAC is the standard library's."""
    assert HmacSha256(key).hexdigest(message) == stdlib(key, message)


@given(key=st.binary(min_size=32, max_size=200), digits=st.text("0123456789", min_size=1, max_size=19))
def test_any_fingerprint_key_and_digits_give_hmacs_digest(key: bytes, digits: str) -> None:
    """Property: for any fingerprint key and digit string, the fingerprint is the standard library's."""
    assert Fingerprinter(key).fingerprint(digits) == stdlib(key, digits.encode("ascii"))


# Computed once with hmac.new and written down: these never change, or every linked card is lost.
PINNED = [
    (b"k" * 32, ALICE_CARD,
     "be4a0ef6e6821ada9df534c573a42bea85b86717ff2148e8ca9cfb27785a322f"),
    (b"test-key-" + b"k" * 32, BOB_CARD,
     "5f232f0e7d970a8448bcebf78533d4dbaf6efe5a0faafa5b16679fa08e90af06"),
    (key_of(64), CAROL_CARD,
     "0625b407f36d88e451ca2f0782ab1654caedb7ce780b32bb3a782ee41d47a017"),
    (key_of(1000), "4111111111111111",
     "800965bc031986bc7138dec301de9b49e332d8618002895ddc4d5eb9e76d25ea"),
]


@pytest.mark.parametrize(("key", "card", "expected"), PINNED, ids=["32", "41", "64", "1000"])
def test_known_fingerprints_stay_as_they_were(key: bytes, card: str, expected: str) -> None:
    """Known fingerprints, as literal hex: a drift shared by the fast path and the check is caught."""
    assert Fingerprinter(key).fingerprint(card) == expected
