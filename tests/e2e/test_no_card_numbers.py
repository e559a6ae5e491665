"""PCI DSS 3.5.1: no card number in the database, logs, outputs or files the bot writes."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from bot.adapters.sql.engine import make_engine
from bot.cli import cli
from bot.domain.cards import find_card_numbers
from tests.conftest import POSTGRES_URL
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, sandbox_replies

MISTYPED = "378282246310006"  # one digit off: not Luhn-valid, still never to be echoed
CARDS = {ALICE_CARD, BOB_CARD, CAROL_CARD, MISTYPED, "4111111111111111"}
# A card fingerprint or key check value: HMAC-SHA256 hex under a random sandbox key, which holds a
# Luhn-valid run of 13-19 decimal digits about once in 225 (the raw byte search still covers them).
HMAC_HEX = re.compile(r"[0-9a-f]{64}")


def scan_database(path: Path) -> list[str]:
    """Return every Luhn-valid digit run in any cell of any table, plus raw hits in its files.

    On SQLite the database, WAL and shared-memory files are searched byte by byte too; on
    PostgreSQL a pg_dump of the whole database is searched as well (where pg_dump is installed).
    """
    url = POSTGRES_URL or f"sqlite:///{path}"
    engine = make_engine(url)
    found = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                found.extend(n for cell in row if isinstance(cell, str) and not HMAC_HEX.fullmatch(cell)
                             for n in find_card_numbers(cell))
    engine.dispose()
    if url.startswith("sqlite"):
        raws = [file.read_bytes() for file in path.parent.glob(path.name + "*")]
    elif shutil.which("pg_dump"):
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        raws = [subprocess.run(["pg_dump", "--no-owner", plain], capture_output=True, check=True).stdout]
    else:
        raws = []
    found.extend(card for raw in raws for card in CARDS if card.encode() in raw)
    return found


@pytest.fixture
def everything(project: Path, no_x_credentials, monkeypatch, caplog) -> tuple[str, set[str]]:
    """Drive every command that touches a card; return all output and the X ids that were used."""
    monkeypatch.chdir(project)
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    (project / "members.csv").write_text(
        "user_id,handle,card_number\n1002,bob,371449635398431\n1003,carol,3787 3449 3671 000\n"
        f"1004,dave,{MISTYPED}\n1005,erin,4111111111111111\n1006,frank,4111111111111111\n")
    sandbox = project / "data" / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    posts = [{"id": "2000000000000000011", "author_id": "1001", "text": "@offerbot #AmexMcDonalds"},
             {"id": "2000000000000000012", "author_id": "1002", "text": f"@offerbot #AmexZappos {BOB_CARD}"}]
    (sandbox / "mentions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in posts))
    (project / "day.csv").write_text(
        "transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,type\n"
        f"T1,{ALICE_CARD},MID-MCD-0001,McDonald's,12.50,USD,2026-11-21,purchase\n"
        f"T2,{BOB_CARD},MID-ZAP-0001,Zappos {CAROL_CARD},80.00,USD,2026-11-21,purchase\n"
        f"T3,{BOB_CARD},MID-FDX-0001,FedEx,{MISTYPED},USD,2026-11-21,purchase\n"
        f"T4,4111-1111-1111-1111,MID-FDX-0001,FedEx,5.00,USD,2026-11-21,purchase\n"
        f"T5,{ALICE_CARD},MID-MCD-0001,McDonald's,3782 822463 10005,USD,2026-11-21,purchase\n")
    day = (project / "day.csv").read_text()
    header = day.splitlines()[0]
    inbox = project / "data" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    dropped = {  # what ops drop in the inbox: kept redacted, or (security codes) not at all
        "inbox-day.csv": (day + f"T6,{CAROL_CARD},MID-MCD-0001,Shop {MISTYPED},9.00,USD,2026-11-21,purchase\n"
                          ).encode(),
        "cvv.csv": f"{header},cvv\nT1,{ALICE_CARD},MID-MCD-0001,M,1,USD,2026-11-21,purchase,123\n".encode(),
        "utf16.csv": day.encode("utf-16"),
        "cp1252.csv": day.replace("Zappos", "Zappos Café").encode("cp1252"),
        "semicolons.csv": day.replace(",", ";").encode(),
        "long-line.csv": (day + "T7," + f"{BOB_CARD}," * 2_000 + "\n").encode(),
    }
    for name, data in dropped.items():
        (inbox / name).write_bytes(data)
        os.utime(inbox / name, (0, 0))  # long settled
    outputs = [
        runner.invoke(cli, ["-v", "sync", "add", "1001", "alice"], input=ALICE_CARD + "\n"),
        runner.invoke(cli, ["-v", "sync", "add", "1009", "zed"], input=MISTYPED + "\n"),
        runner.invoke(cli, ["-v", "sync", "import", "members.csv"]),
        runner.invoke(cli, ["-v", "run", "--once"]),
        runner.invoke(cli, ["-v", "reconcile", "day.csv"]),
        runner.invoke(cli, ["-v", "reconcile", "--dry-run", "day.csv"]),
        runner.invoke(cli, ["-v", "explain", "--member", "1001", "--campaign", "amex-mcdonalds"]),
        runner.invoke(cli, ["-v", "run", "--once"]),
        runner.invoke(cli, ["-v", "sync", "remove", "1003"]),
    ]
    text = "\n".join(r.output for r in outputs) + "\n" + caplog.text
    # X ids are 18-19 digits and some pass the Luhn check; these are the ones this test made.
    ids = {p["id"] for p in posts} | {r["id"] for r in sandbox_replies(project)} | {"1850000000000000000"}
    return text, ids


def test_the_database_holds_no_card_number(everything, project):
    """After linking, importing, polling and unlinking, no table or db file holds a PAN."""
    _, ids = everything

    found = scan_database(project / "data" / "offerbot.db")

    assert not CARDS & set(found)
    assert set(found) <= ids


def test_logs_and_command_output_hold_no_card_number(everything):
    """Every Luhn-valid digit run printed or logged is an X id we used, never a card."""
    text, ids = everything

    assert not any(card in text for card in CARDS)
    assert set(find_card_numbers(text)) <= ids


def test_files_the_bot_writes_hold_no_card_number(everything, project):
    """Every file under data/ (but the sample inputs): sandbox replies, exports, the redacted copies the
    inbox keeps (of files reconciled and refused, in any encoding) and the reasons, holds no card."""
    written = [p for p in (project / "data").rglob("*")
               if p.is_file() and not p.name.startswith("sample_") and "offerbot.db" not in p.name
               and p.name != "mentions.jsonl"  # the input we fed in, which does contain a card in a post
               # The sandbox's random key (hex, 0600): a secret, not card data, though its digits form
               # a Luhn-valid run about once in 225 keys.
               and p.name != "fingerprint.key"]
    inbox = project / "data" / "inbox"
    assert {str(p.relative_to(inbox)) for p in written if inbox in p.parents} == {
        "processed/inbox-day.csv", "processed/long-line.csv", "failed/cvv.csv.reason.txt",
        "failed/utf16.csv", "failed/utf16.csv.reason.txt", "failed/cp1252.csv",
        "failed/cp1252.csv.reason.txt", "failed/semicolons.csv", "failed/semicolons.csv.reason.txt"}
    assert any(p.parent.name == "exports" for p in written)
    for path in written:
        raw = path.read_bytes()
        for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
            assert not any(card.encode(encoding) in raw for card in CARDS), (path, encoding)
        content = raw.decode("latin-1").replace("\x00", "")  # UTF-16/32 digits side by side
        assert set(find_card_numbers(content)) <= everything[1], path
