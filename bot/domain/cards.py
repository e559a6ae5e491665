"""Card numbers: checked, fingerprinted with a keyed hash, and never kept."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

_SEPARATORS = str.maketrans("", "", " -")
# A run of 13 to 19 digits, possibly split by single spaces or dashes, as a PAN is written.
_PAN_RUN_RE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
# The message a key's check value is the HMAC of: names the key without revealing it.
KEY_CHECK_LABEL = b"offerbot fingerprint key check v1"
# The environment variables an operator gives the fingerprint keys in (named in every message
# about a key, so services can say the fix without reading the configuration).
KEY_VAR = "OFFERBOT_FINGERPRINT_KEY"
PREVIOUS_KEY_VAR = "OFFERBOT_FINGERPRINT_KEY_PREVIOUS"  # during a key rotation: the old key
# Thirteen or more digits, possibly split by spaces, dashes or NUL bytes (a UTF-16 or UTF-32
# file read byte by byte has NULs between its characters): a card number, a mistyped one, or a
# longer run that may hide one. What files the bot keeps, and the values it quotes, never show.
_LONG_RUN_RE = re.compile(r"(?<!\d)\d(?:[ \-\x00]{0,7}\d){12,}")
_DIGIT_RE = re.compile(r"\d")


class CardNumberInvalid(ValueError):
    """A card number failed a check; the message never contains the number."""


@dataclass(frozen=True)
class CardRef:
    """What the bot keeps of a card: a keyed fingerprint and the last four digits."""

    fingerprint: str
    last4: str


@dataclass(frozen=True)
class KeyCheck:
    """What is kept of a fingerprint key: the HMAC-SHA256 of a fixed label, never the key."""

    check_value: str  # 64 hex characters

    @property
    def key_id(self) -> str:
        """Return the short id that names the key in messages and beside each fingerprint."""
        return self.check_value[:8]


def key_check(key: bytes) -> KeyCheck:
    """Return the check value of a fingerprint key."""
    return KeyCheck(hmac.new(key, KEY_CHECK_LABEL, hashlib.sha256).hexdigest())


def luhn_ok(digits: str) -> bool:
    """Return True when ``digits`` pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index & 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def normalise_card_number(text: str) -> str:
    """Return the digits of a card number typed with spaces or dashes, or raise CardNumberInvalid."""
    digits = text.strip().translate(_SEPARATORS)
    if not digits.isascii() or not digits.isdigit():
        raise CardNumberInvalid("card number must contain only digits, spaces or dashes")
    if not 13 <= len(digits) <= 19:
        raise CardNumberInvalid(f"card number has {len(digits)} digits; expected 13 to 19")
    if not luhn_ok(digits):
        raise CardNumberInvalid("card number fails the Luhn check; look for a mistyped digit")
    return digits


_SHA256_BLOCK = 64  # bytes: SHA-256's block size; RFC 2104 hashes a longer key down first


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) under one key, its padded key hashed once.

    The same digest as ``hmac.new(key, message, hashlib.sha256)`` at half the cost per message,
    which matters over millions of transaction rows (tests/unit/test_fingerprint_hmac.py pins it to hmac).
    """

    def __init__(self, key: bytes) -> None:
        short = hashlib.sha256(key).digest() if len(key) > _SHA256_BLOCK else key
        block = short.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def hexdigest(self, message: bytes) -> str:
        """Return the HMAC-SHA256 of ``message`` in lower-case hex."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class Fingerprinter(HmacSha256):
    """Turn card numbers into keyed HMAC-SHA256 fingerprints (PCI DSS 3.5.1.1)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the fingerprint key must be at least 32 bytes")
        super().__init__(key)
        self._key = key
        self.check = key_check(key)

    def __repr__(self) -> str:
        return "Fingerprinter(key=<hidden>)"

    def __reduce__(self) -> tuple[type[Fingerprinter], tuple[bytes]]:
        return (Fingerprinter, (self._key,))  # hash objects do not pickle; the key does

    def fingerprint(self, digits: str) -> str:
        """Return the hex fingerprint of a card number given as bare digits."""
        return self.hexdigest(digits.encode("ascii"))

    def card_ref(self, digits: str) -> CardRef:
        """Return the fingerprint and last four digits of a card number."""
        return CardRef(self.fingerprint(digits), digits[-4:])


def find_card_numbers(text: str) -> list[str]:
    """Return the Luhn-valid 13-19 digit runs in ``text`` (what a PAN scanner flags)."""
    found = []
    for match in _PAN_RUN_RE.finditer(text):
        digits = match.group().translate(_SEPARATORS)
        if luhn_ok(digits):
            found.append(digits)
    return found


def mask_card_numbers(text: str, keep: Callable[[str], bool] | None = None) -> str:
    """Replace every Luhn-valid 13-19 digit run in ``text`` with its last four digits.

    ``keep`` may spare a run written as bare digits that it knows is no card (an X id).
    """

    def mask(match: re.Match[str]) -> str:
        found = match.group()
        digits = found.translate(_SEPARATORS)
        if not luhn_ok(digits) or (keep is not None and found == digits and keep(digits)):
            return found
        return f"[card ...{digits[-4:]}]"

    return _PAN_RUN_RE.sub(mask, text)


def keep_last4(text: str) -> str:
    """Replace every digit of ``text`` but the last four with ``*`` (``***********0005``)."""
    if text.isascii() and text.isdigit():  # the usual card_number field: digits only
        return "*" * (len(text) - 4) + text[-4:] if len(text) > 4 else text
    hidden = len(_DIGIT_RE.findall(text)) - 4
    return _DIGIT_RE.sub("*", text, count=hidden) if hidden > 0 else text


def has_long_digit_run(text: str) -> bool:
    """Return True when ``text`` holds 13 or more digits in a run (spaces, dashes or NULs between)."""
    return _LONG_RUN_RE.search(text) is not None


def mask_long_digit_runs(text: str) -> str:
    """Cut every run of 13 or more digits in ``text`` to its last four (the others become ``*``).

    Luhn-valid or not: a card number with one digit mistyped still gives away all the others.
    """
    return _LONG_RUN_RE.sub(lambda m: keep_last4(m.group()), text)


def mask_valid_card_numbers(text: str) -> str:
    """Cut every Luhn-valid 13-19 digit run in ``text`` to its last four (``***********0005``).

    For values that must stay readable unless they are a card number, such as transaction ids.
    """

    def mask(match: re.Match[str]) -> str:
        return keep_last4(match.group()) if luhn_ok(match.group().translate(_SEPARATORS)) else match.group()

    return _PAN_RUN_RE.sub(mask, text)
