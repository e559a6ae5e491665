"""The transaction file's header and rows: every field checked; the fast path agrees with the slow one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.cards import find_card_numbers
from bot.domain.transactions import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    Columns,
    HeaderInvalid,
    LineParser,
    Reject,
    Row,
    SensitiveColumn,
    parse_header,
    parse_row,
)
from tests.conftest import examples
from tests.fakes import ALICE_CARD

STANDARD = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]
GOOD = {
    "transaction_id": "T1", "card_number": ALICE_CARD, "merchant_id": "MID-MCD-0001",
    "merchant_name": "McDonald's", "amount": "12.50", "currency": "USD", "transaction_date": "2026-11-23",
    "type": "purchase", "original_transaction_id": "",
}


def fields(names: list[str] = STANDARD, **values: str) -> list[str]:
    """A row's fields in the order of ``names``: the good row with some values replaced."""
    row = {**GOOD, **values}
    return [row.get(name, "extra") for name in names]


# --- parse_header --------------------------------------------------------------------------------


def test_header_maps_standard_columns() -> None:
    """The standard header maps each column to its position."""
    assert parse_header(STANDARD) == Columns(9, 0, 1, 2, 3, 4, 5, 6, 7, 8)


def test_header_columns_may_come_in_any_order_and_case() -> None:
    """Column names are matched whatever their order, case and surrounding spaces."""
    names = [" TYPE", "Amount ", "Currency", "merchant_NAME", "Transaction_Date", "card_number",
             "MERCHANT_ID", "Transaction_ID"]
    columns = parse_header(names)
    assert columns == Columns(count=8, transaction_id=7, card_number=5, merchant_id=6, merchant_name=3,
                              amount=1, currency=2, transaction_date=4, type=0, original_transaction_id=None)


def test_header_allows_unknown_columns() -> None:
    """Extra columns the bot does not know are allowed and skipped."""
    columns = parse_header(["terminal", *REQUIRED_COLUMNS, "mcc", ""])
    assert (columns.count, columns.transaction_id, columns.type) == (11, 1, 8)
    assert columns.original_transaction_id is None


@pytest.mark.parametrize("missing", REQUIRED_COLUMNS)
def test_header_without_a_required_column_is_refused_naming_it(missing: str) -> None:
    """A header lacking a required column is refused, and the message names the missing column."""
    names = [n for n in STANDARD if n != missing]
    with pytest.raises(HeaderInvalid, match=rf"^the header lacks {missing}; expected columns"):
        parse_header(names)


def test_header_missing_several_columns_names_all() -> None:
    """Every missing column is named, in the standard order."""
    with pytest.raises(HeaderInvalid, match=r"^the header lacks card_number, amount, type;"):
        parse_header(["transaction_id", "merchant_id", "merchant_name", "currency", "transaction_date"])


@pytest.mark.parametrize("twice", [["amount", "amount"], ["amount", " AMOUNT "], ["note", "Note"]])
def test_header_with_a_duplicate_column_is_refused(twice: list[str]) -> None:
    """A column name that appears twice (ignoring case and spaces) makes the header invalid."""
    with pytest.raises(HeaderInvalid, match=f"column '{twice[0].strip().lower()}' appears twice"):
        parse_header([*REQUIRED_COLUMNS, *twice])


@pytest.mark.parametrize(
    "name", ["cvv", "CVV2", "card_cvc", "security code", "Security_Code", "track_2", "track1", "Track Data",
             "pin", "PIN", "pin_block", "PINBlock", "cvc2", "csc", "magstripe", "service-code"],
)
def test_header_with_sensitive_authentication_data_is_refused(name: str) -> None:
    """A CVV, track data or PIN column refuses the whole file, and says to remove the column."""
    with pytest.raises(HeaderInvalid) as caught:
        parse_header([*STANDARD, name])
    message = str(caught.value)
    assert repr(name.strip().lower()) in message
    assert "Remove the column and send the file again" in message


@pytest.mark.parametrize(
    "name", ["pinned_at", "tracking_id", "spin", "pinyin", "spinach", "cvvx", "backtrack", "pinecone"])
def test_header_allows_names_that_merely_contain_a_sensitive_word(name: str) -> None:
    """Names that only contain pin, track or cvv inside another word are allowed."""
    assert parse_header([*STANDARD, name]).count == len(STANDARD) + 1


SENSITIVE_COLUMN_NAMES = {
    # name as it may appear in a header -> True when it names sensitive authentication data
    "cv2": True, "card_verification_value": True, "card_verification_code": True,
    "Card Verification Value": True, "CardVerificationValue": True, "iCVV": True, "card code": True,
    "CardCode": True, "cvv": True, "CVV2": True, "cvc": True, "CVC2": True, "csc": True, "cvd": True,
    "cvn": True, "CVN2": True, "cav2": True, "cid": True, "dCVV": True, "card security code": True,
    "Card-Security-Code": True, "security code": True, "securityCode": True, "verification code": True,
    "verification number": True, "Verification_Value": True, "card validation code": True, "PIN": True,
    "pin block": True, "PIN_number": True, "pin-code": True, "encrypted_pin": True, "track 1": True,
    "Track2": True, "track_2_data": True, "track data": True, "TRACK ONE": True, "magstripe": True,
    "magnetic stripe data": True, "service code": True, "service_code": True,
    "card_type": False, "service_date": False, "expiry": False, "expiry_date": False, "exp_date": False,
    "card_expiry": False, "cardholder_name": False, "card_network": False, "auth_code": False,
    "authorization code": False, "approval_code": False, "response_code": False, "merchant category code":
    False, "mcc": False, "postal_code": False, "country code": False, "currency_code": False,
    "verification_status": False, "verified": False, "security_deposit": False, "service_fee": False,
    "pinned_at": False, "spin": False, "tracking_id": False, "tracking number": False, "backtrack": False,
    "cvvx": False, "pinecone": False, "code": False, "terminal_id": False, "pos_entry_mode": False,
}


@pytest.mark.parametrize(("name", "refused"), SENSITIVE_COLUMN_NAMES.items(), ids=SENSITIVE_COLUMN_NAMES)
def test_security_code_track_and_pin_columns_are_refused_under_their_common_names(name: str,
                                                                                  refused: bool) -> None:
    """Whatever its case, spaces, _, - or camelCase, a security-code, PIN or track-data column refuses the
    file as sensitive (SensitiveColumn); expiry, service date, card type and the like pass."""
    if refused:
        with pytest.raises(SensitiveColumn, match="Remove the column and send the file again"):
            parse_header([*STANDARD, name])
    else:
        assert parse_header([*STANDARD, name]).count == len(STANDARD) + 1


def test_there_are_at_least_thirty_names_of_each_kind() -> None:
    """The table above covers at least 30 refused and 30 allowed names."""
    refused = sum(SENSITIVE_COLUMN_NAMES.values())
    assert refused >= 30
    assert len(SENSITIVE_COLUMN_NAMES) - refused >= 30


@pytest.mark.parametrize(("separator", "says"), [(";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")])
def test_a_header_in_one_column_says_what_the_file_seems_separated_by(separator: str, says: str) -> None:
    """A header that is one field holding ; or a tab or | is reported as separated by it, not as
    lacking every column."""
    with pytest.raises(HeaderInvalid) as caught:
        parse_header([separator.join(STANDARD)])
    message = str(caught.value)
    assert f"looks separated by {says}" in message
    assert "Export it as comma-separated CSV" in message
    assert "lacks" not in message


def test_a_header_of_many_columns_is_read_in_one_pass() -> None:
    """Thirty thousand extra columns map, and one repeated among them is found (counted in one pass; the
    file reader refuses such a header before it gets here, this keeps the rule linear on its own)."""
    names = [*STANDARD, *(f"extra_{n}" for n in range(30_000))]
    assert parse_header(names).count == len(names)
    with pytest.raises(HeaderInvalid, match="'extra_29999' appears twice"):
        parse_header([*names, "EXTRA_29999"])


# --- parse_row ----------------------------------------------------------------------------------


def test_good_row_parses_to_a_row() -> None:
    """A row whose every field is good becomes a Row with typed values."""
    columns = parse_header(STANDARD)
    assert parse_row(fields(), columns, 7) == Row(
        7, "T1", ALICE_CARD, "MID-MCD-0001", "McDonald's", Decimal("12.50"), "USD", date(2026, 11, 23),
        "purchase", None)


def test_row_fields_are_trimmed_and_type_is_case_insensitive() -> None:
    """Spaces around text fields are dropped and the type may be written in any case."""
    columns = parse_header(STANDARD)
    row = parse_row(fields(transaction_id=" R1 ", card_number=f" {ALICE_CARD} ", merchant_id=" MID ",
                           merchant_name=" Joe ", currency=" USD ", transaction_date=" 2026-11-23 ",
                           type=" Refund ", original_transaction_id=" T1 "), columns, 2)
    assert isinstance(row, Row)
    assert (row.transaction_id, row.card_number, row.merchant_id, row.merchant_name, row.currency,
            row.day, row.kind, row.original_id) == ("R1", ALICE_CARD, "MID", "Joe", "USD", date(2026, 11, 23),
                                                    "refund", "T1")


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ({"amount": "0.01"}, Decimal("0.01")),
        ({"amount": "5"}, Decimal("5")),
        ({"amount": "999999999999.99"}, Decimal("999999999999.99")),
        ({"card_number": "4" * 13}, Decimal("12.50")),
        ({"card_number": "4" * 19}, Decimal("12.50")),
        ({"transaction_id": "T" * 64}, Decimal("12.50")),
        ({"transaction_id": "Tx 1 é"}, Decimal("12.50")),
        ({"type": "refund", "original_transaction_id": "T0"}, Decimal("12.50")),
    ],
)
def test_rows_at_the_edges_of_each_rule_are_accepted(values: dict[str, str], ok: Decimal) -> None:
    """Values just inside each rule (one cent, 13 and 19 digits, 64 characters) are accepted."""
    row = parse_row(fields(**values), parse_header(STANDARD), 2)
    assert isinstance(row, Row)
    assert row.amount == ok


@pytest.mark.parametrize(("amount", "expected"), [("-21.00", Decimal("21.00")), ("-0.01", Decimal("0.01")),
                                                ("21.00", Decimal("21.00")), ("-5", Decimal("5"))])
def test_a_refund_may_carry_either_sign_and_keeps_the_amount_refunded(amount: str, expected: Decimal) -> None:
    """A refund of -21.00 or 21.00 is the same refund: the row keeps the positive amount refunded."""
    row = parse_row(fields(amount=amount, type="refund", original_transaction_id="T0"),
                    parse_header(STANDARD), 2)
    assert isinstance(row, Row)
    assert (row.kind, row.amount) == ("refund", expected)


@pytest.mark.parametrize(("values", "reason"), [
    ({"amount": "-21.00"}, "amount is negative; purchases must be positive (refunds may carry either "
                           "sign) (got '-21.00')"),
    ({"amount": "-0.00", "type": "refund"}, "must be greater than 0"),
    ({"amount": "--5.00", "type": "refund"}, "amount is negative; purchases must be positive (refunds may "
                                             "carry either sign) (got '--5.00')"),
    ({"amount": "-$5.00", "type": "refund"},
     "amount has a currency symbol or code; put the currency in its own column (got '-$5.00')"),
    ({"amount": "-1,234.50", "type": "refund"},
     "amount has a thousands separator or decimal comma; write 1234.50 (got '-1,234.50')"),
], ids=["negative-purchase", "negative-zero-refund", "double-minus", "minus-symbol", "minus-separator"])
def test_a_negative_purchase_and_badly_signed_refunds_are_rejected(values: dict[str, str],
                                                                   reason: str) -> None:
    """A negative purchase is rejected (purchases must be positive); a refund's minus excuses nothing else."""
    assert parse_row(fields(**values), parse_header(STANDARD), 5) == Reject(5, "amount", reason, "T1")


REJECTIONS = [
    # (replaced values, column, reason)
    ({"transaction_id": ""}, "transaction_id", "must be 1-64 printable characters"),
    ({"transaction_id": "   "}, "transaction_id", "must be 1-64 printable characters"),
    ({"transaction_id": "T" * 65}, "transaction_id", "must be 1-64 printable characters"),
    ({"transaction_id": "T\x001"}, "transaction_id", "must be 1-64 printable characters"),
    ({"transaction_id": "T\x1b1"}, "transaction_id", "must be 1-64 printable characters"),
    ({"transaction_id": "T\x7f1"}, "transaction_id", "must be 1-64 printable characters"),
    ({"card_number": "37828224631000A"}, "card_number", "must be 13 to 19 digits"),
    ({"card_number": "3782 822463 10005"}, "card_number", "must be 13 to 19 digits"),
    ({"card_number": "3" * 12}, "card_number", "must be 13 to 19 digits"),
    ({"card_number": "3" * 20}, "card_number", "must be 13 to 19 digits"),
    ({"card_number": "٣" * 15}, "card_number", "must be 13 to 19 digits"),
    ({"card_number": ""}, "card_number", "must be 13 to 19 digits"),
    ({"merchant_id": ""}, "merchant_id", "must be 1-64 printable characters"),
    ({"merchant_id": "M" * 65}, "merchant_id", "must be 1-64 printable characters"),
    ({"amount": "1,234.50"}, "amount",
     "amount has a thousands separator or decimal comma; write 1234.50 (got '1,234.50')"),
    ({"amount": "$12"}, "amount",
     "amount has a currency symbol or code; put the currency in its own column (got '$12')"),
    ({"amount": "(12.00)"}, "amount",
     "amount is negative; purchases must be positive (refunds may carry either sign) (got '(12.00)')"),
    ({"amount": "-5.00"}, "amount",
     "amount is negative; purchases must be positive (refunds may carry either sign) (got '-5.00')"),
    ({"amount": "1e3"}, "amount", "amount uses an exponent; write it out, e.g. 1000.00 (got '1e3')"),
    ({"amount": "NaN"}, "amount", "amount is not a number (got 'NaN')"),
    ({"amount": ""}, "amount", "amount is empty (got '')"),
    ({"amount": " 12.00"}, "amount", "amount has spaces around it (got ' 12.00')"),
    ({"amount": "12.345"}, "amount", "amount has more than two decimal places (got '12.345')"),
    ({"amount": "0"}, "amount", "must be greater than 0"),
    ({"amount": "0.00"}, "amount", "must be greater than 0"),
    ({"currency": "usd"}, "currency", "must be a three-letter code such as USD (got 'usd')"),
    ({"currency": "US"}, "currency", "must be a three-letter code such as USD (got 'US')"),
    ({"currency": "$"}, "currency", "must be a three-letter code such as USD (got '$')"),
    ({"transaction_date": "2026-02-30"}, "transaction_date",
     "must be a real date like 2026-11-23 (got '2026-02-30')"),
    ({"transaction_date": "23/11/2026"}, "transaction_date",
     "must be a real date like 2026-11-23 (got '23/11/2026')"),
    ({"transaction_date": "2026-11-23T10:00"}, "transaction_date",
     "must be a real date like 2026-11-23 (got '2026-11-23T10:00')"),
    ({"transaction_date": "20261123"}, "transaction_date",
     "must be a real date like 2026-11-23 (got '20261123')"),
    ({"transaction_date": ""}, "transaction_date", "must be a real date like 2026-11-23 (got '')"),
    ({"type": "sale"}, "type", "must be purchase or refund (got 'sale')"),
    ({"type": ""}, "type", "must be purchase or refund (got '')"),
    ({"original_transaction_id": "T0"}, "original_transaction_id",
     "only refunds refer to an original transaction"),
    # Too many digits is said plainly; numbers up to 12 digits are quoted as they are, longer runs
    # (a card number, even a mistyped one) keep only their last four digits.
    ({"amount": "12345678901234567.00"}, "amount", "amount has 17 digits before the point; at most 12"),
    ({"amount": "1234567890123"}, "amount", "amount has 13 digits before the point; at most 12"),
    ({"currency": "123456789012"}, "currency",
     "must be a three-letter code such as USD (got '123456789012')"),
    ({"currency": "1234567890123"}, "currency",
     "must be a three-letter code such as USD (got '*********0123')"),
    ({"transaction_date": ALICE_CARD}, "transaction_date",
     "must be a real date like 2026-11-23 (got '***********0005')"),
    ({"type": "3782 822463 10006"}, "type", "must be purchase or refund (got '**** ****** *0006')"),
]


@pytest.mark.parametrize(("values", "column", "reason"), REJECTIONS)
def test_bad_field_rejects_the_row_with_column_and_reason(values: dict[str, str], column: str,
                                                           reason: str) -> None:
    """Each bad value rejects its row naming the column, why and the transaction id, never the card."""
    rejected = parse_row(fields(**values), parse_header(STANDARD), 12)
    assert rejected == Reject(12, column, reason, "" if column == "transaction_id" else "T1")
    assert ALICE_CARD not in rejected.reason
    assert find_card_numbers(rejected.reason) == []


@pytest.mark.parametrize(("written", "shown"), [
    ("T-77", "T-77"), ("1234567890123456", "1234567890123456"),  # not a card number: as it is
    ("4111111111111111", "************1111"), (ALICE_CARD, "***********0005"),
])
def test_a_reject_carries_the_transaction_id_masked_only_when_it_is_a_card_number(written: str,
                                                                                  shown: str) -> None:
    """The reject names the row's transaction id; a Luhn-valid 13-19 digit id keeps only its last 4."""
    rejected = parse_row(fields(transaction_id=written, amount="1e3"), parse_header(STANDARD), 5)
    assert isinstance(rejected, Reject)
    assert rejected.transaction_id == shown


def test_a_row_with_a_field_too_many_names_its_id_only_when_the_id_comes_first() -> None:
    """With the id in the first column it is sure to be the row's; elsewhere a shifted field could
    stand in its place, so none is given."""
    row = [*fields(), "extra"]
    assert parse_row(row, parse_header(STANDARD), 3).transaction_id == "T1"  # type: ignore[union-attr]
    names = STANDARD[::-1]
    rejected = parse_row([*fields(names), "extra"], parse_header(names), 3)
    assert rejected == Reject(3, "", "has 10 fields where the header has 9", "")


@pytest.mark.parametrize("count", [8, 10])
def test_row_with_wrong_field_count_is_rejected(count: int) -> None:
    """A row with more or fewer fields than the header is rejected before any field is read."""
    row = [*fields(), "extra"][:count]
    reason = f"has {count} fields where the header has 9"
    assert parse_row(row, parse_header(STANDARD), 3) == Reject(3, "", reason, "T1")


@pytest.mark.parametrize("column", ["amount", "currency", "transaction_date", "type"])
@pytest.mark.parametrize(
    "card", [ALICE_CARD, "4111111111111111", "3782 822463 10005", "3782-822463-10005", f"card {ALICE_CARD}"])
def test_reason_never_quotes_a_card_number_put_in_another_column(column: str, card: str) -> None:
    """A card number in a column whose bad value is quoted is masked in the reason."""
    rejected = parse_row(fields(**{column: card}), parse_header(STANDARD), 4)
    assert isinstance(rejected, Reject)
    assert rejected.column == column
    digits = card.replace(" ", "").replace("-", "").removeprefix("card")
    assert digits not in rejected.reason
    assert find_card_numbers(rejected.reason) == []


def test_missing_original_column_means_no_original() -> None:
    """Without an original_transaction_id column a refund has no reference."""
    names = list(REQUIRED_COLUMNS)
    row = parse_row(fields(names, type="refund"), parse_header(names), 2)
    assert isinstance(row, Row)
    assert (row.kind, row.original_id) == ("refund", None)


# --- LineParser: the fast path agrees with parse_row --------------------------------------------

ORDERS = {
    "standard": STANDARD,
    "reversed": STANDARD[::-1],
    "no original column": list(REQUIRED_COLUMNS),
    "extra columns": ["terminal", *REQUIRED_COLUMNS[4:], "mcc", *REQUIRED_COLUMNS[:4],
                      "original_transaction_id"],
}
_ODD = ["\xa0", "\u3000", "\u2028", "\x85", "\t", "\x00", "\x7f", "\x1f", " ", "é", "#", "=", "-", "'"]
_TEXT = st.text(alphabet=st.sampled_from([*"AZaz09_.", *_ODD]), max_size=6)
IDS = st.one_of(
    st.sampled_from(["T1", "T-000017", "", " T1", "T1 ", "\xa0T1", "T1\u3000", "\x85T1", "T\t1", "=1+1",
                     "T" * 64, "T" * 65, "é" * 64]),
    _TEXT,
)
CARDS = st.one_of(
    st.sampled_from([ALICE_CARD, "4111111111111111", "4" * 13, "4" * 19, "4" * 12, "4" * 20, f" {ALICE_CARD}",
                     "37828224631000A", "", "٣" * 15, "3782 822463 10005"]),
    st.from_regex(r"[0-9]{11,21}", fullmatch=True),
)
NAMES = st.one_of(st.sampled_from(["McDonald's", "", " Joe ", "=HYPERLINK()", "Café"]), _TEXT)
AMOUNTS = st.one_of(
    st.sampled_from(["12.00", "12.5", "5", "0.01", "0.1", "0.10", "0.05", "0", "0.0", "0.00", "00.10", "01",
                     "12.", ".5", "12.345", "1,234.50", "$12", "(12.00)", "1e3", "NaN", "", " 12.00",
                     "12.00 ", "-5.00", "+5.00", "999999999999.99", "1000000000000", "١٢", "12.0\xa0"]),
    st.from_regex(r"[0-9]{1,13}(\.[0-9]{0,3})?", fullmatch=True),
)
CURRENCIES = st.sampled_from(["USD", "EUR", "usd", "US", "USDX", " USD", "USD ", "ÀBC", ""])
DATES = st.one_of(
    st.sampled_from(["2026-11-23", "2026-02-30", "2026-02-28", "2024-02-29", "2025-02-29", " 2026-11-23",
                     "23/11/2026", "2026-11-23T10:00", "20261123", "2026-1-23", "٢٠٢٦-١١-٢٣", ""]),
    st.dates().map(date.isoformat),
)
TYPES = st.sampled_from(["purchase", "refund", "Purchase", "REFUND", "sale", "", " refund", "refund\xa0"])
ORIGINALS = st.one_of(st.sampled_from(["", "", "T0", " T0", "\xa0", "\xa0T0", "T" * 64, "T" * 65]), _TEXT)
FIELD_VALUES = {
    "transaction_id": IDS, "card_number": CARDS, "merchant_id": IDS, "merchant_name": NAMES,
    "amount": AMOUNTS, "currency": CURRENCIES, "transaction_date": DATES, "type": TYPES,
    "original_transaction_id": ORIGINALS,
}


@st.composite
def lines(draw: st.DrawFn, names: list[str]) -> str:
    """An unquoted line for the header ``names``, each field drawn from good and bad values."""
    values = [draw(FIELD_VALUES.get(name, _TEXT)) for name in names]
    return ",".join(values)


def assert_fast_path_agrees(columns: Columns, line: str) -> None:
    """Whenever LineParser accepts the line, parse_row accepts it with the same values."""
    values = LineParser(columns).fields(line)
    if values is None:
        return
    row = parse_row(line.split(","), columns, 1)
    assert isinstance(row, Row), (line, values, row)
    tid, card, mid, amount, currency, day, kind, original = values
    assert (tid, card, mid, currency, day, kind, original or None) == (
        row.transaction_id, row.card_number, row.merchant_id, row.currency, row.day.isoformat(), row.kind,
        row.original_id), line
    assert Decimal(amount) == row.amount


@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
@settings(max_examples=examples(400), derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_accepts_only_lines_parse_row_accepts_with_same_values(order: list[str],
                                                                         data: st.DataObject) -> None:
    """Every line LineParser vouches for, parse_row accepts with identical values, in any column order."""
    line = data.draw(lines(order))
    assert_fast_path_agrees(parse_header(order), line)


@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
@settings(max_examples=examples(200), derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_negative_refunds_go_to_the_slow_path_and_equal_their_positive_form(order: list[str],
                                                                           data: st.DataObject) -> None:
    """The fast path leaves every negative refund to parse_row, which reads it as the same refund written
    without the minus (the same values, the same rejection)."""
    columns = parse_header(order)
    values = [data.draw(FIELD_VALUES.get(name, _TEXT)) for name in order]
    values[columns.type] = data.draw(st.sampled_from(["refund", "Refund", " refund"]))
    positive = values[columns.amount].lstrip("-")
    values[columns.amount] = "-" + positive
    negative_line = ",".join(values)
    values[columns.amount] = positive
    assert LineParser(columns).fields(negative_line) is None
    negative, plain = (parse_row(line.split(","), columns, 1) for line in (negative_line, ",".join(values)))
    if isinstance(plain, Row):
        assert negative == plain
    else:
        assert isinstance(negative, Reject)
        assert negative.column == plain.column


@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
def test_fast_path_accepts_a_good_line(order: list[str]) -> None:
    """A good unquoted line goes through the fast path with its values in the fixed order."""
    columns = parse_header(order)
    line = ",".join(fields(order, type="refund", original_transaction_id="T0"))
    expected_original = "T0" if "original_transaction_id" in order else ""
    assert LineParser(columns).fields(line) == (
        "T1", ALICE_CARD, "MID-MCD-0001", "12.50", "USD", "2026-11-23", "refund", expected_original)
    assert_fast_path_agrees(columns, line)


@pytest.mark.parametrize(
    "values",
    [{"transaction_id": " T1"}, {"amount": "0.00"}, {"amount": "12.345"}, {"transaction_date": "2026-02-30"},
     {"type": "Purchase"}, {"original_transaction_id": "T0"}, {"currency": "usd"}, {"card_number": "4" * 12}],
)
def test_fast_path_leaves_doubtful_lines_to_parse_row(values: dict[str, str]) -> None:
    """Lines with spaces, odd case or bad values are not vouched for by the fast path."""
    line = ",".join(fields(**values))
    assert LineParser(parse_header(STANDARD)).fields(line) is None


@pytest.mark.parametrize("space", ["\xa0", "\u3000", "\u2028", "\x85", "\u2003"])
@pytest.mark.parametrize("column", ["transaction_id", "merchant_id", "original_transaction_id"])
def test_fast_path_agrees_on_ids_with_unicode_spaces(space: str, column: str) -> None:
    """An id padded with a Unicode space gets the same value (or a rejection) from both paths."""
    values = {column: f"{space}X1", "type": "refund"}
    assert_fast_path_agrees(parse_header(STANDARD), ",".join(fields(**values)))


def test_fast_path_dates_are_remembered_but_bad_ones_still_refused() -> None:
    """Repeated dates give the same answer from the parser's cache, good or bad."""
    parser = LineParser(parse_header(STANDARD))
    good = ",".join(fields())
    bad = ",".join(fields(transaction_date="2026-02-30"))
    assert [parser.fields(x) is None for x in (good, bad, good, bad)] == [False, True, False, True]
    assert parser.day("2026-11-23") == date(2026, 11, 23)
    assert parser.day("2026-13-01") is None
