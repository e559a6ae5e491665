"""Scanning a transaction file: rows checked, linked cards at campaign merchants become Txns, in batches."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.adapters.transaction_csv import TRUNCATED, inspect_file
from bot.domain.cards import Fingerprinter
from bot.domain.members import LinkPeriod
from bot.domain.reconcile import Txn
from bot.domain.transactions import Reject
from bot.services.file_scan import Interest, ScanBatch, read_columns, scan
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, tx_row

MCD, ZAP, OTHER = "MID-MCD-0001", "MID-ZAP-0001", "MID-OTHER-01"
DAY = date(2026, 11, 23)


def row(tid: str, card: str, mid: str = MCD, amount: str = "12.00", *, day: str = "2026-11-23",
        **fields: str) -> str:
    """A data line under the standard header: $12.00 at McDonald's on DAY unless told otherwise."""
    return tx_row(tid, card, mid, amount, day=day, **fields)


@pytest.fixture
def interest(fingerprinter: Fingerprinter) -> Interest:
    """McDonald's in one campaign, Zappos in two; Alice (1001) and Bob (1002) linked, Carol not."""
    return Interest(
        campaigns_of={MCD: ("amex-mcdonalds",), ZAP: ("amex-zappos", "amex-zappos-vip")},
        members={fingerprinter.fingerprint(ALICE_CARD): "1001", fingerprinter.fingerprint(BOB_CARD): "1002"},
    )


def scan_all(path: Path, interest: Interest, fingerprinter: Fingerprinter, *, skip: int = 0,
             batch_rows: int = 100, enrolments=lambda: None) -> list[ScanBatch]:
    """Scan the whole file and return its batches."""
    facts = inspect_file(path)
    return list(scan(facts, read_columns(facts), skip, interest, fingerprinter, batch_rows, enrolments))


def txns(batches: list[ScanBatch]) -> list[Txn]:
    """Every Txn of the batches, in file order."""
    return [t for b in batches for t in b.txns]


def test_linked_card_at_campaign_merchant_becomes_a_txn(make_csv, interest, fingerprinter) -> None:
    """A linked member's row at a campaign merchant becomes a Txn in cents with the card's last 4 only."""
    path = make_csv("tx.csv", row("T1", ALICE_CARD, amount="12.50"),
                    row("R1", BOB_CARD, ZAP, "80", kind="refund", original="T0", day="2026-11-24"))
    [batch] = scan_all(path, interest, fingerprinter)
    assert batch.txns == [
        Txn(2, "T1", "1001", "0005", MCD, 1250, "USD", DAY, "purchase", None),
        Txn(3, "R1", "1002", "8431", ZAP, 8000, "USD", date(2026, 11, 24), "refund", "T0"),
    ]
    assert (batch.rows, batch.other_merchant, batch.not_linked, batch.rejects) == (2, 0, 0, [])


def test_card_number_never_reaches_a_txn(make_csv, interest, fingerprinter) -> None:
    """No field of any Txn holds the card number (quoted and unquoted rows alike)."""
    path = make_csv("tx.csv", row("T1", ALICE_CARD), row("T2", ALICE_CARD, name='"Mc, Donald\'s"'),
                    row("T3", BOB_CARD, ZAP))
    found = txns(scan_all(path, interest, fingerprinter))
    assert len(found) == 3
    for txn in found:
        assert all(ALICE_CARD not in str(v) and BOB_CARD not in str(v) for v in txn)


def test_other_merchants_and_unlinked_cards_are_counted_not_kept(make_csv, interest, fingerprinter) -> None:
    """Rows at merchants no campaign names, and rows of cards nobody linked, are only counted."""
    path = make_csv("tx.csv", row("T1", ALICE_CARD, OTHER), row("T2", CAROL_CARD, MCD),
                    row("T3", CAROL_CARD, OTHER), row("T4", BOB_CARD, MCD))
    [batch] = scan_all(path, interest, fingerprinter)
    assert (batch.rows, batch.other_merchant, batch.not_linked) == (4, 2, 1)
    assert [t.transaction_id for t in batch.txns] == ["T4"]


def test_rejected_rows_carry_their_line_numbers(make_csv, interest, fingerprinter) -> None:
    """Bad rows become Rejects with the physical line, column and reason, and the good rows still count."""
    path = make_csv("tx.csv", row("T1", ALICE_CARD), row("T2", ALICE_CARD, amount="1e3"), "",
                    row("T3", ALICE_CARD, name='"Two\nlines"'), row("T4", ALICE_CARD, amount="$12"),
                    row("T5", "12345", OTHER), row("T6", ALICE_CARD), end="")
    [batch] = scan_all(path, interest, fingerprinter)
    assert batch.rejects == [
        Reject(3, "amount", "amount uses an exponent; write it out, e.g. 1000.00 (got '1e3')", "T2"),
        Reject(7, "amount", "amount has a currency symbol or code; put the currency in its own column "
                            "(got '$12')", "T4"),
        Reject(8, "card_number", "must be 13 to 19 digits", "T5"),
        Reject(9, "", TRUNCATED),
    ]
    assert [(t.line, t.transaction_id) for t in batch.txns] == [(2, "T1"), (5, "T3")]
    assert batch.rows == 6


@pytest.mark.parametrize(
    ("line", "cents", "kind"),
    [
        (row("T1", ALICE_CARD, amount="12.5"), 1250, "purchase"),
        (row("T1", ALICE_CARD, amount="0.01"), 1, "purchase"),
        (row("T1", ALICE_CARD, amount="7"), 700, "purchase"),
        (row("T1", ALICE_CARD, amount="0.1"), 10, "purchase"),
        (row("T1", ALICE_CARD, amount="12.5", name='"Joe ""Mac"""'), 1250, "purchase"),
        (row("T1", ALICE_CARD, amount="12.50", kind="Purchase"), 1250, "purchase"),
        (row(" T1 ", f" {ALICE_CARD} ", f" {MCD} ", "0.05", kind=" REFUND "), 5, "refund"),
    ],
    ids=["fast", "one cent", "whole", "tenth", "quoted", "capitalised type", "spaces"],
)
def test_fast_and_slow_paths_give_the_same_txn(make_csv, interest, fingerprinter, line: str, cents: int,
                                               kind: str) -> None:
    """Rows read by the fast path or checked field by field give the same Txn values."""
    [txn] = txns(scan_all(make_csv("tx.csv", line), interest, fingerprinter))
    assert txn == Txn(2, "T1", "1001", "0005", MCD, cents, "USD", DAY, kind, None)


@pytest.mark.parametrize(
    ("rows", "batch_rows", "sizes"),
    [
        (10, 4, [1, 4, 4, 1]),
        (9, 4, [1, 4, 4]),
        (10, 8, [2, 8]),
        (3, 1, [1, 1, 1]),
        (5, 100, [5]),
        (0, 4, []),
    ],
)
def test_batches_start_with_a_quarter_then_batch_rows(make_csv, interest, fingerprinter, rows: int,
                                                      batch_rows: int, sizes: list[int]) -> None:
    """The first batch holds a quarter of batch_rows (at least one), the next ones batch_rows each."""
    path = make_csv("tx.csv", *(row(f"T{n}", ALICE_CARD if n % 2 else CAROL_CARD) for n in range(rows)))
    batches = scan_all(path, interest, fingerprinter, batch_rows=batch_rows)
    assert [b.rows for b in batches] == sizes
    lines = [t.line for t in txns(batches)]
    assert lines == [n + 2 for n in range(rows) if n % 2]


def test_batch_rows_count_every_data_row(make_csv, interest, fingerprinter) -> None:
    """Each batch's rows are its Txns, rejects, other merchants and unlinked cards together."""
    path = make_csv("tx.csv", row("T1", ALICE_CARD), row("T2", ALICE_CARD, amount="x"),
                    row("T3", ALICE_CARD, OTHER), row("T4", CAROL_CARD), row("T5", BOB_CARD, ZAP))
    for batch in scan_all(path, interest, fingerprinter, batch_rows=4):
        assert batch.rows == (len(batch.txns) + len(batch.rejects) + batch.other_merchant + batch.not_linked
                              + batch.not_enrolled)


def test_skip_resumes_after_that_many_rows(make_csv, interest, fingerprinter) -> None:
    """skip=N starts after the first N data rows, and the lines keep their numbers."""
    path = make_csv("tx.csv", *(row(f"T{n}", ALICE_CARD) for n in range(6)))
    batches = scan_all(path, interest, fingerprinter, skip=4)
    assert [(t.line, t.transaction_id) for t in txns(batches)] == [(6, "T4"), (7, "T5")]
    assert sum(b.rows for b in batches) == 2


def test_purchases_by_members_enrolled_in_none_of_the_campaigns_are_dropped(make_csv, interest,
                                                                          fingerprinter) -> None:
    """With the enrolment keys known, purchases no campaign could credit are counted and dropped."""
    path = make_csv("tx.csv",
                    row("T1", ALICE_CARD, MCD),  # Alice is enrolled at McDonald's
                    row("T2", BOB_CARD, MCD),  # Bob is not
                    row("R2", BOB_CARD, MCD, kind="refund", original="T0"),  # refunds are kept
                    row("T3", ALICE_CARD, ZAP),  # in one of Zappos' two campaigns
                    row("T4", BOB_CARD, ZAP))  # in neither
    enrolled = frozenset({"1001\tamex-mcdonalds", "1001\tamex-zappos-vip"})
    [batch] = scan_all(path, interest, fingerprinter, enrolments=lambda: enrolled)
    assert batch.filtered
    assert [t.transaction_id for t in batch.txns] == ["T1", "R2", "T3"]
    assert (batch.not_enrolled, batch.not_enrolled_outcomes) == (2, 3)


def test_batches_are_filtered_from_when_enrolments_are_known(make_csv, interest, fingerprinter) -> None:
    """Batches read before the enrolment keys arrive are unfiltered; those read after are filtered."""
    answers = iter([None, None, frozenset({"1001\tamex-mcdonalds"})])
    path = make_csv("tx.csv", *(row(f"T{n}", BOB_CARD) for n in range(9)))
    batches = scan_all(path, interest, fingerprinter, batch_rows=4, enrolments=lambda: next(answers, None))
    assert [(b.rows, b.filtered, len(b.txns), b.not_enrolled) for b in batches] == [
        (1, False, 1, 0), (4, False, 4, 0), (4, True, 0, 4)]


def test_scan_stopped_early_closes_the_file(make_csv, interest, fingerprinter) -> None:
    """Leaving a scan after its first batch closes the file (no ResourceWarning)."""
    path = make_csv("tx.csv", *(row(f"T{n}", ALICE_CARD) for n in range(9)))
    facts = inspect_file(path)
    batches = scan(facts, read_columns(facts), 0, interest, fingerprinter, 4)
    assert next(batches).rows == 1
    batches.close()


@pytest.mark.parametrize("space", ["\xa0", "\u3000"])
def test_ids_padded_with_unicode_spaces_read_the_same_quoted_or_not(make_csv, interest, fingerprinter,
                                                                    space: str) -> None:
    """A merchant or transaction id padded with a Unicode space scans the same on the fast and slow paths."""
    plain = row(f"{space}T1", ALICE_CARD, f"{MCD}{space}")
    quoted = row(f'"{space}T1"', ALICE_CARD, f'"{MCD}{space}"')
    fast = scan_all(make_csv("fast.csv", plain), interest, fingerprinter)
    slow = scan_all(make_csv("slow.csv", quoted), interest, fingerprinter)
    assert [(t.transaction_id, t.merchant_id) for t in txns(slow)] == [("T1", MCD)]
    assert txns(fast) == txns(slow)
    assert fast[0].other_merchant == slow[0].other_merchant == 0


def test_a_card_with_ended_links_goes_to_whoever_had_it_linked_on_the_rows_date(
        make_csv, fingerprinter) -> None:
    """Carol linked Nov 20 to 22 (then STOP), Dave from Nov 24: each row goes to the member linked on its
    date; a purchase between links is not linked, a refund then goes to the last one before it."""
    carol, dave = (LinkPeriod("1003", date(2026, 11, 20), date(2026, 11, 22)),
                   LinkPeriod("1004", date(2026, 11, 24), None))
    latest_first = {fingerprinter.fingerprint(CAROL_CARD): (dave, carol)}
    interest = Interest({MCD: ("amex-mcdonalds",)}, {}, latest_first)
    path = make_csv("tx.csv", row("T1", CAROL_CARD, day="2026-11-21"),
                    row("T2", CAROL_CARD, day="2026-11-23"), row("T3", CAROL_CARD, day="2026-11-25"),
                    row("R1", CAROL_CARD, day="2026-11-23", kind="refund", original="T1"),
                    row("T4", CAROL_CARD, day="2026-11-19"))

    [batch] = scan_all(path, interest, fingerprinter)

    assert [(t.transaction_id, t.member_id) for t in batch.txns] == [("T1", "1003"), ("T3", "1004"),
                                                                     ("R1", "1003")]
    assert batch.not_linked == 2


def test_during_a_rotation_cards_linked_with_the_previous_key_are_matched(make_csv) -> None:
    """With a previous key configured, a card whose fingerprint was made with it is still found."""
    new, old = Fingerprinter(b"n" * 32), Fingerprinter(b"o" * 32)
    interest = Interest({MCD: ("amex-mcdonalds",)}, {new.fingerprint(ALICE_CARD): "1001",
                                                     old.fingerprint(BOB_CARD): "1002"}, previous=old)
    path = make_csv("tx.csv", row("T1", ALICE_CARD), row("T2", BOB_CARD), row("T3", CAROL_CARD))

    [batch] = scan_all(path, interest, new)

    assert [(t.transaction_id, t.member_id) for t in batch.txns] == [("T1", "1001"), ("T2", "1002")]
    assert batch.not_linked == 1
    assert scan_all(path, Interest(interest.campaigns_of, interest.members), new)[0].not_linked == 2


def test_a_large_file_is_scanned_by_the_scanner_given_and_a_small_one_here(make_csv, interest,
                                                                          fingerprinter, monkeypatch) -> None:
    """scan_batches hands a file of IN_PROCESS_BELOW bytes or more to the Scanner port, a smaller one not."""
    import bot.services.file_scan as file_scan

    asked = []

    def scanner(work, *, name):
        asked.append(name)
        return file_scan.scan_here(work, name=name)

    path = make_csv("tx.csv", row("T1", ALICE_CARD))
    facts = inspect_file(path)
    columns = read_columns(facts)
    with file_scan.scan_batches(facts, columns, 0, interest, fingerprinter, 100, scanner) as batches:
        small = txns(list(batches))
    monkeypatch.setattr(file_scan, "IN_PROCESS_BELOW", 0)
    with file_scan.scan_batches(facts, columns, 0, interest, fingerprinter, 100, scanner) as batches:
        large = txns(list(batches))

    assert asked == ["tx.csv"]
    assert small == large == txns(scan_all(path, interest, fingerprinter))


def test_the_enrolments_shared_with_a_scan_here_filter_what_it_reads_next(make_csv, interest,
                                                                         fingerprinter) -> None:
    """An in-process scan takes the enrolment keys it is given between batches, as the second process does."""
    from bot.services.file_scan import scan_batches

    path = make_csv("tx.csv", *(row(f"T{n}", ALICE_CARD) for n in range(8)))
    facts = inspect_file(path)
    never = lambda *_a, **_k: None  # noqa: E731 - a small file never reaches the scanner
    with scan_batches(facts, read_columns(facts), 0, interest, fingerprinter, 4, never) as batches:
        found = []
        for batch in batches:
            found.append((batch.rows, batch.filtered, len(batch.txns)))
            batches.share(frozenset())  # Alice is enrolled in nothing

    assert found == [(1, False, 1), (4, True, 0), (3, True, 0)]
