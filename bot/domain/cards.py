"""Card numbers: checked, fingerprinted with a keyed hash, and never kept."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

_SEPARATORS = str.maketrans("", "", " -")
# A run of 13 to 19 digits, possibly split by single spaces or dashes, as a PAN is written.
_PAN_RUN_RE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


class CardNumberInvalid(ValueError):
    """A card number failed a check; the message never contains the number."""


@dataclass(frozen=True)
class CardRef:
    """What the bot keeps of a card: a keyed fingerprint and the last four digits."""

    fingerprint: str
    last4: str


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


class Fingerprinter:
    """Turn card numbers into keyed HMAC-SHA256 fingerprints (PCI DSS 3.5.1.1)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the fingerprint key must be at least 32 bytes")
        self._key = key
        # HMAC (RFC 2104) with the padded key hashed once: the same result as hmac.digest at
        # half the cost, which matters over millions of transaction rows.
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def __repr__(self) -> str:
        return "Fingerprinter(key=<hidden>)"

    def __reduce__(self) -> tuple[type[Fingerprinter], tuple[bytes]]:
        return (Fingerprinter, (self._key,))  # hash objects do not pickle; the key does

    def fingerprint(self, digits: str) -> str:
        """Return the hex fingerprint of a card number given as bare digits."""
        inner = self._inner.copy()
        inner.update(digits.encode("ascii"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

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
