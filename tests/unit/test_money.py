"""Money: one strict amount grammar, a reason for every refusal, one way to print."""

from decimal import Decimal

import pytest

from bot.domain.money import (
    AMOUNT_RE,
    cents_text,
    explain_bad_amount,
    format_cents,
    format_money,
    format_money_short,
    from_cents,
)


def parse_amount(text: str) -> Decimal | None:
    """The amount grammar as a transaction file's row is read with it (see parse_row)."""
    return Decimal(text) if AMOUNT_RE.fullmatch(text) else None


@pytest.mark.parametrize(
    ("text", "amount"),
    [("0", Decimal("0")), ("5", Decimal("5")), ("12.5", Decimal("12.50")), ("12.50", Decimal("12.50")),
     ("1234.50", Decimal("1234.50")), ("0.01", Decimal("0.01"))],
)
def test_parse_amount_accepts_plain_decimals(text: str, amount: Decimal) -> None:
    """A plain decimal with at most two places parses to that Decimal."""
    parsed = parse_amount(text)
    assert isinstance(parsed, Decimal)
    assert parsed == amount


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1,234.50", "amount has a thousands separator or decimal comma; write 1234.50"),
        ("12,50", "amount has a thousands separator or decimal comma; write 1234.50"),
        ("$12", "amount has a currency symbol or code; put the currency in its own column"),
        ("12USD", "amount has a currency symbol or code; put the currency in its own column"),
        ("€5.00", "amount has a currency symbol or code; put the currency in its own column"),
        ("(12.00)", "amount is negative; purchases must be positive (refunds may carry either sign)"),
        ("-5", "amount is negative; purchases must be positive (refunds may carry either sign)"),
        ("1e3", "amount uses an exponent; write it out, e.g. 1000.00"),
        ("NaN", "amount is not a number"),
        ("inf", "amount is not a number"),
        ("", "amount is empty"),
        ("   ", "amount is empty"),
        (" 12", "amount has spaces around it"),
        ("12 ", "amount has spaces around it"),
        ("12.345", "amount has more than two decimal places"),
        ("01.00", "amount is not a plain decimal like 12.50"),
        ("12.", "amount is not a plain decimal like 12.50"),
        (".5", "amount is not a plain decimal like 12.50"),
    ],
)
def test_bad_amount_is_refused_with_reason(text: str, reason: str) -> None:
    """Anything but a plain decimal is refused, and explain_bad_amount says why."""
    assert parse_amount(text) is None
    assert explain_bad_amount(text) == reason


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("5"), "USD", "$5.00"),
        (Decimal("12.5"), "EUR", "€12.50"),
        (Decimal("3.10"), "GBP", "£3.10"),
        (Decimal("12"), "CHF", "12.00 CHF"),
        (Decimal("1234.5"), "USD", "$1,234.50"),
        (Decimal("0"), "USD", "$0.00"),
        (Decimal("-5"), "USD", "-$5.00"),
        (Decimal("-12.5"), "CHF", "-12.50 CHF"),
    ],
)
def test_format_money(amount: Decimal, currency: str, text: str) -> None:
    """Amounts print with two places, a symbol before known currencies, the code after others."""
    assert format_money(amount, currency) == text


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("5"), "USD", "$5"),
        (Decimal("5.00"), "USD", "$5"),
        (Decimal("1000"), "USD", "$1,000"),
        (Decimal("12.50"), "EUR", "€12.50"),
        (Decimal("12"), "CHF", "12 CHF"),
        (Decimal("12.5"), "CHF", "12.50 CHF"),
        (Decimal("-5"), "CHF", "-5 CHF"),
        (Decimal("-5.50"), "USD", "-$5.50"),
        (Decimal("-5"), "USD", "-$5"),
    ],
)
def test_format_money_short(amount: Decimal, currency: str, text: str) -> None:
    """Whole amounts drop the cents; the sign goes before the symbol as in format_money."""
    assert format_money_short(amount, currency) == text


@pytest.mark.parametrize("cents", [0, 1, -1, 5, 99, -99, 100, 500, -1050, 123456, -123456, 100_000_000_07])
@pytest.mark.parametrize("currency", ["USD", "EUR", "CHF"])
def test_cents_print_as_their_decimal_amount_does(cents: int, currency: str) -> None:
    """format_cents and cents_text (no Decimal per row) print what the Decimal forms print."""
    assert format_cents(cents, currency) == format_money(from_cents(cents), currency)
    assert cents_text(cents) == str(from_cents(cents))
