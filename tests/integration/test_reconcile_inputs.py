"""Awkward and bad transaction files, reconciled for real: refused whole, or rejected row by row.

Every file goes through the real service (``ledger.reconcile``) on an in-memory SQLite ledger.
Alice (card ...0005) is enrolled in McDonald's ($5 on $5+, once) and Zappos ($10 on $75+),
Bob (card ...8431) in FedEx ($5 on $20+); Carol (card ...1000) is linked but not enrolled.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from bot.domain.cards import find_card_numbers
from bot.domain.reconcile import credit_id
from bot.errors import FileRejected
from bot.services import reconciliation, staging
from tests.conftest import HEADER
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, credits_in_db, exported, tx_row

DAY = "2026-11-21"
MCD, ZAP, FDX = "MID-MCD-0001", "MID-ZAP-0001", "MID-FDX-0001"
CARDS = (ALICE_CARD, BOB_CARD, CAROL_CARD)
CREDITS_HEADER = "credit_id,transaction_id,campaign_id,amount,currency,last4,kind,reverses_credit_id"


def rejects_of(summary) -> list[tuple[int, str, str]]:
    """The rejects file as (line, column, reason), in line order."""
    lines = exported(summary.exports["rejects.csv"])
    return sorted((int(r["line"]), r["column"], r["reason"]) for r in lines)


def credited_ids(summary) -> list[str]:
    """The transaction ids in the credits export, in file order."""
    return [r["transaction_id"] for r in exported(summary.exports["credits.csv"])]


def count(ledger, table: str) -> int:
    with ledger.uow(readonly=True) as tx:
        return tx.ledger._conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()


def assert_rows_add_up(summary, data_rows: int) -> None:
    """accepted + rejected == rows == the data rows written, and the rejects file holds every reject."""
    assert summary.accepted + summary.rejected == summary.rows == data_rows
    assert len(exported(summary.exports["rejects.csv"])) == summary.rejected


def export_texts(ledger) -> dict[str, str]:
    """Every file in the exports folder (hidden temporary files too), by name."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(ledger.exports.glob("*")) if p.is_file()}


# --- BOM and line endings -------------------------------------------------------------------------

DAY_ROWS = (tx_row("T1", ALICE_CARD, MCD, "12.50"), tx_row("T2", BOB_CARD, FDX, "25.00"),
            tx_row("T3", ALICE_CARD, ZAP, "$80"))
DAY_CREDITS = (f"{CREDITS_HEADER}\r\n"
               f"{credit_id('credit', 'amex-mcdonalds', 'T1')},T1,amex-mcdonalds,5.00,USD,0005,credit,\r\n"
               f"{credit_id('credit', 'amex-fedex', 'T2')},T2,amex-fedex,5.00,USD,8431,credit,\r\n").encode()


@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_bom_and_line_endings_change_nothing_in_the_exports(ledger, make_csv, newline, bom):
    """With or without a BOM, LF, CRLF or CR: the header is recognised and the exports are byte-identical."""
    path = make_csv("day.csv", *DAY_ROWS, newline=newline, bom=bom)

    summary = ledger.reconcile(path)

    assert summary.status == "reconciled"
    assert_rows_add_up(summary, 3)
    assert Path(summary.exports["credits.csv"]).read_bytes() == DAY_CREDITS
    [(line, column, reason)] = rejects_of(summary)
    assert (line, column) == (4, "amount")
    assert "currency symbol" in reason


# --- Quoted fields spanning lines -----------------------------------------------------------------

def test_a_quoted_merchant_name_may_span_lines_and_later_line_numbers_stay_right(ledger, make_csv):
    """A newline inside a quoted merchant_name is one row; the next row's reject names its real line 4."""
    path = make_csv("day.csv",
                    tx_row("T1", name='"McDonald\'s\nTimes Square, NY"'),  # lines 2-3
                    tx_row("T2", BOB_CARD, FDX, "25,00"),  # line 4: a decimal comma splits the row
                    tx_row("T3", BOB_CARD, FDX, "(25.00)"))  # line 5

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 3)
    assert credited_ids(summary) == ["T1"]
    assert [(line, column) for line, column, _ in rejects_of(summary)] == [(4, ""), (5, "amount")]
    assert "10 fields where the header has 9" in rejects_of(summary)[0][2]


# --- Amounts --------------------------------------------------------------------------------------

BAD_AMOUNTS = [
    # (field as written in the file, what the reason must say)
    ('"1,234.50"', "thousands separator"),
    ("$12", "currency symbol"),
    ("(12.00)", "negative"),
    ("1e3", "exponent"),
    ("NaN", "not a number"),
    ("", "empty"),
    ("-5.00", "negative"),
    ("12.505", "more than two decimal places"),
    ("12 USD", "currency symbol or code"),
    ("0.00", "greater than 0"),
]


@pytest.mark.parametrize(("amount", "says"), BAD_AMOUNTS)
def test_an_amount_that_is_not_a_plain_decimal_is_rejected_and_the_good_rows_still_count(
        ledger, make_csv, amount, says):
    """A bad amount is rejected in column "amount" with a reason saying what is wrong; good rows are paid."""
    path = make_csv("day.csv",
                    tx_row("T1", BOB_CARD, FDX, "25.00"),
                    tx_row("T2", ALICE_CARD, MCD, amount),
                    tx_row("T3", ALICE_CARD, ZAP, "80.00"))

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 3)
    assert credited_ids(summary) == ["T1", "T3"]
    [(line, column, reason)] = rejects_of(summary)
    assert (line, column) == (3, "amount")
    assert says in reason


def test_each_bad_amount_gets_its_own_reason(ledger, make_csv):
    """Bad amounts in one file are each rejected on their own line, no two with the same reason."""
    path = make_csv("day.csv", *(tx_row(f"T{n}", amount=amount) for n, (amount, _) in enumerate(BAD_AMOUNTS)))

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, len(BAD_AMOUNTS))
    rejects = rejects_of(summary)
    assert [(line, column) for line, column, _ in rejects] == [
        (n + 2, "amount") for n in range(len(BAD_AMOUNTS))]
    assert len({reason for _, _, reason in rejects}) == len(BAD_AMOUNTS)
    assert credited_ids(summary) == []


@pytest.mark.parametrize("refund", ["-12.50", "12.50"], ids=["negative", "positive"])
@pytest.mark.parametrize("original", ["T1", ""], ids=["by-reference", "by-match"])
def test_a_refund_with_either_sign_claws_back_the_held_credit(ledger, make_csv, refund, original):
    """A refund sent as -12.50 (or 12.50) with type=refund takes back the $5 credit of its purchase."""
    path = make_csv("day.csv", tx_row("T1", ALICE_CARD, MCD, "12.50"),
                    tx_row("R1", ALICE_CARD, MCD, refund, kind="refund", original=original, day="2026-11-22"))

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 2)
    assert summary.rejected == 0
    assert credits_in_db(ledger.engine) == [("T1", "amex-mcdonalds", "credit", 500),
                                            ("R1", "amex-mcdonalds", "clawback", -500)]


def test_a_negative_purchase_is_rejected_saying_purchases_must_be_positive(ledger, make_csv):
    """A purchase of -12.50 is rejected, and the reason says refunds may carry either sign."""
    path = make_csv("day.csv", tx_row("T1", ALICE_CARD, MCD, "-12.50"), tx_row("T2", BOB_CARD, FDX, "25.00"))

    summary = ledger.reconcile(path)

    assert credited_ids(summary) == ["T2"]
    [(line, column, reason)] = rejects_of(summary)
    assert (line, column) == (2, "amount")
    assert "purchases must be positive" in reason
    assert "refunds may carry either sign" in reason


# --- Other fields ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "column", "says"), [
    ({"kind": "sale"}, "type", "must be purchase or refund (got 'sale')"),
    ({"day": "2026-02-30"}, "transaction_date", "must be a real date like 2026-11-23 (got '2026-02-30')"),
    ({"day": "21/11/2026"}, "transaction_date", "must be a real date like 2026-11-23 (got '21/11/2026')"),
    ({"currency": "usd"}, "currency", "three-letter code"),
    ({"original": "T1"}, "original_transaction_id", "only refunds"),
], ids=["unknown-type", "no-such-day", "day-first-date", "lower-case-currency", "purchase-with-original"])
def test_a_bad_field_is_rejected_in_its_column(ledger, make_csv, fields, column, says):
    """An unknown type, an impossible or day-first date and the like reject the row, naming column and why."""
    path = make_csv("day.csv",
                    tx_row("T1", BOB_CARD, FDX, "25.00"),
                    tx_row("T2", ALICE_CARD, MCD, "12.50", **fields))

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 2)
    assert credited_ids(summary) == ["T1"]
    [(line, rejected_column, reason)] = rejects_of(summary)
    assert (line, rejected_column) == (3, column)
    assert says in reason


# --- Repeated transaction ids ---------------------------------------------------------------------

@pytest.mark.parametrize(("batch_rows", "batches"), [(reconciliation.BATCH_ROWS, [3]), (1, [1, 1, 1])],
                         ids=["one-batch", "batch-per-row"])
def test_a_transaction_id_repeated_in_one_file_counts_once(ledger, make_csv, monkeypatch, batch_rows,
                                                           batches):
    """The second occurrence of an id in one file is rejected as a duplicate of line 2; the first is paid,
    whether the file is staged in one batch or one batch per row (the repeat then in a later batch)."""
    staged: list[int] = []
    real_stage = staging.Stager.stage

    def counted_stage(self, batch):
        staged.append(batch.rows)
        real_stage(self, batch)

    monkeypatch.setattr(staging.Stager, "stage", counted_stage)
    deps = dataclasses.replace(ledger.deps, batch_rows=batch_rows)
    path = make_csv("day.csv",
                    tx_row("T1", ALICE_CARD, ZAP, "80.00"),
                    tx_row("T2", BOB_CARD, FDX, "25.00"),
                    tx_row("T1", ALICE_CARD, ZAP, "80.00"))

    summary = reconciliation.reconcile_file(deps, ledger.catalog, path)

    assert staged == batches  # rows per batch really staged
    assert_rows_add_up(summary, 3)
    assert credited_ids(summary) == ["T1", "T2"]
    [(line, column, reason)] = rejects_of(summary)
    assert (line, column) == (4, "transaction_id")
    assert "duplicate" in reason
    assert "line 2" in reason
    assert credits_in_db(ledger.engine) == [("T1", "amex-zappos", "credit", 1000),
                                            ("T2", "amex-fedex", "credit", 500)]


def test_the_rejects_file_lists_rejected_rows_in_line_order(ledger, make_csv):
    """A duplicate rejected while deciding and rows rejected while reading appear in rejects.csv by line."""
    path = make_csv("day.csv", tx_row("T1"), tx_row("T1"), tx_row("T2", amount="$12"),
                    tx_row("T3", amount="1,0"))

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 4)
    lines = [int(r["line"]) for r in exported(summary.exports["rejects.csv"])]
    assert lines == [3, 4, 5]


def test_a_transaction_credited_by_an_earlier_file_is_not_credited_again(ledger, make_csv):
    """A second, different file repeating a credited id issues no new credit and says "already reconciled"."""
    first = ledger.reconcile(make_csv("day1.csv", tx_row("T1", ALICE_CARD, ZAP, "80.00")))
    second_path = make_csv("day2.csv", tx_row("T1", ALICE_CARD, ZAP, "80.00"),
                           tx_row("T2", BOB_CARD, FDX, "25.00"))

    second = ledger.reconcile(second_path)

    assert first.sha256 != second.sha256
    assert second.status == "reconciled"
    assert_rows_add_up(second, 2)
    assert second.rejected == 0
    assert second.outcomes["already reconciled"] == 1
    assert credited_ids(second) == ["T2"]
    assert credits_in_db(ledger.engine) == [("T1", "amex-zappos", "credit", 1000),
                                            ("T2", "amex-fedex", "credit", 500)]


def test_the_same_file_reconciled_twice_issues_nothing_new(ledger, make_csv):
    """The same bytes again: status "already reconciled", no new credits, and the exports are still there."""
    path = make_csv("day.csv", tx_row("T1"), tx_row("T2", BOB_CARD, FDX, "25.00"), tx_row("T3", amount="NaN"))
    first = ledger.reconcile(path)
    credits_before = credits_in_db(ledger.engine)
    files_before = {name: Path(p).read_bytes() for name, p in first.exports.items()}

    again = ledger.reconcile(path)

    assert again.status == "already reconciled"
    assert (again.rows, again.rejected, again.campaigns) == (first.rows, first.rejected, first.campaigns)
    assert credits_in_db(ledger.engine) == credits_before
    assert count(ledger, "transaction_files") == 1
    assert again.exports == first.exports
    assert {name: Path(p).read_bytes() for name, p in again.exports.items()} == files_before


# --- Cut-short and badly quoted lines -------------------------------------------------------------

@pytest.mark.parametrize("last", [
    tx_row("T3", ALICE_CARD, ZAP, "80.00"),
    f"T3,{ALICE_CARD},{ZAP},Shop,80.0",
    f"T3,{ALICE_CARD},{ZAP},\"Zappos, Las Ve",
    f'"T3","{ALICE_CARD}","{ZAP}","Zappos","80.00","USD","{DAY}","purchase",""',
], ids=["whole-row-no-newline", "cut-mid-amount", "cut-inside-quotes", "quoted-row-no-newline"])
def test_a_last_line_without_a_line_ending_is_rejected_and_never_credited(ledger, make_csv, last):
    """A last line without a line ending is rejected as cut short; the rows before it are credited."""
    path = make_csv("day.csv", tx_row("T1"), tx_row("T2", BOB_CARD, FDX, "25.00"), last, end="")

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 3)
    assert credited_ids(summary) == ["T1", "T2"]
    [(line, column, reason)] = rejects_of(summary)
    assert (line, column) == (4, "")
    assert "no line ending" in reason
    assert "cut short" in reason


def test_an_unterminated_quote_at_the_end_rejects_that_row(ledger, make_csv):
    """A quote opened on the last line and never closed rejects that row as unreadable; others are paid."""
    path = make_csv("day.csv", tx_row("T1"), tx_row("T2", BOB_CARD, FDX, "25.00"),
                    tx_row("T3", ALICE_CARD, ZAP, "80.00", name='"Zappos'))

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 3)
    assert credited_ids(summary) == ["T1", "T2"]
    [(line, column, reason)] = rejects_of(summary)
    assert (line, column) == (4, "")
    assert "cannot be read as CSV" in reason


# --- Whole-file refusals --------------------------------------------------------------------------

@pytest.mark.parametrize(("file", "says"), [
    ({"rows": [tx_row("T1", name="Café")], "encoding": "cp1252"}, ["line 2", "not UTF-8"]),
    ({"rows": [tx_row("T1", name="Café")], "encoding": "utf-16"}, ["line 1", "not UTF-8"]),
    ({"rows": [f"T1,{ALICE_CARD},{MCD},Shop,12.50,{DAY}"],
      "header": "transaction_id,card_number,merchant_id,merchant_name,amount,transaction_date"},
     ["line 1", "lacks currency, type"]),
    ({"rows": [tx_row("T1") + ",123"], "header": HEADER + ",cvv"}, ["'cvv' column", "must never be sent"]),
    ({"rows": [tx_row("T1") + ",%B3782"], "header": HEADER + ",Track 2 Data"}, ["'track 2 data' column"]),
    ({"rows": [tx_row("T1") + ",12.50"], "header": HEADER + ",Amount"}, ["'amount' appears twice"]),
], ids=["cp1252", "utf-16", "missing-columns", "cvv-column", "track-data-column", "repeated-column"])
def test_a_file_that_cannot_be_trusted_is_refused_whole_and_nothing_is_written(ledger, make_csv, file, says):
    """Another encoding, missing columns or a CVV/track column: FileRejected, and nothing is recorded."""
    path = make_csv("day.csv", *file["rows"], header=file.get("header", HEADER),
                    encoding=file.get("encoding", "utf-8"))

    with pytest.raises(FileRejected) as refused:
        ledger.reconcile(path)

    message = str(refused.value)
    assert message.startswith("day.csv: ")
    for words in says:
        assert words in message
    assert count(ledger, "transaction_files") == count(ledger, "credits") == count(ledger, "rejects") == 0
    assert export_texts(ledger) == {}


# --- CSV injection --------------------------------------------------------------------------------

FORMULA_ROWS = (
    tx_row("F1", ALICE_CARD, MCD, "12.50", name="=cmd|' /C calc'!A0"),
    tx_row('"=HYPERLINK(""http://x"")"', ALICE_CARD, ZAP, "80.00", name="@SUM(A1)"),
    tx_row("@SUM(A1)", BOB_CARD, FDX, "25.00", name="+1+2"),
    tx_row("-R1", BOB_CARD, FDX, "10.00", kind="refund", original="@SUM(A1)"),  # leaves 15.00 < 20.00
)


def test_formula_looking_values_reach_the_credits_export_as_text(ledger, make_csv):
    """Ids starting with = @ - are prefixed with ' in the credits export, while a clawback stays -5.00."""
    path = make_csv("day.csv", *FORMULA_ROWS)

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 4)
    assert summary.rejected == 0
    lines = exported(summary.exports["credits.csv"])
    # Decided by date, then id: the refund "-R1" sorts first, waits for its purchase "@SUM(A1)",
    # and is applied right after it.
    assert [(r["transaction_id"], r["campaign_id"], r["amount"], r["kind"]) for r in lines] == [
        ("'=HYPERLINK(\"http://x\")", "amex-zappos", "10.00", "credit"),
        ("'@SUM(A1)", "amex-fedex", "5.00", "credit"),
        ("'-R1", "amex-fedex", "-5.00", "clawback"),
        ("F1", "amex-mcdonalds", "5.00", "credit"),
    ]
    fedex_credit = credit_id("credit", "amex-fedex", "@SUM(A1)")
    assert lines[2]["reverses_credit_id"] == lines[1]["credit_id"] == fedex_credit
    raw = Path(summary.exports["credits.csv"]).read_text(encoding="utf-8")
    assert ",-5.00,USD,8431,clawback," in raw  # a plain number, unquoted and unprefixed
    for name, text in export_texts(ledger).items():
        if name.endswith(".csv"):
            cells = [cell for line in csv.reader(text.splitlines()) for cell in line]
            assert [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and c != "-5.00")] == []


def test_exports_rebuilt_from_the_ledger_are_the_same_bytes(ledger, make_csv):
    """When the exports were lost, reconciling the same file again rebuilds them identically."""
    path = make_csv("day.csv", *FORMULA_ROWS, tx_row("T9", amount="1e3"))
    first = ledger.reconcile(path)
    written = {name: Path(p).read_bytes() for name, p in first.exports.items() if name.endswith(".csv")}
    for name in written:
        Path(first.exports[name]).unlink()

    again = ledger.reconcile(path)

    assert again.status == "already reconciled"
    assert {name: Path(again.exports[name]).read_bytes() for name in written} == written
    assert count(ledger, "credits") == 4


# --- Card numbers ---------------------------------------------------------------------------------

MISPLACED_CARD = {
    "digits": BOB_CARD,
    "spaced": "3714 496353 98431",  # as printed on the card
    "dashed": "3714-496353-98431",
}


@pytest.mark.parametrize("column", ["amount", "currency", "transaction_date", "type"])
@pytest.mark.parametrize("written", MISPLACED_CARD.values(), ids=MISPLACED_CARD.keys())
def test_a_card_number_in_the_wrong_column_is_rejected_without_being_repeated(ledger, make_csv, column,
                                                                              written):
    """A card number where an amount (or date, currency, type) belongs is rejected; rejects.csv omits it."""
    field = {"amount": "amount", "currency": "currency", "transaction_date": "day", "type": "kind"}[column]
    fields = {"amount": "25.00", field: written}
    path = make_csv("day.csv", tx_row("T1", ALICE_CARD, MCD, "12.50"), tx_row("T2", BOB_CARD, FDX, **fields))

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 2)
    assert credited_ids(summary) == ["T1"]
    [(line, rejected_column, _)] = rejects_of(summary)
    assert (line, rejected_column) == (3, column)
    text = Path(summary.exports["rejects.csv"]).read_text(encoding="utf-8")
    assert find_card_numbers(text) == []
    assert written not in text
    assert BOB_CARD not in text


def test_no_card_number_reaches_any_export(ledger, make_csv):
    """No export of runs over all the bad inputs above holds a card number, plain or with gaps."""
    rows = [
        *DAY_ROWS,
        tx_row("C1", CAROL_CARD, MCD, "12.50"),  # linked, not enrolled
        tx_row("C2", CAROL_CARD, "MID-OTHER", "9.99"),  # another merchant
        tx_row("M1", ALICE_CARD, MCD, '"McDonald\'s\nTimes Square"'),
        *(tx_row(f"A{n}", ALICE_CARD, MCD, amount) for n, (amount, _) in enumerate(BAD_AMOUNTS)),
        tx_row("K1", kind="sale"), tx_row("D1", day="2026-02-30"), tx_row("D2", day="21/11/2026"),
        tx_row("T1", ALICE_CARD, MCD, "12.50"),  # repeated id
        *(tx_row(f"P{n}", BOB_CARD, FDX, written) for n, written in enumerate(MISPLACED_CARD.values())),
        *(tx_row(f"Q{n}", BOB_CARD, FDX, "25.00", day=card)
          for n, card in enumerate(MISPLACED_CARD.values())),
        *FORMULA_ROWS,
        tx_row("X1", CAROL_CARD, ZAP, "80.00", name='"Zappos'),  # unterminated quote, then no line ending
    ]
    summaries = [ledger.reconcile(make_csv("big.csv", *rows, end="")),
                 ledger.reconcile(make_csv("again.csv", *rows[:6],
                                           tx_row("T1", ALICE_CARD, MCD, ALICE_CARD)))]

    assert [s.status for s in summaries] == ["reconciled", "reconciled"]
    texts = export_texts(ledger)
    assert len(texts) == 8  # credits, rejects, summary.txt and summary.json of each file
    leaks = {name: find_card_numbers(text) for name, text in texts.items() if find_card_numbers(text)}
    assert leaks == {}
    for name, text in texts.items():
        for card in CARDS:
            assert card not in text, f"{name} holds card ...{card[-4:]}"



# --- rejects.csv columns, and what a file too big or too empty says -------------------------------

def test_the_rejects_file_has_line_column_transaction_id_and_reason(ledger, make_csv):
    """rejects.csv lists line, column, transaction_id, reason; the id is empty when the row is unreadable,
    neutralised when it looks like a formula, and cut to its last 4 when it is a card number."""
    path = make_csv("day.csv", tx_row("T1", amount="1e3"), tx_row("=T2", amount="$5"),
                    tx_row("4111111111111111", amount="NaN"), tx_row("T1", BOB_CARD, FDX, "25.00"),
                    tx_row("T5", name='"Zappos'))

    summary = ledger.reconcile(path)

    text = Path(summary.exports["rejects.csv"]).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "line,column,transaction_id,reason"
    rows = [(r["line"], r["column"], r["transaction_id"]) for r in exported(summary.exports["rejects.csv"])]
    assert rows == [("2", "amount", "T1"), ("3", "amount", "'=T2"), ("4", "amount", "************1111"),
                    ("6", "", "")]
    assert "4111111111111111" not in text


def test_the_rejects_file_rebuilt_from_the_ledger_keeps_the_transaction_ids(ledger, make_csv):
    """Rebuilt exports (after they were lost) carry the same transaction ids, byte for byte."""
    path = make_csv("day.csv", tx_row("T1", amount="1e3"), tx_row("T1"), tx_row("T1"))
    first = ledger.reconcile(path)
    written = Path(first.exports["rejects.csv"]).read_bytes()
    Path(first.exports["rejects.csv"]).unlink()

    ledger.reconcile(path)

    assert Path(first.exports["rejects.csv"]).read_bytes() == written
    assert b"\r\n4,transaction_id,T1,duplicate transaction_id (first on line 3)" in written


def test_a_row_longer_than_the_limit_is_rejected_with_its_line_and_the_rest_is_reconciled(ledger, make_csv):
    """A 100 KB row is one reject naming its line and the limit; the rows after it are credited."""
    path = make_csv("day.csv", tx_row("T1", BOB_CARD, FDX, "25.00", name="x" * 100_000),
                    tx_row("T2", ALICE_CARD, ZAP, "80.00"))

    summary = ledger.reconcile(path)

    assert_rows_add_up(summary, 2)
    assert credited_ids(summary) == ["T2"]
    [(line, column, reason)] = rejects_of(summary)
    assert (line, column) == (2, "")
    assert reason.startswith("the row is longer than 8,192 bytes ([reconcile] max_line_bytes)")


@pytest.mark.parametrize(("file", "says"), [
    ({"header": HEADER.replace(",", ";"), "rows": [tx_row("T1").replace(",", ";")]},
     "line 1: the header is a single column that holds ';': the file looks separated by semicolons"),
    ({"header": HEADER.replace(",", "\t"), "rows": [tx_row("T1").replace(",", "\t")]}, "separated by tabs"),
    ({"rows": [tx_row("T1")], "encoding": "utf-16-be"}, "line 1: is UTF-16 ("),
    ({"rows": [tx_row("T1")], "encoding": "utf-32"}, "line 1: is UTF-32 (it starts with a byte order mark)"),
    ({"rows": [tx_row("T1")], "header": HEADER + "," + ",".join(f"c{n}" for n in range(100))},
     "the header has 109 columns, more than 100 ([reconcile] max_columns)"),
], ids=["semicolons", "tabs", "utf-16", "utf-32", "too-many-columns"])
def test_a_file_refused_whole_says_what_it_looks_like(ledger, make_csv, file, says):
    """A semicolon- or tab-separated, UTF-16/32 or absurdly wide file is refused with what it is and
    the fix, and nothing is recorded."""
    path = make_csv("day.csv", *file["rows"], header=file.get("header", HEADER),
                    encoding=file.get("encoding", "utf-8"))

    with pytest.raises(FileRejected) as refused:
        ledger.reconcile(path)

    assert str(refused.value).startswith("day.csv: ")
    assert says in str(refused.value)
    assert count(ledger, "transaction_files") == 0


def test_a_file_with_a_header_and_no_data_rows_is_recorded_with_a_warning(ledger, make_csv, caplog):
    """A header-only file is reconciled (a re-send is recognised); its summary warns it had no rows."""
    path = make_csv("day.csv", "", "")

    summary = ledger.reconcile(path)
    again = ledger.reconcile(path)

    assert summary.status == "reconciled"
    assert summary.warnings == ["the file has a header and no data rows"]
    assert "  warning: the file has a header and no data rows" in summary.render()
    written = Path(summary.exports["summary.txt"]).read_text()
    assert "warning: the file has a header and no data rows" in written
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "day.csv: the file has a header and no data rows"]
    assert (again.status, again.warnings) == ("already reconciled", summary.warnings)


def test_a_dry_run_keeps_the_first_fifty_rejects_to_show(ledger, make_csv):
    """A dry run hands back its first 50 rejects by line (for the command to print) and counts the rest."""
    rows = [tx_row(f"T{n}", amount="1e3") for n in range(60)]
    path = make_csv("day.csv", tx_row("D1"), *rows, tx_row("D1"))

    summary = ledger.reconcile(path, dry_run=True)

    assert summary.rejected == 61
    assert [r.line for r in summary.shown_rejects] == list(range(3, 53))
    assert summary.shown_rejects[0].transaction_id == "T0"
    assert not ledger.exports.exists()
