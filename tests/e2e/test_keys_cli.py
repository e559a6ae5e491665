"""The card fingerprint key end to end: a wrong key stops every command (exit 2) before it writes
anything; a rotation runs on both keys and `offerbot status` follows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.adapters.sql.engine import make_engine
from bot.domain.cards import key_check
from tests.conftest import POSTGRES_URL
from tests.fakes import ALICE_CARD, BOB_CARD

OLD, NEW = "ab" * 32, "cd" * 32
OLD_ID, NEW_ID = key_check(bytes.fromhex(OLD)).key_id, key_check(bytes.fromhex(NEW)).key_id
HEADER = "transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,type"


def keys(project: Path, key: str, previous: str | None = None) -> None:
    """Configure the fingerprint key (and a rotation's previous key) in the project's .env."""
    lines = [f"OFFERBOT_FINGERPRINT_KEY={key}"] + ([f"OFFERBOT_FINGERPRINT_KEY_PREVIOUS={previous}"]
                                                   if previous else [])
    (project / ".env").write_text("\n".join(lines) + "\n")


def database(project: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the project's database."""
    engine = make_engine(POSTGRES_URL or f"sqlite:///{project / 'data' / 'offerbot.db'}")
    try:
        with engine.connect() as conn:
            names = [r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'" if POSTGRES_URL else
                "SELECT name FROM sqlite_master WHERE type = 'table'"))]
            return {name: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{name}"')).all()), key=str)
                    for name in sorted(names)}
    finally:
        engine.dispose()


def day_file(project: Path) -> Path:
    """Alice at McDonald's and Bob at FedEx, both qualifying, on Nov 21."""
    path = project / "day.csv"
    path.write_text("\n".join((HEADER,
                               f"T1,{ALICE_CARD},MID-MCD-0001,McDonald's,12.50,USD,2026-11-21,purchase",
                               f"T2,{BOB_CARD},MID-FDX-0001,FedEx,30.00,USD,2026-11-21,purchase")) + "\n")
    return path


@pytest.fixture
def enrolled(offerbot, project):
    """The sample members linked with the OLD key; Alice enrolled in McDonald's, Bob in FedEx."""
    keys(project, OLD)
    assert offerbot("sync", "import", "data/sample_members.csv").exit_code == 0
    sandbox = project / "data" / "sandbox"
    (sandbox / "mentions.jsonl").write_text((project / "data" / "sample_mentions.jsonl").read_text())
    assert offerbot("run", "--once").exit_code == 0
    return offerbot


COMMANDS = [("run", "--once"), ("reconcile", "day.csv"), ("reconcile", "--dry-run", "day.csv"), ("status",),
            ("health",), ("explain", "--member", "1001", "--campaign", "amex-mcdonalds"),
            ("sync", "import", "data/sample_members.csv"), ("sync", "add", "1004", "dave"),
            ("sync", "remove", "1001"), ("campaigns", "list")]


def test_a_wrong_key_stops_every_command_with_exit_2_and_writes_nothing(enrolled, project):
    """With another key every card would read 'not linked': each command refuses to start, naming the
    key, the members and the fix, and the database and exports stay exactly as they were."""
    day_file(project)
    keys(project, NEW)
    before = database(project)

    for command in COMMANDS:
        result = enrolled(*command, input=f"{BOB_CARD}\n")
        assert result.exit_code == 2, (command, result.output)
        assert (f"OFFERBOT_FINGERPRINT_KEY: the configured fingerprint key (key id {NEW_ID}) is not the one "
                f"the 3 linked members' cards were fingerprinted with (key id {OLD_ID})") in result.output
        assert "OFFERBOT_FINGERPRINT_KEY_PREVIOUS" in result.output

    assert database(project) == before
    assert not (project / "data" / "exports").exists()


def test_a_rotation_matches_both_keys_and_status_counts_who_is_left(enrolled, project):
    """New key with the old one as previous: a file credits members on both keys; status says how many
    are still on the old key; removing it is refused until none are, then allowed."""
    keys(project, NEW, previous=OLD)
    status = enrolled("status")
    assert status.exit_code == 0, status.output
    assert f"fingerprint key  key id {NEW_ID}, 0 linked members" in status.output
    assert (f"previous key     key id {OLD_ID}, 3 linked members still use it: re-link them "
            "(`offerbot sync import` of the member file)") in status.output

    alice_only = project / "alice.csv"
    alice_only.write_text(f"user_id,handle,card_number\n1001,alice_eats,{ALICE_CARD}\n")
    moved = enrolled("sync", "import", str(alice_only))
    assert "1 linked (1 moved to the current fingerprint key), 0 unchanged, 0 rejected" in moved.output
    reconciled = enrolled("reconcile", str(day_file(project)))
    assert reconciled.exit_code == 0, reconciled.output
    assert "amex-mcdonalds" in reconciled.output
    assert "amex-fedex" in reconciled.output  # Bob, still on the old key
    assert "cards not linked            0" in reconciled.output

    keys(project, NEW)
    refused = enrolled("status")
    assert refused.exit_code == 2
    assert f"2 linked members' cards were fingerprinted with (key id {OLD_ID})" in refused.output

    keys(project, NEW, previous=OLD)
    assert enrolled("sync", "import", "data/sample_members.csv").exit_code == 0
    done = enrolled("status")
    assert (f"previous key     key id {OLD_ID}, no linked member uses it any more: remove "
            "OFFERBOT_FINGERPRINT_KEY_PREVIOUS") in done.output
    keys(project, NEW)
    assert enrolled("status").exit_code == 0


def test_the_sandbox_key_file_is_checked_like_any_key(offerbot, project):
    """In the sandbox the key file is the key: replacing it is refused, naming the file."""
    assert offerbot("sync", "import", "data/sample_members.csv").exit_code == 0
    key_file = project / "data" / "sandbox" / "fingerprint.key"
    key_file.write_text(NEW + "\n")

    result = offerbot("status")

    assert result.exit_code == 2
    assert f"{key_file}: OFFERBOT_FINGERPRINT_KEY: the configured fingerprint key (key id {NEW_ID})" \
        in result.output
    assert f"restore {key_file}" in result.output


@pytest.mark.parametrize(("previous", "expected"), [
    (NEW, "OFFERBOT_FINGERPRINT_KEY_PREVIOUS: is the same key as OFFERBOT_FINGERPRINT_KEY"),
    ("abc", "OFFERBOT_FINGERPRINT_KEY_PREVIOUS: must be at least 64 hex characters"),
])
def test_a_bad_previous_key_is_a_configuration_error(offerbot, project, previous, expected):
    """A previous key equal to the current one, or not a key at all, stops the bot with exit 2."""
    keys(project, NEW, previous=previous)

    result = offerbot("status")

    assert result.exit_code == 2
    assert expected in result.output
