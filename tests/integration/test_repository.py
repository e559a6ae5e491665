"""The SQL repositories: conditional updates, claims and time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from bot.adapters.sql.engine import make_engine
from bot.adapters.sql.tables import CursorRow
from bot.domain.cards import CardRef
from bot.domain.enrolment import Enrolment
from bot.domain.members import NewLink
from bot.domain.mentions import HandledPost
from bot.domain.reconcile import Credit
from bot.domain.replies import ReplyIntent
from bot.domain.transactions import Reject
from bot.services.replies import LEASE
from tests.fakes import campaign


def test_reserve_never_goes_past_the_limited_quantity(uow, clock):
    """reserve() succeeds max_enrolments times and then refuses, counting exactly."""
    with uow() as tx:
        tx.campaigns.sync([campaign(max_enrolments=3)], clock())
        results = [tx.campaigns.reserve("amex-mcdonalds") for _ in range(5)]
        tx.commit()

    assert results == [True, True, True, False, False]
    with uow(readonly=True) as tx:
        assert tx.campaigns.enrolment_counts() == {"amex-mcdonalds": 3}


def test_syncing_campaigns_keeps_their_counters(uow, clock):
    """Editing a campaign file (new cap) keeps the enrolments counted so far."""
    with uow() as tx:
        tx.campaigns.sync([campaign(max_enrolments=3)], clock())
        tx.campaigns.reserve("amex-mcdonalds")
        tx.campaigns.sync([campaign(max_enrolments=10, merchant="McD")], clock())
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.campaigns.enrolment_counts() == {"amex-mcdonalds": 1}


def test_an_installed_version_comes_back_with_its_file_and_time(uow, clock):
    """install() keeps the campaign's definition, file and install time; the counters stay."""
    with uow() as tx:
        tx.campaigns.sync([campaign(max_enrolments=3)], clock())
        tx.campaigns.reserve("amex-mcdonalds")
        tx.campaigns.install([(campaign(max_enrolments=5, merchant="McD"), "amex-mcdonalds.toml")], clock())
        tx.commit()

    with uow(readonly=True) as tx:
        [record] = tx.campaigns.records()
    assert (record.id, record.hashtag, record.source, record.loaded_at, record.enrolled) == (
        "amex-mcdonalds", "#AmexMcDonalds", "amex-mcdonalds.toml", clock(), 1)
    assert record.definition == campaign(max_enrolments=5, merchant="McD").definition()


def test_ensure_adds_unknown_campaigns_and_leaves_known_ones_alone(uow, clock):
    """ensure() (a backtest's campaigns) creates missing rows and never rewrites a campaign in force."""
    zappos = campaign(id="amex-zappos", hashtag="#AmexZappos")
    with uow() as tx:
        tx.campaigns.install([(campaign(budget=Decimal("100.00")), "amex-mcdonalds.toml")], clock())
        tx.campaigns.ensure([campaign(hashtag="#Other", budget=Decimal("5.00")), zappos], clock())
        tx.commit()

    with uow(readonly=True) as tx:
        records = {r.id: r for r in tx.campaigns.records()}
        budgets = tx.campaigns.spent_cents()
    assert records["amex-mcdonalds"].hashtag == "#AmexMcDonalds"
    assert records["amex-mcdonalds"].definition == campaign(budget=Decimal("100.00")).definition()
    assert (records["amex-zappos"].definition, records["amex-zappos"].source) == (None, None)
    assert budgets == {"amex-mcdonalds": 0}  # only campaigns with a budget


def test_credit_counts_count_credits_per_campaign(uow, clock):
    """credit_counts() counts each campaign's credits, not its clawbacks, for the ids asked."""
    with uow() as tx:
        tx.campaigns.sync([campaign(), campaign(id="amex-zappos", hashtag="#AmexZappos")], clock())
        file = tx.ledger.start_file("cd" * 32, "day.csv", clock())
        tx.ledger.add_credits([
            Credit(f"cr-{n}", f"t{n}", cid, "1001", kind, 500, "USD", "0005", 1200, "MID-1",
                   date(2026, 11, 20), None)
            for n, (cid, kind) in enumerate([("amex-mcdonalds", "credit"), ("amex-mcdonalds", "credit"),
                                             ("amex-mcdonalds", "clawback"), ("amex-zappos", "credit")])],
            file.id, clock())
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.ledger.credit_counts(["amex-mcdonalds", "amex-other"]) == {"amex-mcdonalds": 2}
        assert tx.ledger.credit_counts([]) == {}


def test_datetimes_come_back_aware_in_utc(engine, uow, clock):
    """SQLite keeps no time zone: UTC is stored, and the same aware instant comes back."""
    with uow() as tx:
        tx.cursors.set("mentions", "1", clock())
        tx.commit()

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT updated_at FROM cursors")).scalar()
        [row] = conn.execute(select(CursorRow.__table__)).all()
    # SQLite keeps text, PostgreSQL a timestamp without time zone: both hold UTC.
    assert stored in ("2026-11-23 12:00:00.000000", clock().replace(tzinfo=None))
    assert row.updated_at == clock()
    assert row.updated_at.tzinfo is UTC


def test_a_rolled_back_unit_of_work_leaves_no_trace(uow, clock):
    """Leaving the block without commit() discards every write."""
    with uow() as tx:
        tx.cursors.set("mentions", "99", clock())
    with uow(readonly=True) as tx:
        assert tx.cursors.get("mentions") is None


def test_claim_takes_due_rows_once_and_again_after_the_lease(uow, clock):
    """A claimed row is not claimed again until its lease has run out."""
    intent = ReplyIntent("post:1", "1001", "1", "reply.j2", {"ref": "X"})
    with uow() as tx:
        tx.outbox.add_many([intent], clock())
        first = tx.outbox.claim(clock(), 10, LEASE, "me:1", lambda _: False)
        second = tx.outbox.claim(clock(), 10, LEASE, "me:1", lambda _: False)
        later = tx.outbox.claim(clock() + LEASE + timedelta(seconds=1), 10, LEASE, "me:1",
                                lambda _: False)
        tx.commit()

    assert [i.dedupe_key for i in first] == ["post:1"]
    assert second == []
    assert [i.attempts for i in later] == [2]


@pytest.mark.sqlite_only
def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    """Every pooled connection to a file database has WAL, foreign keys and busy_timeout set."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'bot.db'}")
    try:
        with engine.connect() as conn:
            pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                       for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")}
    finally:
        engine.dispose()

    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000, "synchronous": 2}


def test_replies_claimed_by_a_sender_that_is_gone_are_due_at_once(uow, clock):
    """What a killed sender had claimed goes out now, not after its lease; a live sender's stays."""
    intents = [ReplyIntent(f"post:{n}", "1001", str(n), "reply.j2", {"ref": "X"}) for n in (1, 2)]
    with uow() as tx:
        tx.outbox.add_many(intents, clock())
        tx.outbox.claim(clock(), 1, LEASE, "dead:1", lambda _: False)
        tx.outbox.claim(clock(), 1, LEASE, "alive:2", lambda _: False)
        taken = tx.outbox.claim(clock(), 10, LEASE, "me:3", lambda sender: sender == "dead:1")
        tx.commit()

    assert [i.dedupe_key for i in taken] == ["post:1"]


def test_many_rows_go_in_at_once_and_a_rerun_adds_nothing(uow, clock):
    """Bulk writes (COPY on PostgreSQL) keep every value as given and skip what is already there."""
    awkward = "tab\there, new\nline, back\\slash, \"quotes\", 'single', \\N, café ✓"
    rejects = [Reject(line, "amount", f"{awkward} #{line}") for line in range(2, 402)]
    credits = [Credit(f"cr-{n}", f"t{n}", "amex-mcdonalds", str(1000 + n % 7), "credit", 500, "USD",
                      "0004", 1234, "MID-1", date(2026, 11, 20), None) for n in range(300)]
    with uow() as tx:
        tx.campaigns.sync([campaign()], clock())
        file = tx.ledger.start_file("ab" * 32, "transactions.csv", clock())
        tx.ledger.add_rejects(file.id, rejects[:300])
        tx.ledger.add_credits(credits[:250], file.id, clock())
        tx.commit()
    with uow() as tx:  # a rerun of the same rows and some new ones, in one transaction
        tx.ledger.add_rejects(file.id, rejects)
        tx.ledger.add_credits(credits, file.id, clock())
        tx.ledger.add_credits(credits, file.id, clock())
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.ledger.rejects_of_file(file.id) == rejects
        got = [c for member in {c.member_id for c in credits}
               for c in tx.ledger.credits_of(member, "amex-mcdonalds")]
    assert sorted(got) == sorted(credits)


def test_look_ups_of_many_keys_find_each_one(uow, clock):
    """Look-ups span their chunks (IN lists on SQLite, one array on PostgreSQL), and the bulk
    writes of posts and enrolments keep their dates, empty ones included."""
    ids = [str(10_000 + n) for n in range(1_234)]
    when = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
    with uow() as tx:
        tx.campaigns.sync([campaign()], clock())
        tx.members.link_many([NewLink(uid, f"h{uid}", CardRef(f"fp{uid}", uid[-4:])) for uid in ids], clock())
        tx.enrolments.add_many([Enrolment(uid, "amex-mcdonalds", f"9{uid}", when) for uid in ids])
        tx.posts.add_many([HandledPost(f"9{uid}", uid, None if int(uid) % 2 else when, when, "enrolled")
                           for uid in ids])
        tx.commit()

    asked = [*ids[::-1], "404", ids[0]]  # reversed, an unknown key and a repeat
    with uow(readonly=True) as tx:
        assert set(tx.members.get_many(asked)) == set(ids)
        assert tx.members.card_owners([f"fp{uid}" for uid in asked]) == {f"fp{uid}": uid for uid in ids}
        assert tx.enrolments.campaigns_of(asked) == {uid: {"amex-mcdonalds"} for uid in ids}
        assert tx.posts.seen([f"9{uid}" for uid in asked]) == {f"9{uid}" for uid in ids}
        assert tx.posts.versions([f"9{uid}" for uid in asked]) == {f"9{uid}": {f"9{uid}": ()} for uid in ids}
        assert tx.enrolments.posts_of((uid, "amex-mcdonalds") for uid in asked) == {
            (uid, "amex-mcdonalds"): f"9{uid}" for uid in ids}
        assert tx.enrolments.get(ids[-1], "amex-mcdonalds") == Enrolment(ids[-1], "amex-mcdonalds",
                                                                          f"9{ids[-1]}", when)
