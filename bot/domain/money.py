"""Money amounts: one strict grammar for parsing, one way to print."""

from __future__ import annotations

import re
from decimal import Decimal

# A plain decimal with a dot and at most two places: no signs, separators, symbols or exponents
# (a refund's leading minus is taken off before this applies; see transactions.parse_row).
# Anything else is refused rather than guessed at ("1,234.50" could be 1234.50 or 1.23450).
MAX_WHOLE_DIGITS = 12  # up to 999,999,999,999.99
AMOUNT_RE = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,2})?")
CURRENCY_RE = re.compile(r"[A-Z]{3}")
CENT = Decimal("0.01")
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}


def explain_bad_amount(text: str) -> str:
    """Say why ``text`` is not an amount, without guessing what was meant."""
    if not text.strip():
        return "amount is empty"
    if "," in text:
        return "amount has a thousands separator or decimal comma; write 1234.50"
    if text.strip() != text:
        return "amount has spaces around it"
    if text.startswith("-") or (text.startswith("(") and text.endswith(")")):
        return "amount is negative; purchases must be positive (refunds may carry either sign)"
    if any(ch in text for ch in "$€£¥") or text[:1].isalpha() or text[-1:].isalpha():
        if text.lower() in {"nan", "inf", "infinity"}:
            return "amount is not a number"
        return "amount has a currency symbol or code; put the currency in its own column"
    if "e" in text.lower():
        return "amount uses an exponent; write it out, e.g. 1000.00"
    if "." in text and len(text.rsplit(".", 1)[1]) > 2:
        return "amount has more than two decimal places"
    whole = text.partition(".")[0]
    if len(whole) > MAX_WHOLE_DIGITS and whole.isascii() and whole.isdigit():
        return f"amount has {len(whole)} digits before the point; at most {MAX_WHOLE_DIGITS}"
    return "amount is not a plain decimal like 12.50"


def to_cents(amount: Decimal) -> int:
    """Return ``amount`` in minor units (cents)."""
    return int((amount * 100).to_integral_value())


def cents_text(cents: int) -> str:
    """Return minor units as a plain decimal for files: 500 -> '5.00', -1050 -> '-10.50'."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def format_cents(cents: int, currency: str) -> str:
    """Format minor units for people, as format_money does, without going through Decimal."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    text = f"{cents // 100:,}.{cents % 100:02d}"
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def from_cents(cents: int) -> Decimal:
    """Return minor units as a two-place Decimal."""
    return (Decimal(cents) / 100).quantize(CENT)


def format_money(amount: Decimal, currency: str) -> str:
    """Format ``amount`` for people: ``$5.00``, ``€12.50``, ``12.00 CHF``."""
    text = f"{amount.quantize(CENT):,}"
    symbol = _SYMBOLS.get(currency)
    if symbol is None:
        return f"{text} {currency}"
    if text.startswith("-"):
        return f"-{symbol}{text[1:]}"
    return f"{symbol}{text}"


def format_money_short(amount: Decimal, currency: str) -> str:
    """Format whole amounts without cents (``$5``), others as ``format_money``."""
    if amount != amount.to_integral_value():
        return format_money(amount, currency)
    symbol = _SYMBOLS.get(currency)
    whole = f"{abs(int(amount)):,}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{whole}" if symbol else f"{sign}{whole} {currency}"
