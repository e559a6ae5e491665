"""The inbox keeps no card number: a redacted copy of each file, or nothing, and the reason for a refusal."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from bot.domain.cards import find_card_numbers
from bot.services.inbox import ensure_inbox, reconcile_inbox
from tests.conftest import HEADER
from tests.fakes import ALICE_CARD, BOB_CARD, tx_row

MISTYPED = "378282246310006"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def drop(inbox: Path, name: str, data: bytes) -> Path:
    """Put a file in the inbox as ops would, long enough ago to count as copied in whole."""
    path = inbox / name
    path.write_bytes(data)
    os.utime(path, (0, 0))
    return path


def day(*rows: str, header: str = HEADER) -> bytes:
    return "\n".join((header, *rows, "")).encode()


def files_in(folder: Path) -> dict[str, bytes]:
    """The files directly in ``folder`` (none if it does not exist), by name."""
    if not folder.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def assert_no_card_anywhere(root: Path) -> None:
    """No file under ``root`` holds a card number (plain, mistyped, or in UTF-16/32)."""
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for card in (ALICE_CARD, BOB_CARD, MISTYPED):
                for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le"):
                    assert card.encode(encoding) not in data, path
            assert find_card_numbers(data.decode("latin-1")) == [], path


def test_a_reconciled_file_is_kept_redacted_and_the_original_is_gone(ledger, inbox, permissive_umask):
    """processed/day.csv is the file with its card numbers cut to the last 4, readable by its owner only."""
    drop(inbox, "day.csv", day(tx_row("T1", ALICE_CARD), tx_row("T2", BOB_CARD, "MID-FDX-0001", "25.00",
                                                             name=f"FedEx {MISTYPED}")))

    [result] = reconcile_inbox(ledger.deps, ledger.catalog, inbox)

    assert result.summary is not None
    assert result.summary.status == "reconciled"
    assert result.kept_as == inbox / "processed" / "day.csv"
    assert files_in(inbox) == {}
    assert files_in(inbox / "processed")["day.csv"] == day(
        tx_row("T1", "***********0005"), tx_row("T2", "***********8431", "MID-FDX-0001", "25.00",
                                                  name="FedEx ***********0006"))
    assert stat.S_IMODE(result.kept_as.stat().st_mode) == 0o600
    assert_no_card_anywhere(inbox)


def test_with_keep_inputs_none_nothing_is_kept(ledger, inbox):
    """keep="none": a reconciled file leaves nothing behind; a refused one only its reason."""
    drop(inbox, "day.csv", day(tx_row("T1", ALICE_CARD)))
    drop(inbox, "bad.csv", day(f"T1,{ALICE_CARD}", header="transaction_id,card_number"))

    results = reconcile_inbox(ledger.deps, ledger.catalog, inbox, keep="none")

    assert sorted((r.name, r.kept_as) for r in results) == [("bad.csv", None), ("day.csv", None)]
    assert files_in(inbox) == files_in(inbox / "processed") == {}
    assert list(files_in(inbox / "failed")) == ["bad.csv.reason.txt"]
    assert "lacks merchant_id" in (inbox / "failed" / "bad.csv.reason.txt").read_text()


@pytest.mark.parametrize("keep", ["redacted", "none"])
def test_a_file_refused_for_security_codes_is_deleted_at_once_leaving_only_the_reason(ledger, inbox, keep,
                                                                                      caplog):
    """A file with a CVV column is never kept, not even redacted: failed/ holds just the reason."""
    caplog.set_level(logging.INFO)
    drop(inbox, "cvv.csv", day(tx_row("T1", ALICE_CARD) + ",123", header=HEADER + ",CVV2"))

    [result] = reconcile_inbox(ledger.deps, ledger.catalog, inbox, keep=keep)

    assert result.kept_as is None
    assert files_in(inbox) == {}
    assert list(files_in(inbox / "failed")) == ["cvv.csv.reason.txt"]
    assert "'cvv2' column" in (inbox / "failed" / "cvv.csv.reason.txt").read_text()
    assert "the file was deleted" in caplog.text
    assert_no_card_anywhere(inbox)


@pytest.mark.parametrize(("data", "says"), [
    ("\n".join((HEADER, tx_row("T1", ALICE_CARD, name="Café"))).encode("utf-16") + b"\n\x00", "UTF-16"),
    ((HEADER + "\n" + tx_row("T1", ALICE_CARD, name="Café") + "\n").encode("cp1252"), "not UTF-8"),
    (day(tx_row("T1", ALICE_CARD).replace(",", ";"), header=HEADER.replace(",", ";")), "semicolons"),
    (day(f"T1,{ALICE_CARD},{MISTYPED}", header="id,card_number,amount"), "lacks"),
], ids=["utf-16", "cp1252", "semicolons", "missing-columns"])
def test_a_file_refused_for_another_reason_is_kept_redacted_beside_its_reason(ledger, inbox, data, says):
    """An unusable file goes to failed/ redacted by its digit runs, with a reason that quotes no card."""
    drop(inbox, "day.csv", data)

    [result] = reconcile_inbox(ledger.deps, ledger.catalog, inbox)

    assert result.kept_as == inbox / "failed" / "day.csv"
    assert sorted(files_in(inbox / "failed")) == ["day.csv", "day.csv.reason.txt"]
    assert says in (inbox / "failed" / "day.csv.reason.txt").read_text()
    assert len(result.kept_as.read_bytes()) == len(data)
    assert_no_card_anywhere(inbox)


def test_the_reason_file_never_quotes_a_card_number(ledger, inbox):
    """A file with no header (a data row first) is refused by a reason that masks the cards it quotes."""
    drop(inbox, "day.csv", day(tx_row("T1", BOB_CARD), header=f"{ALICE_CARD},{ALICE_CARD},x"))

    reconcile_inbox(ledger.deps, ledger.catalog, inbox)

    reason = (inbox / "failed" / "day.csv.reason.txt").read_text()
    assert "appears twice" in reason
    assert "***********0005" in reason
    assert_no_card_anywhere(inbox)


def test_the_inbox_folders_are_made_private(ledger, tmp_path, permissive_umask):
    """ensure_inbox makes the inbox, processed/ and failed/ 0700, tightening a folder left 0755."""
    inbox = tmp_path / "data" / "inbox"
    inbox.mkdir(parents=True, mode=0o755)

    ensure_inbox(inbox)

    for folder in (inbox, inbox / "processed", inbox / "failed"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
