"""Member files: refused whole when not UTF-8, rows numbered by physical line, bad quoting a row problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters import member_csv
from bot.adapters.member_csv import MAX_ROW_LINES, read_member_file
from bot.errors import FileRejected
from bot.services.members import IMPORT_COLUMNS
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, card_number

HEADER = "user_id,handle,card_number\n"
LATIN1_E_ACUTE = "é".encode("latin-1")


def write(tmp_path: Path, content: str | bytes, name: str = "members.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read(path: Path) -> list[tuple[int, object]]:
    return list(read_member_file(path, IMPORT_COLUMNS))


@pytest.mark.parametrize(("codec", "name", "order"), [
    ("utf-16-le", "UTF-16", "little-endian"), ("utf-16-be", "UTF-16", "big-endian"),
    ("utf-32-le", "UTF-32", "little-endian"), ("utf-32-be", "UTF-32", "big-endian"),
])
def test_a_file_with_a_utf16_or_utf32_byte_order_mark_is_refused_saying_so(tmp_path, codec, name, order):
    """Excel's 'Unicode text' is named for what it is, with how to save it as UTF-8."""
    path = write(tmp_path, "\ufeff".encode(codec) + f"{HEADER}1001,alice,{ALICE_CARD}\n".encode(codec))

    with pytest.raises(FileRejected) as info:
        read_member_file(path, IMPORT_COLUMNS)

    assert str(info.value) == (f"{path}: is {name} ({order}: it starts with a {name} byte-order mark), not "
                               "UTF-8; nothing was linked. Save it as UTF-8 (in Excel: Save As > CSV UTF-8) "
                               "and import it again")


def test_a_latin1_byte_far_into_the_file_is_refused_naming_its_physical_line_and_byte(tmp_path):
    """A bad byte on line 2,002 is reported at line 2,002 before any row is read."""
    good = "".join(f"{10_000 + n},h{n},{card_number(n)}\n" for n in range(2000))
    content = (HEADER + good).encode() + "2001,café,378282246310005\n".encode("latin-1") + b"2002,x,1\n"
    path = write(tmp_path, content)

    with pytest.raises(FileRejected) as info:
        read_member_file(path, IMPORT_COLUMNS)

    at = content.index(LATIN1_E_ACUTE)
    assert str(info.value).startswith(f"{path}: line 2002 (byte {at}) is not UTF-8; nothing was linked.")
    assert "Windows-1252 or Latin-1" in str(info.value)
    assert ALICE_CARD not in str(info.value)


def test_characters_split_across_read_chunks_are_fine_and_bad_bytes_are_still_placed_right(
        tmp_path, monkeypatch):
    """The check reads in chunks: a character cut by a chunk boundary is not an error, and a bad byte's
    line and offset count every chunk before it."""
    monkeypatch.setattr(member_csv, "_CHUNK", 5)
    fine = write(tmp_path, f"{HEADER}1001,zoë_é,{ALICE_CARD}\n", "fine.csv")
    member_csv.check_encoding(fine)
    content = f"{HEADER}1001,aé\n".encode() + b"1002,\xe9\n"
    bad = write(tmp_path, content, "bad.csv")

    at = content.index(LATIN1_E_ACUTE)
    with pytest.raises(FileRejected, match=rf"line 3 \(byte {at}\)"):
        member_csv.check_encoding(bad)


def test_nul_bytes_are_refused_as_utf16_without_a_byte_order_mark(tmp_path):
    """UTF-16 saved without a BOM decodes as 'UTF-8' full of NULs: refused, saying what it looks like."""
    path = write(tmp_path, f"{HEADER}1001,alice,{ALICE_CARD}\n".encode("utf-16-le"))

    with pytest.raises(FileRejected, match=r"line 1 .*holds a NUL byte, as UTF-16 or UTF-32 text without a "
                                           r"byte-order mark does"):
        read_member_file(path, IMPORT_COLUMNS)


def test_a_file_cut_in_the_middle_of_a_character_is_refused(tmp_path):
    """The last bytes being half a UTF-8 character means the file is cut short."""
    path = write(tmp_path, f"{HEADER}1001,zoë".encode()[:-1])

    with pytest.raises(FileRejected, match="ends in the middle of a UTF-8 character"):
        read_member_file(path, IMPORT_COLUMNS)


def test_rows_after_a_quoted_newline_keep_their_physical_line_numbers(tmp_path):
    """A row is known by its first physical line, so the rows after a multi-line field are numbered right."""
    path = write(tmp_path, "user_id,handle,card_number,note\n"
                           f'1001,alice,{ALICE_CARD},"moved house\nnew address\non file"\n'
                           f"1002,bob,{BOB_CARD},\n"
                           f'1003,carol,{CAROL_CARD},"two\r\nlines"\r\n'
                           "1004,dave,4111,\n")

    rows = read(path)

    assert [(line, row["user_id"]) for line, row in rows] == [
        (2, "1001"), (5, "1002"), (6, "1003"), (8, "1004")]
    assert rows[0][1]["note"] == "moved house\nnew address\non file"


def test_bad_quoting_is_a_problem_of_its_row_and_the_others_are_read(tmp_path):
    """A quote followed by more text fails its row only, named by line; the rows around it are read."""
    path = write(tmp_path, f'{HEADER}1001,alice,{ALICE_CARD}\n1002,"bob"x,{BOB_CARD}\n'
                           f"1003,carol,{CAROL_CARD}\n")

    rows = read(path)

    assert [line for line, _ in rows] == [2, 3, 4]
    assert rows[1][1] == "cannot be read as CSV (',' expected after '\"'); check the quotes on this row"
    assert [row["user_id"] for _, row in (rows[0], rows[2])] == ["1001", "1003"]


def test_a_quote_never_closed_loses_its_row_only(tmp_path):
    """An opening quote with no end would swallow the rest of the file: its row is reported and reading
    goes on at the next line."""
    path = write(tmp_path, f'{HEADER}1001,"alice,{ALICE_CARD}\n1002,bob,{BOB_CARD}\n'
                           f"1003,carol,{CAROL_CARD}\n")

    rows = read(path)

    assert [line for line, _ in rows] == [2, 3, 4]
    assert isinstance(rows[0][1], str)
    assert rows[0][1].startswith("has a quote that is never closed")
    assert [row["user_id"] for _, row in rows[1:]] == ["1002", "1003"]


def test_a_quote_open_for_more_than_the_limit_of_lines_is_given_up_there(tmp_path):
    """Reading ahead for a closing quote stops after MAX_ROW_LINES lines, so time stays linear."""
    after = "".join(f"{2000 + n},h{n},{card_number(n)}\n" for n in range(MAX_ROW_LINES + 5))
    path = write(tmp_path, f'{HEADER}1001,"alice,{ALICE_CARD}\n{after}9999,"late,{BOB_CARD}\n')

    rows = read(path)

    assert len(rows) == MAX_ROW_LINES + 7
    assert [line for line, row in rows if isinstance(row, str)] == [2, MAX_ROW_LINES + 8]


def test_blank_lines_empty_rows_a_bom_and_crlf_are_all_fine(tmp_path):
    """Spreadsheet leftovers (blank lines, rows of commas) are not rows; a UTF-8 BOM and CRLF are fine."""
    path = write(tmp_path, b"\xef\xbb\xbf" + f"user_id,handle,card_number\r\n\r\n1001,alice,{ALICE_CARD}\r\n"
                                            f",,\r\n1002 , bob ,{BOB_CARD}\r\n".encode())

    rows = read(path)

    assert rows == [(3, {"user_id": "1001", "handle": "alice", "card_number": ALICE_CARD}),
                    (5, {"user_id": "1002", "handle": "bob", "card_number": BOB_CARD})]


@pytest.mark.parametrize(("content", "expected"), [
    ("user_id,card_number\n1001,1\n", ":1: header lacks handle; expected user_id,handle,card_number"),
    ("user_id,handle,card_number,handle\n", ":1: header has handle more than once"),
    ("\n\n", ": is empty; expected a header row user_id,handle,card_number"),
    ('user_id,"handle,card_number\n', ":1: the header row has a quote that is never closed"),
])
def test_a_bad_header_refuses_the_whole_file(tmp_path, content, expected):
    """Without the columns, or with one twice, nothing in the file can be trusted: it is refused whole."""
    path = write(tmp_path, content)

    with pytest.raises(FileRejected) as info:
        read_member_file(path, IMPORT_COLUMNS)

    assert str(info.value).startswith(f"{path}{expected}")
