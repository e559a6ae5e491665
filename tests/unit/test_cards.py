"""Card numbers: Luhn checks, normalising, keyed fingerprints and finding PANs in text."""

import re

import pytest

from bot.domain.cards import (
    KEY_CHECK_LABEL,
    CardNumberInvalid,
    CardRef,
    Fingerprinter,
    find_card_numbers,
    key_check,
    luhn_ok,
    mask_card_numbers,
    normalise_card_number,
)
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD

VISA_TEST = "4111111111111111"
MASTERCARD_TEST = "5555555555554444"
LUHN_VALID_12_DIGITS = "123456789015"
KEY = b"k" * 32
OTHER_KEY = b"o" * 32


@pytest.mark.parametrize("number", [ALICE_CARD, BOB_CARD, CAROL_CARD, VISA_TEST, MASTERCARD_TEST, "0"])
def test_luhn_accepts_valid_numbers(number: str) -> None:
    """Published test card numbers pass the Luhn check."""
    assert luhn_ok(number)


@pytest.mark.parametrize("number", ["378282246310006", "4111111111111112", "5555555555554445", "1"])
def test_luhn_rejects_mistyped_numbers(number: str) -> None:
    """A number with one digit changed fails the Luhn check."""
    assert not luhn_ok(number)


@pytest.mark.parametrize(
    "typed",
    ["378282246310005", "3782 822463 10005", "3782-822463-10005", "  3782 8224 6310 005  ",
     "3782-8224 6310-005"],
)
def test_normalise_accepts_spaces_and_dashes(typed: str) -> None:
    """Spaces and dashes are dropped and the bare digits returned."""
    assert normalise_card_number(typed) == ALICE_CARD


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("3782 82246a 10005", "only digits, spaces or dashes"),
        ("3782.822463.10005", "only digits, spaces or dashes"),
        ("３７８２８２２４６３１０００５", "only digits, spaces or dashes"),  # fullwidth digits
        ("", "only digits, spaces or dashes"),
        ("378282246310", "has 12 digits; expected 13 to 19"),
        ("37828224631000512345", "has 20 digits; expected 13 to 19"),
        ("378282246310006", "fails the Luhn check"),
        ("4111 1111 1111 1112", "fails the Luhn check"),
    ],
)
def test_normalise_rejects_bad_numbers_without_echoing_them(typed: str, reason: str) -> None:
    """A bad card number is refused with a reason that never repeats the digits given."""
    with pytest.raises(CardNumberInvalid) as caught:
        normalise_card_number(typed)
    message = str(caught.value)
    assert reason in message
    digits = re.sub(r"\D", "", typed)
    if typed.strip():
        assert typed.strip() not in message
    for start in range(len(digits) - 3):
        assert digits[start:start + 4] not in message


def test_card_number_invalid_is_a_value_error() -> None:
    """CardNumberInvalid is a ValueError."""
    with pytest.raises(ValueError, match="Luhn"):
        normalise_card_number("378282246310006")


def test_same_number_same_fingerprint() -> None:
    """Fingerprinting is deterministic for one key, also across instances."""
    assert Fingerprinter(KEY).fingerprint(ALICE_CARD) == Fingerprinter(KEY).fingerprint(ALICE_CARD)


def test_different_numbers_differ() -> None:
    """Different card numbers give different fingerprints."""
    prints = Fingerprinter(KEY)
    assert prints.fingerprint(ALICE_CARD) != prints.fingerprint(BOB_CARD)


def test_different_keys_differ() -> None:
    """The same number under another key gives another fingerprint."""
    assert Fingerprinter(KEY).fingerprint(ALICE_CARD) != Fingerprinter(OTHER_KEY).fingerprint(ALICE_CARD)


def test_fingerprint_is_64_hex_characters() -> None:
    """A fingerprint is a SHA-256 HMAC in lower-case hex."""
    fingerprint = Fingerprinter(KEY).fingerprint(ALICE_CARD)
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert ALICE_CARD not in fingerprint


def test_repr_hides_key() -> None:
    """The key never appears in the fingerprinter's repr."""
    secret = b"s3cret-" * 6
    text = repr(Fingerprinter(secret))
    assert "hidden" in text
    assert "s3cret" not in text
    assert secret.hex() not in text


@pytest.mark.parametrize("key", [b"", b"short", b"k" * 31])
def test_short_key_is_rejected(key: bytes) -> None:
    """A key under 32 bytes is refused."""
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Fingerprinter(key)


def test_a_keys_check_value_is_the_hmac_of_a_fixed_label_and_names_the_key() -> None:
    """The check value is HMAC-SHA256(key, label): the same key gives the same id, another key another."""
    import hashlib
    import hmac

    check = key_check(KEY)

    assert check.check_value == hmac.new(KEY, KEY_CHECK_LABEL, hashlib.sha256).hexdigest()
    assert check.key_id == check.check_value[:8]
    assert Fingerprinter(KEY).check == check
    assert key_check(OTHER_KEY).key_id != check.key_id
    assert KEY.hex() not in repr(check)
    assert Fingerprinter(KEY).fingerprint("") != check.check_value  # not a fingerprint of any card


def test_card_ref_keeps_fingerprint_and_last4() -> None:
    """card_ref keeps only the fingerprint and the last four digits."""
    prints = Fingerprinter(KEY)
    assert prints.card_ref(ALICE_CARD) == CardRef(prints.fingerprint(ALICE_CARD), "0005")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("my card is 378282246310005", [ALICE_CARD]),
        ("card 3782 822463 10005 please", [ALICE_CARD]),
        ("card 3782-8224-6310-005 please", [ALICE_CARD]),
        ("4111 1111 1111 1111", [VISA_TEST]),
        (f"two: {ALICE_CARD} and {BOB_CARD}", [ALICE_CARD, BOB_CARD]),
        ("mistyped 378282246310006", []),
        (f"order {LUHN_VALID_12_DIGITS}", []),
        ("call 555-1234 or 555 9876", []),
        ("card ...0005", []),
        ("", []),
    ],
)
def test_find_card_numbers(text: str, found: list[str]) -> None:
    """Luhn-valid 13-19 digit runs are found; shorter or non-Luhn runs are not."""
    assert find_card_numbers(text) == found


def test_twelve_digit_run_is_luhn_valid_but_too_short() -> None:
    """The 12-digit sample passes Luhn, so only its length keeps it from being flagged."""
    assert luhn_ok(LUHN_VALID_12_DIGITS)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("my card is 3782 822463 10005, thanks", "my card is [card ...0005], thanks"),
        (f"{ALICE_CARD}/{BOB_CARD}", "[card ...0005]/[card ...8431]"),
        ("mistyped 378282246310006", "mistyped 378282246310006"),
        ("card ...0005 again", "card ...0005 again"),
    ],
)
def test_mask_card_numbers(text: str, masked: str) -> None:
    """Valid card numbers are replaced by their last four; other text is left as it was."""
    assert mask_card_numbers(text) == masked


def test_masked_text_has_no_card_number() -> None:
    """After masking, a PAN scanner finds nothing and the full number is gone."""
    masked = mask_card_numbers(f"log: linked {ALICE_CARD} and 3714-496353-98431")
    assert find_card_numbers(masked) == []
    assert ALICE_CARD not in masked
    assert BOB_CARD not in masked
    assert "...0005" in masked
    assert "...8431" in masked


def test_mask_spares_only_digit_runs_it_is_told_are_no_card() -> None:
    """A run ``keep`` knows (an X id) stays; every other Luhn-valid run, and the same digits
    written with separators, are masked."""
    x_id = "1859000000000000008"  # Luhn-valid, as about one X id in ten is
    assert luhn_ok(x_id)
    spaced = " ".join(x_id[i:i + 4] for i in range(0, len(x_id), 4))

    masked = mask_card_numbers(f"post {x_id} by {ALICE_CARD}; also {spaced}", keep={x_id}.__contains__)

    assert masked == "post 1859000000000000008 by [card ...0005]; also [card ...0008]"
    assert mask_card_numbers(f"post {x_id}") == "post [card ...0008]"
