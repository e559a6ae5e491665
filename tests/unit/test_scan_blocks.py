"""The scan that takes runs of plain lines at once equals today's line-by-line scan (reference_scan).

Generated files mix good rows, rows with every kind of bad field, quoted fields holding commas,
line breaks and quotes, broken quoting, blank lines, rows over a small max_line_bytes, LF, CRLF
and CR line ends, a BOM and a missing last line ending; they are read in tiny blocks too, so that
lines, CRLFs and quoted records fall across the reader's block boundaries. Every batch is compared
field by field (ScanBatch equality), after any ``skip``, with the enrolment filter handed over
between batches, and so are the rows read_rows yields.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.adapters.transaction_csv as transaction_csv
from bot.adapters.transaction_csv import ReadLimits, inspect_file, read_rows
from bot.domain.cards import Fingerprinter
from bot.domain.members import LinkPeriod
from bot.errors import FileRejected
from bot.services.file_scan import Interest, ScanBatch, read_columns, scan
from tests.conftest import examples
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD
from tests.unit import reference_scan
from tests.unit.test_transactions import FIELD_VALUES, ORDERS

KEY, OLD_KEY = Fingerprinter(b"k" * 32), Fingerprinter(b"o" * 32)
DAVE_CARD = "4111111111111111"
# Values the fast path takes (most rows), and near misses it leaves to parse_row, which may
# still accept them (spaces, a negative refund, a capital) or not (no such date).
GOOD_VALUES = {
    "transaction_id": st.sampled_from(["T1", "T-2", "R9", "T" * 64, "4111111111111111"]),
    "card_number": st.sampled_from([ALICE_CARD, BOB_CARD, CAROL_CARD, DAVE_CARD]),
    "merchant_id": st.sampled_from(["MID-MCD-0001", "MID-ZAP-0001", "MID-OTHER-01"]),
    "merchant_name": st.sampled_from(["Shop", "", "Joe's", "Café", "M" * 30]),
    "amount": st.sampled_from(["12.50", "0.01", "7", "100.1"]),
    "currency": st.sampled_from(["USD", "EUR"]),
    "transaction_date": st.sampled_from(["2026-11-20", "2026-11-23", "2026-11-25"]),
    "type": st.sampled_from(["purchase", "purchase", "refund"]),
    "original_transaction_id": st.just(""),
}
NEAR_MISSES = {
    "merchant_id": st.sampled_from([" MID-MCD-0001", "MID-MCD-0001\xa0"]),
    "amount": st.just("-3.00"),
    "transaction_date": st.sampled_from(["2026-02-30", "2026-13-01"]),
    "type": st.sampled_from(["Refund", " purchase"]),
    "original_transaction_id": st.just("T0"),
}
QUOTED = st.sampled_from(['"Mc, Donald\'s"', '"two\nlines"', '"two\r\nlines"', '"say ""hi"""', '""',
                          '"a"b', 'a"b', '"never closed', '"cr\rin"', '"x"'])
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def data_lines(draw: st.DrawFn, names: list[str], limit: int) -> str:
    """One data line (without its line ending): good, bad, quoted, blank, or about ``limit`` bytes."""
    kind = draw(st.sampled_from(["good"] * 8 + ["near", "near", "bad", "quoted", "blank", "long"]))
    if kind == "blank":
        return ""
    values = [draw(GOOD_VALUES.get(name, st.sampled_from(["x", ""]))) for name in names]
    if kind == "good" and "original_transaction_id" in names and values[names.index("type")] == "refund":
        values[names.index("original_transaction_id")] = draw(st.sampled_from(["", "T0"]))
    if kind == "near":
        name = draw(st.sampled_from(sorted(NEAR_MISSES)))
        if name in names:
            values[names.index(name)] = draw(NEAR_MISSES[name])
    if kind == "bad":
        at = draw(st.integers(0, len(names) - 1))
        values[at] = draw(FIELD_VALUES.get(names[at], st.text(max_size=4)))
        if draw(st.booleans()):  # a field too many or too few
            values = values[:-1] if draw(st.booleans()) else [*values, "x"]
    elif kind == "quoted":
        values[draw(st.integers(0, len(names) - 1))] = draw(QUOTED)
    elif kind == "long":  # its size (with a one-byte LF) just under, at or over the limit
        at = names.index("merchant_name")
        values[at] = ""
        wide = draw(st.booleans())  # two bytes a character: the limit is in bytes
        room = limit - len(",".join(values).encode("utf-8")) + draw(st.integers(-3, 2))
        values[at] = "é" * (room // 2) + "L" * (room % 2) if wide else "L" * max(room, 0)
    return ",".join(values)


@st.composite
def files(draw: st.DrawFn) -> tuple[int, bytes]:
    """A row limit and the bytes of a whole transaction file."""
    names = ORDERS[draw(st.sampled_from(sorted(ORDERS)))]
    limit = draw(st.sampled_from([8192, 8192, 400, 160, 240]))
    lines = draw(st.lists(data_lines(names, limit), min_size=1, max_size=40))
    mixed = draw(st.sampled_from([False, False, True]))
    ending = draw(st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"]))
    text = ",".join(names)
    for line in lines:
        text += (draw(ENDINGS) if mixed else ending) + line
    if draw(st.booleans()) or not lines:
        text += draw(ENDINGS) if mixed else ending  # else the last line has no line ending
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return limit, bom + text.encode("utf-8")


def interest_of(rotation: bool) -> Interest:
    """McDonald's in one campaign, Zappos in two; Alice and Bob linked, Carol's card with history,
    Dave's linked with the previous key (when a rotation is under way)."""
    history = {KEY.fingerprint(CAROL_CARD): (LinkPeriod("1004", date(2026, 11, 24), None),
                                             LinkPeriod("1003", date(2026, 11, 20), date(2026, 11, 22)))}
    members = {KEY.fingerprint(ALICE_CARD): "1001", KEY.fingerprint(BOB_CARD): "1002"}
    if rotation:
        members[OLD_KEY.fingerprint(DAVE_CARD)] = "1005"
    return Interest({"MID-MCD-0001": ("amex-mcdonalds",), "MID-ZAP-0001": ("amex-zappos", "amex-zappos-vip")},
                    members, history, OLD_KEY if rotation else None)


def enrolments_after(calls: int) -> Callable[[], frozenset[str] | None]:
    """Answer None ``calls`` times, then the enrolment keys (as the second process hands them over)."""
    asked = iter(range(calls))
    keys = frozenset({"1001\tamex-mcdonalds", "1002\tamex-zappos-vip", "1004\tamex-mcdonalds"})
    return lambda: None if next(asked, None) is not None else keys


@settings(max_examples=examples(600), derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(file=files(),
       block=st.sampled_from([5, 64, 300, 1 << 15, 1 << 15]), skip=st.sampled_from([0, 0, 0, 1, 2, 5, 12]),
       batch_rows=st.sampled_from([1, 2, 3, 8, 100]), calls=st.integers(0, 4), rotation=st.booleans())
def test_the_scan_by_runs_of_lines_equals_the_line_by_line_scan(
        file: tuple[int, bytes], block: int, skip: int, batch_rows: int,
        calls: int, rotation: bool) -> None:
    """Same batches (rows, txns, kept_only, rejects with lines and reasons, every count), same rows
    read, whatever the file holds, the block size, the limit, skip and when the enrolments come."""
    limit, data = file
    with tempfile.TemporaryDirectory() as folder, \
            mock.patch.object(transaction_csv, "_BLOCK", block), \
            mock.patch.object(transaction_csv, "_LOW", max(block // 4, 1)):
        path = Path(folder) / "tx.csv"
        path.write_bytes(data)
        facts = inspect_file(path, ReadLimits(max_line_bytes=limit))
        try:
            columns = read_columns(facts)
        except FileRejected:
            return  # the header is over the limit: no rows are read at all
        assert list(read_rows(facts, skip=skip)) == list(reference_scan.read_rows(facts, skip=skip))
        fast = list(scan(facts, columns, skip, interest_of(rotation), KEY, batch_rows,
                         enrolments_after(calls)))
        slow = list(reference_scan.scan(facts, columns, skip, interest_of(rotation), KEY, batch_rows,
                                        enrolments_after(calls)))
    assert fast == slow
    assert all(isinstance(batch, ScanBatch) for batch in fast)


@settings(max_examples=examples(400), derandomize=True, database=None, deadline=None)
@given(text=st.lists(st.sampled_from(["a", "é", ",", '"', "\r", "\n", "\r\n"]), max_size=60).map("".join),
       sizes=st.lists(st.integers(1, 9), min_size=1, max_size=8), block=st.integers(1, 12))
def test_the_readers_lines_are_the_text_files_readline(text: str, sizes: list[int], block: int) -> None:
    """readline(size) over the reader's blocks gives what the text file's readline(size) gives with
    newline="": lines ending at LF, CR or CRLF, a CRLF split by the size, whatever the blocks."""
    ours = transaction_csv._Text(io.StringIO(text, newline="").read)
    theirs = io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8", newline="")
    with mock.patch.object(transaction_csv, "_BLOCK", block):
        turn = 0
        while True:
            size = sizes[turn % len(sizes)]
            turn += 1
            line = theirs.readline(size)
            assert ours.readline(size) == line, (text, size)
            if not line:
                break


def test_a_run_of_plain_lines_stops_before_a_quote_or_another_line_end() -> None:
    """Lines reach a run only whole, without a quote, all LF-ended or all CRLF-ended; the rest is
    left to readline."""
    text = transaction_csv._Text(io.StringIO('a\nb\n"c"\nd\r\ne\r\nf\ng\rh\n\ni', newline="").read)
    assert text.lines() == transaction_csv.Lines("a\nb")
    assert text.lines() is None
    assert text.readline(100) == '"c"\n'
    assert text.lines() == transaction_csv.Lines("d\ne", 2)
    assert text.lines() == transaction_csv.Lines("f")
    assert text.lines() is None
    assert text.readline(100) == "g\r"
    assert text.lines() == transaction_csv.Lines("h\n")
    assert text.lines() is None
    assert text.readline(100) == "i"
    assert text.readline(100) == ""


def scanned_both_ways(data: bytes, limits: ReadLimits) -> tuple[list[ScanBatch], list[ScanBatch]]:
    """Scan a file with the product's scan and with the reference; return both batch lists."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tx.csv"
        path.write_bytes(data)
        facts = inspect_file(path, limits)
        columns = read_columns(facts)
        assert list(read_rows(facts)) == list(reference_scan.read_rows(facts))
        return (list(scan(facts, columns, 0, interest_of(False), KEY, 3)),
                list(reference_scan.scan(facts, columns, 0, interest_of(False), KEY, 3)))


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("delta", range(-3, 3))
def test_rows_just_under_at_and_over_the_limit_read_the_same(ending: str, wide: bool, delta: int) -> None:
    """A row whose size with its line ending is a byte or two either side of max_line_bytes is read
    (or refused as too long) the same by both scans, in characters of one byte or two."""
    limits = ReadLimits(max_line_bytes=400)
    base = f"T1,{ALICE_CARD},MID-MCD-0001,,12.50,USD,2026-11-20,purchase,"
    room = limits.max_line_bytes - len(base) - len(ending) + delta
    name = "é" * (room // 2) + "L" * (room % 2) if wide else "L" * room
    line = base.replace(",,", f",{name},", 1)
    header = "transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,type," \
             "original_transaction_id"
    data = ending.join([header, line, f"T2,{BOB_CARD},MID-MCD-0001,,1.00,USD,2026-11-20,purchase,", ""])
    fast, slow = scanned_both_ways(data.encode("utf-8"), limits)
    assert fast == slow
    assert sum(len(b.rejects) for b in fast) == int(delta > 0)


def test_a_file_of_cr_ended_lines_is_read_by_runs_too() -> None:
    """With no LF ahead, whole CR-ended lines without a quote make a run (LFs for their ends)."""
    text = transaction_csv._Text(io.StringIO('a\rb\r\r"c"\rd\re', newline="").read)
    assert text.lines() == transaction_csv.Lines("a\nb\n")
    assert text.lines() is None
    assert text.readline(100) == '"c"\r'
    assert text.lines() == transaction_csv.Lines("d")
    assert text.lines() is None
    assert text.readline(100) == "e"
