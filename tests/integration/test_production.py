"""Production mode: schema migrations, locks between instances, status, health, JSON logs."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlmodel import SQLModel

from bot.adapters.locks import LeaseLocks, locks_for
from bot.adapters.migrations import schema_state, upgrade
from bot.adapters.sql.engine import create_schema, make_engine
from bot.bootstrap import check_schema
from bot.cli import cli
from bot.errors import Busy, SchemaOutdated
from bot.logs import setup_logging
from bot.services.inbox import reconcile_inbox
from bot.services.intake import poll_mentions
from bot.services.status import read_status
from tests.conftest import POSTGRES_URL
from tests.fakes import ALICE_CARD, BOT_ID, mention, wait_for


@pytest.fixture
def sqlite_file(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    yield engine
    engine.dispose()


def test_the_migrations_build_exactly_the_tables_the_code_describes(sqlite_file, engine):
    """Upgrading an empty database gives the schema of the SQLModel tables, with nothing missing."""
    target = engine if POSTGRES_URL else sqlite_file  # PostgreSQL's test database is migrated already
    if not POSTGRES_URL:
        upgrade(target)
    with target.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)

    assert differences == []
    assert schema_state(target).up_to_date


def test_a_fresh_embedded_database_makes_itself(sqlite_file):
    """The embedded default needs no set-up: an empty SQLite file is migrated on first use."""
    check_schema(sqlite_file)

    assert schema_state(sqlite_file).current == schema_state(sqlite_file).head


@pytest.mark.sqlite_only  # the shared PostgreSQL test database stays at head
def test_rejects_recorded_before_transaction_ids_survive_the_upgrade(sqlite_file):
    """A reject row written before rejects had a transaction_id keeps its line and reason, with id ""."""
    upgrade(sqlite_file, "0002")
    with sqlite_file.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO transaction_files (id, sha256, name, status, rows_done, counters, started_at, "
            "notices_after, notices_done) VALUES (1, 'ab', 'day.csv', 'reconciled', 3, '{}', "
            "'2026-11-23 12:00:00', 0, 0)")
        conn.exec_driver_sql("INSERT INTO rejects (file_id, line, \"column\", reason) "
                             "VALUES (1, 4, 'amount', 'amount is empty')")

    upgrade(sqlite_file)

    with sqlite_file.connect() as conn:
        rows = conn.exec_driver_sql('SELECT file_id, line, "column", reason, transaction_id '
                                    "FROM rejects").all()
    assert [tuple(r) for r in rows] == [(1, 4, "amount", "amount is empty", "")]


@pytest.mark.sqlite_only  # the shared PostgreSQL test database stays at head
@pytest.mark.fresh_database  # it builds the file itself, at an old revision
def test_an_old_schema_is_refused_until_db_upgrade(project, no_x_credentials, monkeypatch):
    """A database at an earlier revision stops the bot with the fix; `db upgrade` brings it up to date."""
    monkeypatch.chdir(project)
    engine = make_engine(f"sqlite:///{project / 'data' / 'offerbot.db'}")
    upgrade(engine, "0001")
    head = schema_state(engine).head  # the newest migration

    expected = rf"revision 0001; this version needs revision {head}.*db upgrade"
    with pytest.raises(SchemaOutdated, match=expected):
        check_schema(engine)
    refused = CliRunner().invoke(cli, ["run", "--once"])
    upgraded = CliRunner().invoke(cli, ["db", "upgrade"])
    again = CliRunner().invoke(cli, ["db", "upgrade"])

    assert refused.exit_code == 2
    assert "offerbot db upgrade" in refused.output
    assert f"database upgraded from revision 0001 to {head}" in upgraded.output
    assert f"database already at revision {head}" in again.output
    check_schema(engine)
    engine.dispose()


@pytest.mark.sqlite_only  # builds its own database at an older revision
def test_campaign_rows_survive_the_campaign_versions_migration(sqlite_file, clock):
    """Upgrading from 0002 keeps each campaign's counters; its version columns start empty."""
    upgrade(sqlite_file, "0002")
    with sqlite_file.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO campaigns (id, hashtag, merchant, max_enrolments, enrolled, budget_cents, "
            "spent_cents, updated_at) VALUES ('amex-zappos', '#AmexZappos', 'Zappos.com', NULL, 1204, "
            "50000000, 310000, '2026-11-20 12:00:00.000000')")

    upgrade(sqlite_file, "0005")

    with sqlite_file.connect() as conn:
        row = conn.exec_driver_sql("SELECT id, enrolled, spent_cents, budget_cents, definition, source, "
                                   "loaded_at FROM campaigns").one()
    assert tuple(row) == ("amex-zappos", 1204, 310000, 50000000, None, None, None)


def test_the_money_path_migration_keeps_files_and_refunds_reconciled_before(sqlite_file):
    """0003 keeps existing files: a reconciled one is done, one left running resumes by staging the rest;
    a kept refund's state is read from its outcomes."""
    upgrade(sqlite_file, "0002")
    with sqlite_file.begin() as conn:
        for n, status in ((1, "reconciled"), (2, "running")):
            conn.exec_driver_sql(
                "INSERT INTO transaction_files (id, sha256, name, status, rows_done, counters, started_at, "
                f"notices_after, notices_done) VALUES ({n}, '{n:064d}', 'd{n}.csv', '{status}', 10, '{{}}', "
                "'2026-11-23 12:00:00', 0, 0)")
        kept = (("T1", "purchase", "a=credited"),
                ("R1", "refund", "a=clawback (x) | b=refund, nothing to reverse (y)"),
                ("R2", "refund", "a=refund, credit kept (z)"),
                ("R3", "refund", "a=refund, nothing to reverse (no credited purchase found)"))
        for tid, kind, outcomes in kept:
            conn.exec_driver_sql(
                "INSERT INTO card_transactions (transaction_id, file_id, line, member_id, merchant_id, "
                "cents, currency, day, kind, original_id, outcomes) VALUES "
                f"('{tid}', 1, 2, '1001', 'M', 100, 'USD', '2026-11-21', '{kind}', NULL, '{outcomes}')")

    upgrade(sqlite_file)

    with sqlite_file.connect() as conn:
        files = conn.exec_driver_sql("SELECT id, phase, run, credits_before, earlier_runs, decided_id "
                                     "FROM transaction_files ORDER BY id").all()
        states = dict(conn.exec_driver_sql("SELECT transaction_id, refund_state FROM card_transactions")
                      .all())
    assert [tuple(f) for f in files] == [(1, "done", 1, 0, "[]", None), (2, "stage", 1, 0, "[]", None)]
    assert states == {"T1": None, "R1": "applied", "R2": "applied", "R3": "unmatched"}


def test_tables_made_without_migrations_are_refused(sqlite_file):
    """Tables with no migration history cannot be dated, so the bot will not guess."""
    create_schema(sqlite_file)

    with pytest.raises(SchemaOutdated, match="no migration history"):
        check_schema(sqlite_file)


@pytest.mark.postgres_only
def test_an_empty_postgresql_database_is_not_changed_behind_the_operators_back():
    """Unlike the embedded SQLite file, a PostgreSQL database is only migrated by `db upgrade`."""
    admin = make_engine(str(POSTGRES_URL).rsplit("/", 1)[0] + "/postgres")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS offerbot_test_empty")
        conn.exec_driver_sql("CREATE DATABASE offerbot_test_empty")
    empty = make_engine(str(POSTGRES_URL).rsplit("/", 1)[0] + "/offerbot_test_empty")
    try:
        with pytest.raises(SchemaOutdated, match="none"):
            check_schema(empty)
    finally:
        empty.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS offerbot_test_empty")
        admin.dispose()


def locks(engine, name: str, clock):
    return locks_for(engine, name, clock, timedelta(minutes=1))


def test_a_lock_belongs_to_one_instance_at_a_time(engine, clock):
    """Of two instances only one holds a lock; it keeps it on asking again; release hands it over."""
    first, second = locks(engine, "host-a:1", clock), locks(engine, "host-b:2", clock)
    try:
        assert first.acquire("poller") is True
        assert second.acquire("poller") is False
        assert first.acquire("poller") is True
        assert second.holder("poller") == "host-a:1"

        first.release("poller")

        assert second.acquire("poller") is True
        assert first.acquire("poller") is False
    finally:
        first.close()
        second.close()


@pytest.mark.sqlite_only
def test_a_lease_runs_out_when_its_holder_stops_renewing(engine, clock):
    """On SQLite a lease not renewed within its time passes to the next instance that asks."""
    first, second = LeaseLocks(engine, "host-a:1", clock, timedelta(minutes=1)), \
        LeaseLocks(engine, "host-b:2", clock, timedelta(minutes=1))
    assert first.acquire("poller")
    clock.advance(seconds=59)
    assert not second.acquire("poller")
    clock.advance(seconds=2)

    assert second.acquire("poller")
    assert first.holder("poller") == "host-b:2"


@pytest.mark.sqlite_only
def test_a_lease_of_a_dead_process_on_this_host_is_taken_at_once(engine, clock):
    """A holder on this host whose process is gone (kill -9) does not block the next run."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    gone = LeaseLocks(engine, f"{socket.gethostname()}:{dead}", clock, timedelta(hours=1))
    assert gone.acquire("reconcile")

    assert LeaseLocks(engine, "me:1", clock, timedelta(hours=1)).acquire("reconcile")


def test_the_locks_tell_a_holder_that_is_gone_from_one_that_may_still_run(engine, clock):
    """Locks.gone: a holder on this host whose process ended is gone; this process or another host is not."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    here = socket.gethostname()
    any_locks = locks(engine, "me:1", clock)

    assert any_locks.gone(f"{here}:{dead}") is True
    assert any_locks.gone(f"{here}:{os.getpid()}") is False
    assert any_locks.gone(f"another-host.example:{dead}") is False


@pytest.mark.postgres_only
def test_an_advisory_lock_is_freed_when_its_connection_goes(engine, clock):
    """On PostgreSQL the server drops a killed holder's lock with its connection."""
    first, second = locks(engine, "host-a:1", clock), locks(engine, "host-b:2", clock)
    assert first.acquire("poller")
    for conn in first._held.values():  # as a kill -9 would: the connection just goes
        conn.invalidate()
    first._held.clear()

    # The server's backend sees the socket close and ends on its own time: on a busy machine the
    # lock can still be held for a moment after the client let go.
    assert wait_for(lambda: second.acquire("poller"), timeout=10)
    second.close()


def test_a_reconciliation_waits_while_another_instance_reconciles(ledger, make_csv, engine, clock, tmp_path):
    """The reconcile lock keeps a second reconciliation out (a dry run needs none); the inbox waits."""
    other = locks(engine, "elsewhere:7", clock)
    path = make_csv("day.csv", f"T1,{ALICE_CARD},MID-MCD-0001,McD,12.50,USD,2026-11-21,purchase,")
    assert other.acquire("reconcile")
    try:
        with pytest.raises(Busy, match="elsewhere:7"):
            ledger.reconcile(path)
        assert ledger.reconcile(path, dry_run=True).outcomes == {"credited": 1}
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        path.rename(inbox / "day.csv")
        os.utime(inbox / "day.csv", (0, 0))
        assert reconcile_inbox(ledger.deps, ledger.catalog, inbox) == []
        assert (inbox / "day.csv").exists()
    finally:
        other.close()

    assert [r.name for r in reconcile_inbox(ledger.deps, ledger.catalog, inbox)] == ["day.csv"]


def test_status_and_health_follow_the_polls(uow, engine, clock, catalog, members, api):
    """After a poll the status shows it; three missed intervals later health reports a stall."""
    status_locks = locks(engine, "me:1", clock)
    assert read_status(uow, status_locks).problems(clock(), 60) == ["mentions have never been polled"]
    api.post(mention(7, "1001", "@offerbot #AmexMcDonalds"))

    poll_mentions(uow, api, catalog, clock, bot_user_id=BOT_ID)
    status = read_status(uow, status_locks)

    assert (status.last_poll, status.cursor, status.replies) == (clock(), "7", {"pending": 1})
    assert status.problems(clock(), 60) == []
    clock.advance(seconds=181)
    [problem] = read_status(uow, status_locks).problems(clock(), 60)
    assert problem.startswith("no poll for 3min (more than 3 intervals of 60s)")


def test_status_and_health_commands(project, no_x_credentials, monkeypatch):
    """`status` prints the snapshot; `health` exits 1 before any poll and 0 after one."""
    monkeypatch.chdir(project)
    runner = CliRunner()

    unhealthy = runner.invoke(cli, ["health"])
    runner.invoke(cli, ["run", "--once"])
    healthy = runner.invoke(cli, ["health"])
    status = runner.invoke(cli, ["status"])

    assert unhealthy.exit_code == 1
    assert "mentions have never been polled" in unhealthy.output
    assert healthy.exit_code == 0
    assert "healthy" in healthy.output
    assert "last poll" in status.output
    assert "last file        none reconciled yet" in status.output


def test_json_logs_are_one_object_per_line_with_cards_masked(capsys):
    """JSON logs carry ts, level, logger, message and extra fields; a card number never gets out."""
    setup_logging(fmt="json")
    logger = logging.getLogger("bot.test")

    logger.info("linked %s", ALICE_CARD, extra={"member": "1001"})
    try:
        raise ValueError(f"bad card {ALICE_CARD}")
    except ValueError:
        logger.exception("failed")

    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert (first["level"], first["logger"], first["member"]) == ("info", "bot.test", "1001")
    assert first["message"] == "linked [card ...0005]"
    assert "ValueError: bad card [card ...0005]" in second["error"]
    assert ALICE_CARD not in "".join(lines)


def test_logs_keep_x_ids_the_adapters_parsed_readable_and_mask_other_card_like_runs(capsys):
    """A Luhn-valid post id X sent is logged as it is; the same kind of run nobody parsed is masked."""
    from bot.adapters.x_ids import KNOWN_X_IDS
    from bot.adapters.x_payload import mention_from_post

    post_id, unknown = "1859000000000000016", "1859000000000000024"  # both pass the Luhn check
    KNOWN_X_IDS.clear()
    mention_from_post({"id": post_id, "author_id": "2001", "text": "@offerbot #AmexShell",
                       "edit_history_tweet_ids": [post_id]}, {})
    setup_logging(fmt="text")

    logging.getLogger("bot.test").info("reply post:%s failed; %s and %s", post_id, unknown, ALICE_CARD)

    line = capsys.readouterr().err.strip()
    assert f"reply post:{post_id} failed; [card ...0024] and [card ...0005]" in line


def test_the_known_id_registry_stays_bounded():
    """The registry keeps at most its limit of ids, forgetting the oldest first."""
    from bot.adapters.x_ids import KnownXIds

    known = KnownXIds(limit=3)
    known.add(["1", "2", "3"])
    known.add(["1"])  # seen again: now the newest
    known.add(["4", "not-an-id", None])

    assert len(known) == 3
    assert "2" not in known
    assert all(i in known for i in ("1", "3", "4"))


@pytest.mark.sqlite_only  # the shared PostgreSQL test database stays at head
def test_upgrading_keeps_the_outbox_and_makes_unsent_credit_notices_direct_messages(sqlite_file):
    """From 0002, rows survive: a pending or failed credit notice becomes a DM (no thread), a sent one
    stays the reply it was, other replies stay replies; 'undeliverable' fits the status column."""
    upgrade(sqlite_file, "0002")
    with sqlite_file.begin() as conn:
        for key, status, thread in (("credit:c1", "pending", "post:5"), ("credit:c2", "sent", "post:5"),
                                    ("credit:c3", "failed", "post:6"), ("post:5", "sent", "post:5")):
            conn.exec_driver_sql(
                "INSERT INTO outbox (dedupe_key, member_id, in_reply_to, template, context, status, "
                "attempts, next_attempt_at, created_at, thread) VALUES (?, '1001', '5', 'credit.j2', '{}', "
                "?, 1, '2026-11-23 12:00:00', '2026-11-23 12:00:00', ?)", (key, status, thread))

    upgrade(sqlite_file)

    with sqlite_file.begin() as conn:
        rows = conn.exec_driver_sql("SELECT dedupe_key, status, channel, thread FROM outbox "
                                    "ORDER BY id").all()
        conn.exec_driver_sql("UPDATE outbox SET status = 'undeliverable' WHERE dedupe_key = 'credit:c3'")
    assert [tuple(r) for r in rows] == [
        ("credit:c1", "pending", "dm", None), ("credit:c2", "sent", "reply", "post:5"),
        ("credit:c3", "failed", "dm", None), ("post:5", "sent", "reply", "post:5")]


@pytest.mark.sqlite_only  # the shared PostgreSQL test database stays at head
def test_upgrading_makes_each_handled_post_its_own_interaction(sqlite_file):
    """From 0002, every handled post is kept, as the interaction of its own id with no hashtags known."""
    upgrade(sqlite_file, "0002")
    with sqlite_file.begin() as conn:
        conn.exec_driver_sql("INSERT INTO posts (post_id, author_id, created_at, processed_at, outcome) "
                             "VALUES ('1859000000000000001', '1001', NULL, '2026-11-23 12:00:00', "
                             "'amexshell: enrolled')")

    upgrade(sqlite_file)

    with sqlite_file.connect() as conn:
        row = conn.exec_driver_sql("SELECT post_id, interaction_id, hashtags, outcome FROM posts").one()
    assert tuple(row) == ("1859000000000000001", "1859000000000000001", "", "amexshell: enrolled")
