"""Export files: cells that spreadsheets would run as formulas are neutralised; files appear whole."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.exports import (
    CREDIT_COLUMNS,
    CREDIT_OUTSIDE,
    REJECT_COLUMNS,
    REJECT_OUTSIDE,
    CsvAppender,
    neutralise,
    write_csv,
)


def read_back(path: Path) -> list[list[str]]:
    """Return the rows of a written CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("=1+1", "'=1+1"),
        ("@SUM(1)", "'@SUM(1)"),
        ("+1", "'+1"),
        ("+5.00", "'+5.00"),
        ("-1+1", "'-1+1"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("-", "'-"),
        ("--5", "'--5"),
        ("-5.00abc", "'-5.00abc"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\0=1", "'\0=1"),
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ],
)
def test_formula_like_cells_get_a_leading_quote(cell: str, shown: str) -> None:
    """A cell starting with = + - @ tab CR or NUL is prefixed with ' so spreadsheets show it as text."""
    assert neutralise(cell) == shown


@pytest.mark.parametrize(
    "cell", ["-5.00", "-5", "-10.50", "12", "5.00", "0", "", "McDonald's", "Joe = Co", "a-b", "T-000017",
             "CR0123ABC", "'=already quoted", " =1", "1+1"],
)
def test_numbers_and_ordinary_text_stay_as_they_are(cell: str) -> None:
    """Plain numbers (negative ones too: clawbacks) and ordinary text are not changed."""
    assert neutralise(cell) == cell


def test_write_csv_writes_header_and_crlf_rows(tmp_path: Path) -> None:
    """write_csv writes the header then every row, lines ending in CRLF, and returns the row count."""
    path = tmp_path / "out" / "credits.csv"
    count = write_csv(path, ("credit_id", "amount", "note"), [("CR1", "-5.00", None), ("CR2", 500, "ok")])
    assert count == 2
    assert path.read_bytes() == b"credit_id,amount,note\r\nCR1,-5.00,\r\nCR2,500,ok\r\n"


def test_write_csv_neutralises_every_cell(tmp_path: Path) -> None:
    """Every cell of every row is neutralised, whatever its column."""
    path = tmp_path / "rejects.csv"
    write_csv(path, REJECT_COLUMNS, [("=1", "@col", "-T1", "+reason"), (3, "amount", "T2", "-1+1")])
    assert read_back(path) == [list(REJECT_COLUMNS), ["'=1", "'@col", "'-T1", "'+reason"],
                               ["3", "amount", "T2", "'-1+1"]]


def test_write_csv_leaves_no_temporary_file(tmp_path: Path) -> None:
    """After write_csv only the target file is in the folder."""
    write_csv(tmp_path / "credits.csv", CREDIT_COLUMNS, [("CR1",) * len(CREDIT_COLUMNS)])
    assert [p.name for p in tmp_path.iterdir()] == ["credits.csv"]


def test_write_csv_replaces_an_earlier_file_whole(tmp_path: Path) -> None:
    """Writing again replaces the earlier file's content entirely."""
    path = tmp_path / "credits.csv"
    write_csv(path, ("a",), [("1",), ("2",), ("3",)])
    write_csv(path, ("a",), [("9",)])
    assert read_back(path) == [["a"], ["9"]]


def test_write_csv_failing_part_way_keeps_the_earlier_file(tmp_path: Path) -> None:
    """If producing the rows fails, the file already in place is left untouched."""
    path = tmp_path / "credits.csv"
    write_csv(path, ("a",), [("old",)])

    def rows() -> Iterator[tuple[str]]:
        yield ("new",)
        raise RuntimeError("ledger went away")

    with pytest.raises(RuntimeError):
        write_csv(path, ("a",), rows())
    assert read_back(path) == [["a"], ["old"]]


def test_appender_neutralises_only_the_outside_columns(tmp_path: Path) -> None:
    """CsvAppender neutralises the columns named as outside text and writes the others as given."""
    path = tmp_path / "credits.csv"
    appender = CsvAppender(path, CREDIT_COLUMNS, CREDIT_OUTSIDE)
    appender.append([
        ("CR1", "=HYPERLINK(\"x\")", "amex-mcdonalds", "-5.00", "USD", "0005", "clawback", "CR0"),
        ("CR2", "T-2", "amex-mcdonalds", "5.00", "USD", "0005", "credit", ""),
    ])
    appender.append([("CR3", "@T3", "amex-mcdonalds", "5.00", "USD", "0005", "credit", None)])
    appender.finish()
    assert read_back(path) == [
        list(CREDIT_COLUMNS),
        ["CR1", "'=HYPERLINK(\"x\")", "amex-mcdonalds", "-5.00", "USD", "0005", "clawback", "CR0"],
        ["CR2", "T-2", "amex-mcdonalds", "5.00", "USD", "0005", "credit", ""],
        ["CR3", "'@T3", "amex-mcdonalds", "5.00", "USD", "0005", "credit", ""],
    ]


def test_appender_leaves_inside_columns_alone(tmp_path: Path) -> None:
    """Cells in columns the bot built itself are not touched, even if they look like formulas."""
    path = tmp_path / "rejects.csv"
    appender = CsvAppender(path, REJECT_COLUMNS, REJECT_OUTSIDE)
    appender.append([(2, "=col", "@T1", "=reason"), (3, "amount", "T3", "-5.00")])
    appender.finish()
    assert read_back(path) == [list(REJECT_COLUMNS), ["2", "=col", "'@T1", "'=reason"],
                               ["3", "amount", "T3", "-5.00"]]


def test_appender_file_appears_only_on_finish(tmp_path: Path) -> None:
    """Until finish() the target does not exist; finish() renames the partial file into place with CRLF."""
    path = tmp_path / "exports" / "credits.csv"
    appender = CsvAppender(path, ("a", "b"), ("b",))
    appender.append([("1", "x")])
    assert not path.exists()
    appender.finish()
    assert [p.name for p in path.parent.iterdir()] == ["credits.csv"]
    assert path.read_bytes() == b"a,b\r\n1,x\r\n"


def test_appender_abandon_leaves_nothing(tmp_path: Path) -> None:
    """abandon() closes and deletes the partial file and never creates the target."""
    path = tmp_path / "credits.csv"
    appender = CsvAppender(path, ("a",), ("a",))
    appender.append([("1",)])
    appender.abandon()
    assert list(tmp_path.iterdir()) == []


def test_appender_abandon_keeps_an_earlier_finished_file(tmp_path: Path) -> None:
    """Abandoning a new export leaves the previous complete file where it was."""
    path = tmp_path / "credits.csv"
    first = CsvAppender(path, ("a",), ())
    first.append([("old",)])
    first.finish()
    second = CsvAppender(path, ("a",), ())
    second.append([("new",)])
    second.abandon()
    assert read_back(path) == [["a"], ["old"]]
    assert [p.name for p in tmp_path.iterdir()] == ["credits.csv"]
