"""Reading the card system's file: checked whole (hash, UTF-8) first, then streamed row by row."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot.adapters.transaction_csv import (
    TRUNCATED,
    FileFacts,
    Inspection,
    RawRow,
    Unreadable,
    inspect_file,
    read_header,
    read_rows,
)
from bot.errors import FileRejected
from tests.conftest import HEADER
from tests.fakes import ALICE_CARD, BOB_CARD

ROW1 = f"T1,{ALICE_CARD},MID-MCD-0001,McDonald's,12.00,USD,2026-11-23,purchase,"
ROW2 = f"T2,{BOB_CARD},MID-FDX-0001,FedEx,30.00,USD,2026-11-24,purchase,"
ROW3 = f"R1,{ALICE_CARD},MID-MCD-0001,McDonald's,12.00,USD,2026-11-25,refund,T1"
QUOTED = f'T4,{BOB_CARD},MID-ZAP-0001,"Zappos, Inc.",80.00,USD,2026-11-24,purchase,'
QUOTED_FIELDS = ["T4", BOB_CARD, "MID-ZAP-0001", "Zappos, Inc.", "80.00", "USD", "2026-11-24", "purchase", ""]


def write(tmp_path: Path, data: bytes, name: str = "tx.csv") -> Path:
    """Write raw bytes to a file in the test's folder."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rows_of(path: Path, skip: int = 0) -> list[RawRow]:
    """Return every (line, row) read_rows yields for the file."""
    return list(read_rows(inspect_file(path), skip=skip))


# --- inspect_file -------------------------------------------------------------------------------


def test_inspect_hashes_the_exact_bytes(make_csv) -> None:
    """The file's SHA-256 and size are those of its bytes, BOM and all."""
    path = make_csv("tx.csv", ROW1, ROW2, bom=True)
    facts = inspect_file(path)
    data = path.read_bytes()
    assert facts == FileFacts(path, hashlib.sha256(data).hexdigest(), len(data), 3, True)


@pytest.mark.parametrize(
    ("data", "lines", "ends_with_newline"),
    [
        (b"h\n", 1, True),
        (b"h\na\nb\n", 3, True),
        (b"h\na\nb", 3, False),
        (b"h\r\na\r\n", 2, True),
        (b"h\n\n\n", 3, True),
        (b"h", 1, False),
    ],
)
def test_inspect_counts_lines_and_sees_the_last_line_ending(tmp_path: Path, data: bytes, lines: int,
                                                            ends_with_newline: bool) -> None:
    """Physical lines are counted, an unterminated last one included, and the final newline noted."""
    facts = inspect_file(write(tmp_path, data))
    assert (facts.lines, facts.ends_with_newline) == (lines, ends_with_newline)


def test_large_file_is_hashed_across_chunks(tmp_path: Path) -> None:
    """A file over the 1 MiB read size hashes and counts the same as its bytes."""
    data = (HEADER + "\n" + (ROW1 + "\n") * 20_000).encode()
    facts = inspect_file(write(tmp_path, data))
    assert (facts.sha256, facts.size, facts.lines) == (hashlib.sha256(data).hexdigest(), len(data), 20_001)


def test_cp1252_file_is_refused_naming_the_line(make_csv) -> None:
    """A Windows-1252 file is refused whole, naming the first bad line and asking for UTF-8."""
    path = make_csv("cp.csv", ROW1, ROW1.replace("McDonald's", "Café").replace("T1", "T2"), encoding="cp1252")
    bad_byte = path.read_bytes().index("é".encode("cp1252"))
    with pytest.raises(FileRejected) as caught:
        inspect_file(path)
    message = str(caught.value)
    assert message.startswith(f"cp.csv: line 3 (byte {bad_byte}) is not UTF-8;")
    assert "Export it as UTF-8" in message


def test_file_cut_inside_a_utf8_character_is_refused(tmp_path: Path) -> None:
    """A file whose last bytes are half of a multibyte character is refused as cut short."""
    data = (HEADER + "\n" + ROW1.replace("McDonald's", "Café")).encode()
    path = write(tmp_path, data[: data.index("é".encode()) + 1])
    with pytest.raises(FileRejected, match=r"^tx\.csv: ends in the middle of a UTF-8 character"):
        inspect_file(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "is empty; expected a header row and transactions"),
     (b"\xef\xbb", "ends in the middle of a UTF-8 character")],
)
def test_empty_or_bom_fragment_file_is_refused(tmp_path: Path, data: bytes, message: str) -> None:
    """An empty file, or one holding only part of a BOM, is refused."""
    with pytest.raises(FileRejected, match=rf"^tx\.csv: {message}"):
        inspect_file(write(tmp_path, data))


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_path_is_refused(tmp_path: Path, kind: str) -> None:
    """A path that cannot be read is refused with a reason instead of an OSError."""
    path = tmp_path / "tx.csv"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(FileRejected, match="cannot read"):
        inspect_file(path)


def test_inspection_in_a_thread_gives_the_same_facts(make_csv) -> None:
    """Inspection(path).result() equals inspect_file(path)."""
    path = make_csv("tx.csv", ROW1, ROW2)
    assert Inspection(path).result() == inspect_file(path)


def test_inspection_in_a_thread_raises_what_inspect_raises(tmp_path: Path) -> None:
    """Inspection(path).result() re-raises the FileRejected inspect_file raised."""
    inspection = Inspection(write(tmp_path, "Café\n".encode("cp1252")))
    with pytest.raises(FileRejected, match="is not UTF-8"):
        inspection.result()


# --- read_header --------------------------------------------------------------------------------


@pytest.mark.parametrize("bom", [False, True])
def test_header_is_read_with_or_without_bom(make_csv, bom: bool) -> None:
    """The header's first column name is clean whether or not the file starts with a BOM."""
    facts = inspect_file(make_csv("tx.csv", ROW1, bom=bom))
    assert read_header(facts) == HEADER.split(",")


def test_quoted_header_is_read(make_csv) -> None:
    """A header whose names are quoted reads as the plain names."""
    header = ",".join(f'"{name}"' for name in HEADER.split(","))
    path = make_csv("tx.csv", ROW1, header=header)
    assert read_header(inspect_file(path)) == HEADER.split(",")
    assert rows_of(path) == [(2, ROW1)]


def test_file_with_only_a_bom_has_no_header(tmp_path: Path) -> None:
    """A file holding only a BOM is refused for lack of a header row."""
    facts = inspect_file(write(tmp_path, b"\xef\xbb\xbf"))
    with pytest.raises(FileRejected, match=r"^tx\.csv: line 1: no readable header row"):
        read_header(facts)


# --- read_rows ----------------------------------------------------------------------------------


def test_rows_are_raw_lines_or_fields_of_quoted_records(make_csv) -> None:
    """Unquoted lines come as text, quoted ones as their fields, each with its line number."""
    path = make_csv("tx.csv", ROW1, QUOTED, ROW3)
    assert rows_of(path) == [(2, ROW1), (3, QUOTED_FIELDS), (4, ROW3)]


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings_and_bom_do_not_change_the_rows(make_csv, newline: str, bom: bool) -> None:
    """LF, CRLF and CR-only files, with or without a BOM, give identical rows."""
    path = make_csv("tx.csv", ROW1, QUOTED, ROW2, ROW3, newline=newline, bom=bom)
    assert rows_of(path) == [(2, ROW1), (3, QUOTED_FIELDS), (4, ROW2), (5, ROW3)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_quoted_field_with_embedded_newline_stays_one_row(make_csv, newline: str) -> None:
    """A line break inside quotes belongs to the field, and later rows keep their physical line numbers."""
    name = f"McDonald's{newline}Main St{newline}Unit 4"
    spread = f'T5,{ALICE_CARD},MID-MCD-0001,"{name}",9.00,USD,2026-11-23,purchase,'
    path = make_csv("tx.csv", ROW1, spread, ROW2, newline=newline)
    assert rows_of(path) == [
        (2, ROW1),
        (3, ["T5", ALICE_CARD, "MID-MCD-0001", name, "9.00", "USD", "2026-11-23", "purchase", ""]),
        (6, ROW2),
    ]


def test_doubled_quotes_are_one_quote(make_csv) -> None:
    """Inside a quoted field, "" stands for one double quote."""
    line = f'T6,{ALICE_CARD},MID-MCD-0001,"Joe ""The Burger"" Co",9.00,USD,2026-11-23,purchase,'
    [(number, row)] = rows_of(make_csv("tx.csv", line))
    assert number == 2
    assert isinstance(row, list)
    assert row[3] == 'Joe "The Burger" Co'


def test_blank_lines_are_skipped_and_line_numbers_stay_physical(make_csv) -> None:
    """Blank lines are not rows, and the rows after them keep their line numbers in the file."""
    path = make_csv("tx.csv", "", ROW1, "", "", ROW2, "")
    assert rows_of(path) == [(3, ROW1), (6, ROW2)]


@pytest.mark.parametrize("last", [ROW2, QUOTED], ids=["plain", "quoted"])
def test_last_line_without_newline_is_unreadable(make_csv, last: str) -> None:
    """A last line with no line ending may be cut short: it is Unreadable, never partly used."""
    path = make_csv("tx.csv", ROW1, last, end="")
    assert rows_of(path) == [(2, ROW1), (3, Unreadable(TRUNCATED))]


def test_unterminated_quote_at_end_of_file_is_unreadable(make_csv) -> None:
    """A quote opened and never closed swallows the rest of the file into one Unreadable row."""
    path = make_csv("tx.csv", ROW1, f'T7,{ALICE_CARD},MID-MCD-0001,"Open quote,9.00,USD', ROW2)
    [first, (line, bad)] = rows_of(path)
    assert (first, line) == ((2, ROW1), 3)
    assert isinstance(bad, Unreadable)
    assert bad.message.startswith("cannot be read as CSV")


def test_bad_quoting_mid_file_is_one_unreadable_row(make_csv) -> None:
    """A stray character after a closing quote makes that row Unreadable; the next rows still come."""
    bad = f'T8,{ALICE_CARD},MID-MCD-0001,"Joe"s Diner,9.00,USD,2026-11-23,purchase,'
    [first, (line, unreadable), last] = rows_of(make_csv("tx.csv", ROW1, bad, ROW2))
    assert (first, line, last) == ((2, ROW1), 3, (4, ROW2))
    assert isinstance(unreadable, Unreadable)
    assert unreadable.message.startswith("cannot be read as CSV")


def test_header_only_file_has_no_rows(make_csv) -> None:
    """A file with just its header yields no rows."""
    assert rows_of(make_csv("tx.csv")) == []


def test_skip_passes_over_exactly_that_many_rows(make_csv) -> None:
    """skip=N leaves out the first N rows, Unreadable ones included, so a resumed run sees the rest."""
    spread = f'T5,{ALICE_CARD},MID-MCD-0001,"Two\nlines",9.00,USD,2026-11-23,purchase,'
    bad = f'T8,{ALICE_CARD},MID-MCD-0001,"Joe"s Diner,9.00,USD,2026-11-23,purchase,'
    path = make_csv("tx.csv", ROW1, "", spread, bad, QUOTED, "", ROW2, ROW3, end="")
    everything = rows_of(path)
    assert [line for line, _ in everything] == [2, 4, 6, 7, 9, 10]
    assert isinstance(everything[2][1], Unreadable)
    assert everything[-1] == (10, Unreadable(TRUNCATED))
    for skip in range(len(everything) + 2):
        assert rows_of(path, skip=skip) == everything[skip:]


def test_reading_rows_closes_the_file(make_csv) -> None:
    """A read stopped part way closes its file (no ResourceWarning under filterwarnings=error)."""
    rows = read_rows(inspect_file(make_csv("tx.csv", ROW1, ROW2)))
    assert next(rows) == (2, ROW1)
    rows.close()
