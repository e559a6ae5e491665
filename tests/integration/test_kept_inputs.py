"""The redacted copy the inbox keeps of a transaction file: no card number left, nothing else changed."""

from __future__ import annotations

import codecs
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.kept_inputs import _Cursor, write_redacted_copy
from bot.domain.cards import find_card_numbers, has_long_digit_run, mask_long_digit_runs
from tests.conftest import HEADER, examples
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, tx_row

MISTYPED = "378282246310006"  # Alice's card with its last digit wrong: not Luhn-valid
ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")


def redacted(tmp_path: Path, data: bytes, limit: int = 8192) -> bytes:
    """Write ``data`` as a file, redact it, and return the copy's bytes."""
    source, target = tmp_path / "day.csv", tmp_path / "kept" / "day.csv"
    source.write_bytes(data)
    write_redacted_copy(source, target, max_line_bytes=limit)
    return target.read_bytes()


def holds_a_card(data: bytes, *cards: str) -> bool:
    """Tell whether any of ``cards`` is in ``data`` in any of the encodings a file may use."""
    return any(card.encode(encoding) in data for card in cards for encoding in ENCODINGS)


def test_the_card_number_column_keeps_its_last_four_digits_and_nothing_else_changes(tmp_path):
    """Each card_number becomes ***********0005; every other byte (ids, amounts, CRLF, BOM) is as it was."""
    rows = [tx_row("T1", ALICE_CARD, amount="12.50"), tx_row("T2", BOB_CARD, "MID-FDX-0001", "25.00"),
            tx_row("T3", "378282246310", amount="1.00")]  # 12 digits: a card cut short, still masked
    data = codecs.BOM_UTF8 + "\r\n".join((HEADER, *rows, "")).encode()

    copy = redacted(tmp_path, data)

    expected = data.replace(ALICE_CARD.encode(), b"***********0005").replace(
        BOB_CARD.encode(), b"***********8431").replace(b"378282246310", b"********6310")
    assert copy == expected


MASKED = {ALICE_CARD: "***********0005", MISTYPED: "***********0006",
          "3782 822463 10005": "**** ****** *0005", "3782-822463-10005": "****-******-*0005"}


@pytest.mark.parametrize("where", ["merchant_name", "amount", "transaction_date", "original"])
@pytest.mark.parametrize("card", MASKED, ids=["valid", "mistyped", "spaced", "dashed"])
def test_a_card_number_in_any_other_column_is_cut_to_its_last_four(tmp_path, where, card):
    """A card (even one digit off, or written with spaces or dashes) anywhere in a line keeps 4 digits."""
    values = {"merchant_name": {"name": f"Shop {card}"}, "amount": {"amount": card},
              "transaction_date": {"day": card}, "original": {"original": card, "kind": "refund"}}[where]
    data = f"{HEADER}\n{tx_row('T1', BOB_CARD, **values)}\n".encode()

    copy = redacted(tmp_path, data).decode()

    assert not holds_a_card(copy.encode(), ALICE_CARD, MISTYPED, BOB_CARD)
    assert not has_long_digit_run(copy)
    shown = MASKED[card]
    assert f",{shown}," in copy or f"Shop {shown}," in copy or copy.endswith(f",{shown}\n")
    assert "T1,***********8431,MID-MCD-0001," in copy


def test_quoted_and_multi_line_records_are_followed_to_the_card_column(tmp_path):
    """A quoted card field, and the row after a merchant name spanning lines, are both masked."""
    rows = [f'T1,"{ALICE_CARD}",MID-MCD-0001,"McDonald\'s\nTimes Square, NY",12.50,USD,2026-11-21,purchase,',
            f'T2,{BOB_CARD},MID-FDX-0001,"Fed""Ex",25.00,USD,2026-11-21,purchase,',
            f'"T3","{CAROL_CARD}","MID","Shop","1.00","USD","2026-11-21","purchase",""']
    data = "\n".join((HEADER, *rows, "")).encode()

    copy = redacted(tmp_path, data).decode()

    assert copy.splitlines() == [
        HEADER,
        'T1,"***********0005",MID-MCD-0001,"McDonald\'s',
        'Times Square, NY",12.50,USD,2026-11-21,purchase,',
        'T2,***********8431,MID-FDX-0001,"Fed""Ex",25.00,USD,2026-11-21,purchase,',
        '"T3","***********1000","MID","Shop","1.00","USD","2026-11-21","purchase",""',
    ]


def test_a_short_card_value_in_the_card_column_keeps_only_its_last_four(tmp_path):
    """A garbled card value (letters in it, too few digits) still shows no more than its last 4 digits."""
    data = f"{HEADER}\n{tx_row('T1', '3782822463l0005')}\n{tx_row('T2', '37828224')}\n".encode()

    lines = redacted(tmp_path, data).decode().splitlines()

    assert lines[1].startswith("T1,**********l0005,")
    assert lines[2].startswith("T2,****8224,")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "cp1252"])
def test_a_file_in_another_encoding_is_redacted_all_the_same(tmp_path, encoding):
    """A UTF-16, UTF-32 or Windows-1252 file (refused, but kept) keeps no card number in any form."""
    rows = [tx_row("T1", ALICE_CARD, name="Café"), tx_row("T2", "3714 496353 98431"),
            tx_row("T3", CAROL_CARD, amount=MISTYPED)]
    data = "\r\n".join((HEADER, *rows, "")).encode(encoding)

    copy = redacted(tmp_path, data)

    assert len(copy) == len(data)
    assert not holds_a_card(copy, ALICE_CARD, BOB_CARD, CAROL_CARD, MISTYPED, "3714 496353 98431")
    assert copy.decode(encoding).count("0005") == 1


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_a_file_that_does_not_parse_as_csv_is_masked_by_its_digit_runs(tmp_path, separator):
    """A semicolon-, tab- or bar-separated file keeps no card number, though its card column is not found."""
    data = (HEADER.replace(",", separator) + "\n"
            + tx_row("T1", ALICE_CARD).replace(",", separator) + "\n").encode()

    copy = redacted(tmp_path, data)

    assert not holds_a_card(copy, ALICE_CARD)
    assert b"***********0005" in copy


def test_a_line_longer_than_the_limit_has_every_digit_masked_and_later_lines_are_still_redacted(tmp_path):
    """An over-long line keeps its shape with no digit left; the card column is still found after it."""
    long_line = "T1," + ",".join(["1234", ALICE_CARD] * 200)
    data = f"{HEADER}\n{long_line}\n{tx_row('T2', BOB_CARD)}\n".encode()

    copy = redacted(tmp_path, data, limit=600).decode().splitlines()

    assert copy[1] == "T*," + ",".join(["****", "*" * 15] * 200)
    assert copy[2].startswith("T2,***********8431,MID-MCD-0001,")


def test_a_record_carried_on_from_an_over_long_line_is_masked_whole_to_its_end(tmp_path):
    """When a quoted field opened in an over-long line goes on over more lines, those lines lose every
    digit too; the record after it is redacted column by column again."""
    opened = f'T1,{ALICE_CARD},MID,"' + "a" * 700
    data = f"{HEADER}\n{opened}\nstill quoted {BOB_CARD} 12\nend\",1.00,USD,2026-11-21,purchase,\n" \
           f"{tx_row('T2', CAROL_CARD)}\n"

    lines = redacted(tmp_path, data.encode(), limit=600).decode().splitlines()

    assert lines[1] == "T*,***************,MID,\"" + "a" * 700
    assert lines[2] == "still quoted *************** **"
    assert lines[3] == 'end",*.**,USD,****-**-**,purchase,'
    assert lines[4].startswith("T2,***********1000,MID-MCD-0001,Shop,12.50,")


def test_the_copy_is_readable_by_its_owner_only_and_written_whole(tmp_path, permissive_umask):
    """The copy is 0600 (its folder 0700) under umask 022, and no temporary file is left beside it."""
    redacted(tmp_path, f"{HEADER}\n{tx_row('T1')}\n".encode())

    kept = tmp_path / "kept"
    assert [p.name for p in kept.iterdir()] == ["day.csv"]
    assert stat.S_IMODE((kept / "day.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.stat().st_mode) == 0o700


# --- properties -------------------------------------------------------------------------------------

PIECES = st.sampled_from([ALICE_CARD, MISTYPED, "4111 1111 1111 1111", "12", "1234567", ",", ",", '"', "\n",
                          "\r\n", "é", "T1", " ", "-", "\x00", "0005"])


@settings(max_examples=examples(300), derandomize=True, database=None, deadline=None)
@given(body=st.lists(PIECES, max_size=40).map("".join), limit=st.integers(min_value=16, max_value=200))
def test_no_long_digit_run_survives_and_only_digits_change(body: str, limit: int) -> None:
    """Whatever the file, the copy has the same length, differs only where digits became *, and holds
    no run of 13 or more digits nor any Luhn-valid card number."""
    data = (HEADER + "\n" + body).encode()
    with tempfile.TemporaryDirectory() as folder:
        copy = redacted(Path(folder), data, limit=limit)

    assert len(copy) == len(data)
    assert all(a == b or (chr(a).isdigit() and b == ord("*")) for a, b in zip(data, copy, strict=True))
    text = copy.decode("latin-1")
    assert not has_long_digit_run(text)
    assert find_card_numbers(text) == []


CELLS = st.sampled_from(["", "T1", ALICE_CARD, "12.50", "a b", "3782-8224", "é", "0005",
                         "Shop 4111 1111 1111 1111", "1234567890123", "123456789012",
                         "9-9-9-9-9-9-9-9-9-9-9-9-9"])


@settings(max_examples=examples(300), derandomize=True, database=None, deadline=None)
@given(cells=st.lists(CELLS, min_size=1, max_size=12), card=st.integers(min_value=0, max_value=10),
       ending=st.sampled_from(["\n", "\r\n", "\r"]))
def test_the_unquoted_fast_path_masks_exactly_as_the_field_walk(cells: list[str], card: int,
                                                                 ending: str) -> None:
    """For a line without quotes, splitting at commas (and masking digit runs only in fields long enough
    to hold one) redacts exactly as walking the fields and masking the whole line does."""
    line = ",".join(cells) + ending
    assert _Cursor(card).walk(line, True) == mask_long_digit_runs(_Cursor(card).walk_slowly(line, True))
