"""The card system's transaction file: its columns, and each row checked field by field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise

from bot.domain.money import AMOUNT_RE, CURRENCY_RE, explain_bad_amount

REQUIRED_COLUMNS = ("transaction_id", "card_number", "merchant_id", "merchant_name", "amount",
                    "currency", "transaction_date", "type")
OPTIONAL_COLUMNS = ("original_transaction_id",)
# Sensitive authentication data may never be received or kept (PCI DSS 3.3.1): card security
# codes, track (magnetic stripe) data, PINs. Matched as whole words of the column name.
_FORBIDDEN_WORDS = frozenset({"cvv", "cvv2", "cvc", "cvc2", "cid", "cav2", "csc", "cvn", "pin",
                              "pinblock", "track", "track1", "track2", "trackdata", "magstripe",
                              "securitycode", "servicecode"})
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ID_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
TYPES = ("purchase", "refund")


class HeaderInvalid(ValueError):
    """The header row makes the whole file unusable."""


@dataclass(frozen=True)
class Columns:
    """Where each known column sits in a row."""

    count: int
    transaction_id: int
    card_number: int
    merchant_id: int
    merchant_name: int
    amount: int
    currency: int
    transaction_date: int
    type: int
    original_transaction_id: int | None


def read_header(fields: list[str]) -> Columns:
    """Map the header's column names (any order, any case) or raise HeaderInvalid."""
    names = [f.strip().lower() for f in fields]
    forbidden = [f for f in names if _forbidden(f)]
    if forbidden:
        raise HeaderInvalid(
            f"the file has a {forbidden[0]!r} column: card security codes, track data and PINs "
            "must never be sent or stored. Remove the column and send the file again")
    duplicates = sorted({n for n in names if names.count(n) > 1 and n})
    if duplicates:
        raise HeaderInvalid(f"column {duplicates[0]!r} appears twice in the header")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise HeaderInvalid(f"the header lacks {', '.join(missing)}; expected columns "
                            f"{', '.join(REQUIRED_COLUMNS)} (any order), optionally "
                            "original_transaction_id")
    index = {name: position for position, name in enumerate(names)}
    return Columns(count=len(names), original_transaction_id=index.get("original_transaction_id"),
                   **{c: index[c] for c in REQUIRED_COLUMNS})


# The fast path's view of each column: stricter than parse_row (no spaces, lower-case type,
# amounts above zero, no negative refunds), so every line it accepts parse_row accepts with the
# same values; the rest go through parse_row.
_ID = r"([^,\"\s\x00-\x20\x7f]{1,64})"  # \s: parse_row strips Unicode spaces too (NBSP...)
_FAST = {
    "transaction_id": _ID,
    "card_number": r"([0-9]{13,19})",
    "merchant_id": _ID,
    "merchant_name": r"[^,\"\r\n]*",
    "amount": r"((?:[1-9][0-9]{0,11}(?:\.[0-9]{1,2})?)|0\.(?:[1-9][0-9]?|0[1-9]))",
    "currency": r"([A-Z]{3})",
    "transaction_date": r"([0-9]{4}-[0-9]{2}-[0-9]{2})",
    "type": r"(purchase|refund)",
    "original_transaction_id": r"([^,\"\s\x00-\x20\x7f]{0,64})",
}
_FAST_ORDER = ("transaction_id", "card_number", "merchant_id", "amount", "currency",
               "transaction_date", "type", "original_transaction_id")


class LineParser:
    """Checks a whole unquoted line with one regular expression built from the header.

    ``fields`` returns the values as text in a fixed order, or None for any line it cannot
    vouch for; those go through ``parse_row``, which says what is wrong.
    """

    def __init__(self, columns: Columns) -> None:
        by_position = {getattr(columns, name): name for name in _FAST
                       if getattr(columns, name) is not None}
        parts, order = [], []
        for position in range(columns.count):
            name = by_position.get(position)
            parts.append(_FAST[name] if name else r"[^,\"\r\n]*")
            if name is not None and name != "merchant_name":
                order.append(name)
        if "original_transaction_id" not in order:
            parts[-1] += "()"  # an always-empty group stands in for the missing column
            order.append("original_transaction_id")
        self._match = re.compile(",".join(parts)).fullmatch
        self._groups = tuple(order.index(name) + 1 for name in _FAST_ORDER)
        self._days: dict[str, date | None] = {}

    def day(self, text: str) -> date | None:
        """Return the calendar date ``text`` names, or None (worked out once per distinct text)."""
        found = self._days.get(text, _UNSEEN)
        if found is _UNSEEN:
            found = _to_date(text)
            if len(self._days) < 10_000:  # dates repeat; anything else is not worth keeping
                self._days[text] = found
        return found  # type: ignore[return-value]

    def fields(self, text: str) -> tuple[str, str, str, str, str, str, str, str] | None:
        """Return (id, card, merchant id, amount, currency, date, type, original id) or None."""
        match = self._match(text)
        if match is None:
            return None
        values: tuple[str, str, str, str, str, str, str, str]
        values = match.group(*self._groups)  # type: ignore[assignment]  # (cast costs a call per line)
        if self._days.get(values[5]) is None and self.day(values[5]) is None:
            return None
        if values[7] and values[6] == "purchase":
            return None
        return values


_UNSEEN = object()


def _to_date(text: str) -> date | None:
    """Return the date ``text`` names as YYYY-MM-DD, or None when it names none."""
    try:
        return date.fromisoformat(text) if _DATE_RE.fullmatch(text) else None
    except ValueError:  # 2026-02-30
        return None


@dataclass(frozen=True, slots=True)
class Row:
    """A transaction row whose every field passed its check; the card number is still raw."""

    line: int
    transaction_id: str
    card_number: str
    merchant_id: str
    merchant_name: str
    amount: Decimal
    currency: str
    day: date
    kind: str
    original_id: str | None


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that cannot be used: where it is and why (never quoting a card number)."""

    line: int
    column: str
    reason: str


def parse_row(fields: list[str], columns: Columns, line: int) -> Row | Reject:
    """Check one row's fields; return the Row or the first problem found."""
    if len(fields) != columns.count:
        return Reject(line, "", f"has {len(fields)} fields where the header has {columns.count}")
    transaction_id = fields[columns.transaction_id].strip()
    if _ID_RE.fullmatch(transaction_id) is None:
        return Reject(line, "transaction_id", "must be 1-64 printable characters")
    card = fields[columns.card_number].strip()
    if not (card.isascii() and card.isdigit() and 13 <= len(card) <= 19):
        return Reject(line, "card_number", "must be 13 to 19 digits")
    merchant_id = fields[columns.merchant_id].strip()
    if _ID_RE.fullmatch(merchant_id) is None:
        return Reject(line, "merchant_id", "must be 1-64 printable characters")
    text = fields[columns.amount]
    kind = fields[columns.type].strip().lower()
    # Many card systems send refunds as negative amounts: a refund may carry either sign, and
    # what is kept is the amount refunded (positive). A purchase must be positive.
    body = text[1:] if kind == "refund" and text.startswith("-") else text
    if AMOUNT_RE.fullmatch(body) is None:
        return Reject(line, "amount", f"{explain_bad_amount(body)} (got {_quote(text)})")
    amount = Decimal(body)
    if not amount:
        return Reject(line, "amount", "must be greater than 0")
    currency = fields[columns.currency].strip()
    if CURRENCY_RE.fullmatch(currency) is None:
        return Reject(line, "currency", f"must be a three-letter code such as USD (got {_quote(currency)})")
    day_text = fields[columns.transaction_date].strip()
    day = _to_date(day_text)
    if day is None:
        return Reject(line, "transaction_date",
                      f"must be a real date like 2026-11-23 (got {_quote(day_text)})")
    if kind not in TYPES:
        return Reject(line, "type", f"must be purchase or refund (got {_quote(kind)})")
    original = None
    if columns.original_transaction_id is not None:
        original = fields[columns.original_transaction_id].strip() or None
        if original is not None and kind == "purchase":
            return Reject(line, "original_transaction_id", "only refunds refer to an original transaction")
    return Row(line, transaction_id, card, merchant_id, fields[columns.merchant_name].strip(),
               amount, currency, day, kind, original)


def _forbidden(name: str) -> bool:
    words = [w for w in re.split(r"[^a-z0-9]+", name) if w]
    joined = {a + b for a, b in pairwise(words)}
    return any(w in _FORBIDDEN_WORDS for w in (*words, *joined))


# Nine or more digits, however separated (spaces, dashes, dots...): masked before a value is
# quoted back, so a card number typed into the wrong column never reaches a rejects file.
_DIGIT_RUN_RE = re.compile(r"\d(?:[^0-9A-Za-z]{0,2}\d){8,}")


def _quote(value: str) -> str:
    """Quote a bad value for a reject reason, shortened, with long digit runs masked."""
    masked = _DIGIT_RUN_RE.sub(lambda m: re.sub(r"\d", "#", m.group()), value)
    return repr(masked[:40] + ("..." if len(masked) > 40 else ""))
