"""Reading the card system's file: checked whole (hash, UTF-8) first, then streamed row by row."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.transaction_csv import (
    TRUNCATED,
    FileFacts,
    Inspection,
    RawRow,
    ReadLimits,
    Unreadable,
    inspect_file,
    read_header,
    read_rows,
)
from bot.errors import FileRejected
from tests.conftest import HEADER, examples
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


# --- bounded reading: the same rows as the unbounded reader, whatever the file looks like ---------


def unbounded_rows(path: Path) -> list[tuple[int, object, int]]:
    """The reader as it was before rows were bounded (csv decides where a quoted record ends), as
    (first line, row, bytes the record takes): the reference the bounded reader must agree with."""
    import csv as csv_module

    def quoted(first: str, lines: Iterator[str]) -> tuple[object, int, list[str]]:
        used = [first]

        def feed() -> Iterator[str]:
            yield first
            for more in lines:
                used.append(more)
                yield more

        reader = csv_module.reader(feed(), strict=True)
        try:
            row: object = next(reader)
        except csv_module.Error as exc:
            row = Unreadable(f"cannot be read as CSV: {exc}")
        return row, max(reader.line_num, 1), used

    csv_module.field_size_limit(1 << 16)  # as it was (read_rows sets its own limit)
    out: list[tuple[int, object, int]] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = iter(handle)
        _, number, _ = quoted(next(lines, ""), lines)
        for text in lines:
            number += 1
            start = number
            taken = [text]
            row: object
            if '"' in text:
                row, used, taken = quoted(text, lines)
                number += used - 1
                if not taken[-1].endswith(("\n", "\r")):
                    row = Unreadable(TRUNCATED)
            else:
                stripped = text.rstrip("\r\n")
                row = Unreadable(TRUNCATED) if stripped == text and text else stripped
            if row:
                out.append((start, row, len("".join(taken).encode())))
    return out


CSV_TEXT = st.lists(st.sampled_from(["a", "1", ",", '"', '"', '""', "\n", "\r", "\r\n", " ", "é", "xyz,"]),
                    max_size=50).map("".join)


@settings(max_examples=examples(400), derandomize=True, database=None, deadline=None)
@given(header=CSV_TEXT, body=CSV_TEXT, limit=st.integers(min_value=4, max_value=40))
def test_bounded_rows_equal_the_unbounded_reader_but_for_rows_over_the_limit(header: str, body: str,
                                                                             limit: int) -> None:
    """Every row within the limit reads as the unbounded csv-driven reader read it, on the same line;
    a longer row becomes a too-long reject on its own first line; no later line number moves."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tx.csv"
        path.write_bytes((header + "\n" + body).encode())
        expected = unbounded_rows(path)
        facts = inspect_file(path, ReadLimits(max_line_bytes=limit))
        unlimited = inspect_file(path, ReadLimits(max_line_bytes=10_000))
        assert list(read_rows(unlimited)) == [(line, row) for line, row, _ in expected]
        header_bytes = len(next(iter(unbounded_header_extent(path))).encode())
        if header_bytes > limit:
            return  # read_header refuses such a file before any row is read
        too_long = Unreadable(ReadLimits(max_line_bytes=limit).too_long())
        assert list(read_rows(facts)) == [(line, row if size <= limit else too_long)
                                          for line, row, size in expected]


def unbounded_header_extent(path: Path) -> list[str]:
    """The header record's text as csv reads it (its lines joined)."""
    import csv as csv_module

    csv_module.field_size_limit(1 << 16)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        taken: list[str] = []

        def feed() -> Iterator[str]:
            for line in handle:
                taken.append(line)
                yield line

        with contextlib.suppress(csv_module.Error, StopIteration):
            next(csv_module.reader(feed(), strict=True))
        return ["".join(taken)]


# --- limits: a row, a field, the header ----------------------------------------------------------

SMALL = ReadLimits(max_line_bytes=200, max_columns=12)


def limited(path: Path, limits: ReadLimits = SMALL) -> list[RawRow]:
    return list(read_rows(inspect_file(path, limits)))


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("shape", ["unquoted", "quoted", "many-fields", "quoted-newlines"])
def test_a_row_over_the_limit_is_rejected_on_its_line_and_later_lines_keep_their_numbers(
        make_csv, newline: str, shape: str) -> None:
    """A row longer than max_line_bytes becomes one too-long reject on its first line; the next row
    comes whole, on its own line number, whether the long row was plain, quoted or spanned lines."""
    long_row = {"unquoted": "T9," + "x" * 500, "quoted": f'T9,"{"y" * 500}"', "many-fields": "," * 500,
                "quoted-newlines": 'T9,"' + newline.join(["z" * 60] * 6) + '"'}[shape]
    path = make_csv("tx.csv", ROW1, long_row, ROW2, newline=newline)
    after = 4 + (5 if shape == "quoted-newlines" else 0)
    assert limited(path) == [(2, ROW1), (3, Unreadable(SMALL.too_long())), (after, ROW2)]
    assert "longer than 200 bytes ([reconcile] max_line_bytes)" in SMALL.too_long()


def test_a_row_exactly_at_the_limit_is_read_and_one_byte_more_is_not(make_csv) -> None:
    """The limit counts the row's bytes with its line ending (multi-byte characters count in full)."""
    fits = "T1," + "é" * ((200 - 4) // 2)  # 3 + 196 + 1 (LF) = 200 bytes
    path = make_csv("tx.csv", fits, fits + "a")
    assert limited(path) == [(2, fits), (3, Unreadable(SMALL.too_long()))]


def test_a_crlf_cut_in_two_by_the_limit_is_still_one_line_ending(tmp_path: Path) -> None:
    """When the limit falls between the CR and the LF of a long line, the LF is not taken for a line."""
    limits = ReadLimits(max_line_bytes=20)
    data = "h\r\n" + "a" * 20 + "\r\n" + "T2\r\n"  # the long line's CR is its 21st character
    path = write(tmp_path, data.encode())
    assert list(read_rows(inspect_file(path, limits))) == [(2, Unreadable(limits.too_long())), (3, "T2")]


def test_a_header_longer_than_the_limit_refuses_the_file(make_csv) -> None:
    """A header over max_line_bytes refuses the whole file before any row, naming the key to raise."""
    path = make_csv("tx.csv", ROW1, header=HEADER + "," + "x" * 300)
    with pytest.raises(FileRejected, match=r"^tx\.csv: line 1: the header is longer than 200 bytes "
                                           r"\(\[reconcile\] max_line_bytes\); the whole file was refused"):
        read_header(inspect_file(path, SMALL))


def test_a_header_with_more_columns_than_allowed_refuses_the_file(make_csv) -> None:
    """A header of more than max_columns columns refuses the file, saying how many it has."""
    path = make_csv("tx.csv", ROW1, header=HEADER + ",a,b,c,d")
    with pytest.raises(FileRejected, match=r"^tx\.csv: line 1: the header has 13 columns, more than 12 "
                                           r"\(\[reconcile\] max_columns\)"):
        read_header(inspect_file(path, SMALL))


def test_csv_is_told_the_field_limit_from_the_row_limit(make_csv) -> None:
    """csv's field size limit is the row limit of the file being read."""
    import csv as csv_module

    read_header(inspect_file(make_csv("tx.csv", ROW1), SMALL))
    assert csv_module.field_size_limit() == 200


def peak_while(action) -> int:  # type: ignore[no-untyped-def]
    """Return the peak of Python memory allocated while ``action`` runs, in bytes."""
    import tracemalloc

    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_over_long_line_of_many_short_fields_is_read_in_flat_memory(tmp_path: Path) -> None:
    """A 20 MB line of ten million fields costs a few KiB of memory, not the line (it used to cost
    several times the line); the row after it is read as usual."""
    path = tmp_path / "tx.csv"
    with path.open("w") as out:
        out.write(HEADER + "\n")
        for _ in range(200):
            out.write("a," * 50_000)  # 20 MB in all, on one line
        out.write("\n" + ROW1 + "\n")
    facts = inspect_file(path)
    rows: list[RawRow] = []

    peak = peak_while(lambda: rows.extend(read_rows(facts)))

    assert rows == [(2, Unreadable(facts.limits.too_long())), (3, ROW1)]
    assert peak < 256 * 1024


def test_an_over_long_line_of_quoted_fields_is_read_in_flat_memory(tmp_path: Path) -> None:
    """A 20 MB line of five million quoted fields ("a","a",...) is followed to its end in a few KiB."""
    path = tmp_path / "tx.csv"
    with path.open("w") as out:
        out.write(HEADER + "\n")
        for _ in range(100):
            out.write('"a",' * 50_000)
        out.write("\n" + ROW1 + "\n")
    facts = inspect_file(path)
    rows: list[RawRow] = []

    peak = peak_while(lambda: rows.extend(read_rows(facts)))

    assert rows == [(2, Unreadable(facts.limits.too_long())), (3, ROW1)]
    assert peak < 256 * 1024


@pytest.mark.parametrize("extra", [10_000, 30_000])
def test_a_header_of_tens_of_thousands_of_columns_is_refused_in_flat_memory(tmp_path: Path,
                                                                             extra: int) -> None:
    """An absurdly wide header is refused from its first few KiB, without holding the header."""
    path = write(tmp_path, (HEADER + "".join(f",extra_column_{n}" for n in range(extra)) + "\n"
                            + ROW1 + "\n").encode())
    facts = inspect_file(path)

    def refuse() -> None:
        with pytest.raises(FileRejected, match="the header is longer than 8,192 bytes"):
            read_header(facts)

    assert peak_while(refuse) < 256 * 1024


# --- encodings that are not UTF-8 ----------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "name"), [
    ("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-32", "UTF-32"),
    ("utf-32-be", "UTF-32"),
])
def test_a_utf16_or_utf32_file_is_named_as_such(make_csv, encoding: str, name: str) -> None:
    """A UTF-16 or UTF-32 file (with a byte order mark or without) is refused as what it is, with the fix."""
    path = make_csv("wide.csv", ROW1, encoding=encoding)
    with pytest.raises(FileRejected) as caught:
        inspect_file(path)
    message = str(caught.value)
    assert message.startswith(f"wide.csv: line 1: is {name} (")
    assert message.endswith("Export it as UTF-8")
    assert "Windows-1252" not in message


def test_a_file_with_a_stray_nul_is_not_taken_for_utf16(make_csv) -> None:
    """One NUL byte in a data row does not make the file UTF-16: the row is left to be rejected."""
    path = make_csv("tx.csv", ROW1, ROW2.replace("FedEx", "Fed\x00Ex"))
    assert inspect_file(path).lines == 3
