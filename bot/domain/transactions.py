"""The card system's transaction file: its columns, and each row checked field by field."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import itemgetter

from bot.domain.cards import has_long_digit_run, mask_long_digit_runs, mask_valid_card_numbers
from bot.domain.money import AMOUNT_RE, CURRENCY_RE, explain_bad_amount

REQUIRED_COLUMNS = ("transaction_id", "card_number", "merchant_id", "merchant_name", "amount",
                    "currency", "transaction_date", "type")
OPTIONAL_COLUMNS = ("original_transaction_id",)
# Sensitive authentication data may never be received or kept (PCI DSS 3.3.1): card security
# codes, track (magnetic stripe) data, PINs. A column name is cut into words (at spaces, _, -,
# any other punctuation and camelCase), lower-cased, and each run of up to four consecutive
# words is joined and looked up here: "Card Verification Value", "card_verification_value" and
# "CardVerificationValue" all become "cardverificationvalue". The expiry date and the service
# date are not sensitive authentication data and pass.
SENSITIVE_NAMES = frozenset({
    # security codes under each scheme's name (CVV2 Visa, CVC2 Mastercard, CID Amex, CAV2 JCB,
    # CVN2 UnionPay, CVD Discover, CSC, iCVV/dCVV chip and contactless values)
    "cvv", "cvv2", "cv2", "icvv", "dcvv", "cvc", "cvc2", "cid", "cav2", "cvn", "cvn2", "cvd", "csc",
    "securitycode", "cardsecuritycode", "securityvalue", "cardsecurityvalue", "securitynumber",
    "cardsecuritynumber", "cardcode", "verificationcode", "verificationvalue", "verificationnumber",
    "cardverificationcode", "cardverificationvalue", "cardverificationnumber", "cardverificationdata",
    "cardvalidationcode", "cardvalidationvalue", "cardidentificationnumber",
    # PINs
    "pin", "pinblock", "pinnumber", "pincode", "pindata", "encryptedpin", "pinoffset",
    # track (magnetic stripe) data, and the service code it carries
    "track", "track1", "track2", "track3", "trackone", "tracktwo", "trackdata", "track1data",
    "track2data", "track2equivalent", "magstripe", "magstripedata", "magneticstripe",
    "magneticstripedata", "stripedata", "servicecode",
})
_WORD_BREAK_RE = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_LONGEST_NAME = 4  # words: "card verification value data" at most
# What else a comma-separated header row holding a single column may be separated by.
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars (|)"}
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ID_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
TYPES = ("purchase", "refund")


class HeaderInvalid(ValueError):
    """The header row makes the whole file unusable."""


class SensitiveColumn(HeaderInvalid):
    """The header names sensitive authentication data: the file must not be kept at all."""


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


def parse_header(fields: list[str]) -> Columns:
    """Map the header's column names (any order, any case) or raise HeaderInvalid."""
    forbidden = [f for f in fields if sensitive_name(f)]
    if forbidden:
        raise SensitiveColumn(
            f"the file has a {_quote(forbidden[0].strip().lower())} column: card security codes, track "
            "data and PINs must never be sent or stored. Remove the column and send the file again")
    names = [f.strip().lower() for f in fields]
    counts = Counter(names)  # one pass: a header of many columns costs no more than it holds
    duplicates = sorted(n for n, times in counts.items() if times > 1 and n)
    if duplicates:
        raise HeaderInvalid(f"column {_quote(duplicates[0])} appears twice in the header")
    missing = [c for c in REQUIRED_COLUMNS if c not in counts]
    if missing and len(fields) == 1:
        found = [(fields[0].count(d), d) for d in _OTHER_DELIMITERS if d in fields[0]]
        if found:
            delimiter = max(found)[1]
            raise HeaderInvalid(f"the header is a single column that holds {delimiter!r}: the file looks "
                                f"separated by {_OTHER_DELIMITERS[delimiter]}, not commas. Export it as "
                                "comma-separated CSV")
    if missing:
        raise HeaderInvalid(f"the header lacks {', '.join(missing)}; expected columns "
                            f"{', '.join(REQUIRED_COLUMNS)} (any order), optionally "
                            "original_transaction_id")
    index = {name: position for position, name in enumerate(names)}
    return Columns(count=len(names), original_transaction_id=index.get("original_transaction_id"),
                   **{c: index[c] for c in REQUIRED_COLUMNS})


def sensitive_name(name: str) -> bool:
    """Tell whether a column name names a card security code, track data or a PIN."""
    words = [w.lower() for w in _WORD_BREAK_RE.split(name) if w]
    return any("".join(words[start:start + size]) in SENSITIVE_NAMES
               for size in range(1, _LONGEST_NAME + 1) for start in range(len(words) - size + 1))


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
        pattern = ",".join(parts)
        self._match = re.compile(pattern).fullmatch
        self._groups = tuple(order.index(name) + 1 for name in _FAST_ORDER)
        self._days: dict[str, date | None] = {}
        # Every line of a run at once: the values where the line's pattern holds (all empty where
        # not: a lookahead that fails keeps none of its groups), and the line itself in any case.
        self._lines = re.compile(f"^(?:(?={pattern}$))?(.*)", re.MULTILINE).findall
        in_order = self._groups == tuple(range(1, len(_FAST_ORDER) + 1))
        self._reorder = None if in_order else itemgetter(*(group - 1 for group in self._groups), -1)

    @property
    def days(self) -> dict[str, date | None]:
        """The dates worked out so far by ``day`` (a look-up here spares a call per row)."""
        return self._days

    def day(self, text: str) -> date | None:
        """Return the calendar date ``text`` names, or None (worked out once per distinct text)."""
        found = self._days.get(text, _UNSEEN)
        if found is _UNSEEN:
            found = _to_date(text)
            if len(self._days) < 10_000:  # dates repeat; anything else is not worth keeping
                self._days[text] = found
        return found  # type: ignore[return-value]

    def each_line(self, text: str) -> list[tuple[str, ...]]:
        """Return, for each line of ``text`` (lines joined by LF, none holding a CR), a 9-tuple:
        the values ``fields`` would return and the line, or 8 empty strings and the line.

        Values come back where the line's pattern holds; the caller still checks the date (with
        ``days`` and ``day``) and that a purchase has no original id, as ``fields`` does, and
        takes any other line through ``fields`` and ``parse_row``.
        """
        found = self._lines(text)
        return found if self._reorder is None else list(map(self._reorder, found))

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
    """A row that cannot be used: where it is and why (never quoting a card number).

    ``transaction_id`` is the row's id as far as it could be read ("" when it could not), with
    a Luhn-valid 13-19 digit id cut to its last four digits (see ``shown_id``).
    """

    line: int
    column: str
    reason: str
    transaction_id: str = ""


def shown_id(transaction_id: str) -> str:
    """Return a transaction id as a reject shows it: a card-number-like id cut to its last four."""
    return mask_valid_card_numbers(transaction_id)


def parse_row(fields: list[str], columns: Columns, line: int) -> Row | Reject:
    """Check one row's fields; return the Row or the first problem found."""
    if len(fields) != columns.count:
        # Only the first field is sure to be where the header puts it in a row that has a field
        # too many or too few (a decimal comma, say).
        first = fields[0].strip() if columns.transaction_id == 0 else ""
        return Reject(line, "", f"has {len(fields)} fields where the header has {columns.count}",
                      shown_id(first) if _ID_RE.fullmatch(first) else "")
    transaction_id = fields[columns.transaction_id].strip()
    if _ID_RE.fullmatch(transaction_id) is None:
        return Reject(line, "transaction_id", "must be 1-64 printable characters")
    tid = shown_id(transaction_id)
    card = fields[columns.card_number].strip()
    if not (card.isascii() and card.isdigit() and 13 <= len(card) <= 19):
        return Reject(line, "card_number", "must be 13 to 19 digits", tid)
    merchant_id = fields[columns.merchant_id].strip()
    if _ID_RE.fullmatch(merchant_id) is None:
        return Reject(line, "merchant_id", "must be 1-64 printable characters", tid)
    text = fields[columns.amount]
    kind = fields[columns.type].strip().lower()
    # Many card systems send refunds as negative amounts: a refund may carry either sign, and
    # what is kept is the amount refunded (positive). A purchase must be positive.
    body = text[1:] if kind == "refund" and text.startswith("-") else text
    if AMOUNT_RE.fullmatch(body) is None:
        reason = explain_bad_amount(body)
        # The reason says what is wrong; a value that would have to be masked adds nothing to it.
        got = "" if has_long_digit_run(text) else f" (got {_quote(text)})"
        return Reject(line, "amount", reason + got, tid)
    amount = Decimal(body)
    if not amount:
        return Reject(line, "amount", "must be greater than 0", tid)
    currency = fields[columns.currency].strip()
    if CURRENCY_RE.fullmatch(currency) is None:
        return Reject(line, "currency", f"must be a three-letter code such as USD (got {_quote(currency)})",
                      tid)
    day_text = fields[columns.transaction_date].strip()
    day = _to_date(day_text)
    if day is None:
        return Reject(line, "transaction_date",
                      f"must be a real date like 2026-11-23 (got {_quote(day_text)})", tid)
    if kind not in TYPES:
        return Reject(line, "type", f"must be purchase or refund (got {_quote(kind)})", tid)
    original = None
    if columns.original_transaction_id is not None:
        original = fields[columns.original_transaction_id].strip() or None
        if original is not None and kind == "purchase":
            return Reject(line, "original_transaction_id", "only refunds refer to an original transaction",
                          tid)
    return Row(line, transaction_id, card, merchant_id, fields[columns.merchant_name].strip(),
               amount, currency, day, kind, original)


def _quote(value: str) -> str:
    """Quote a bad value for a reason, shortened, any run of 13 or more digits cut to its last 4.

    Shorter numbers (amounts, dates, ids) stay readable; a card number, even a mistyped one,
    never reaches a rejects file or a message.
    """
    masked = mask_long_digit_runs(value[:200])  # masked before it is cut: no run is shown in part
    return repr(masked[:40] + ("..." if len(masked) > 40 or len(value) > 200 else ""))
