"""Many enrolments, many reconciliations at once: limited quantity and budgets hold exactly."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text

from bot.adapters.locks import locks_for
from bot.adapters.sql.engine import create_schema, make_engine
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.domain.cards import Fingerprinter
from bot.domain.enrolment import Enrolment
from bot.errors import Busy
from bot.services.campaigns import Catalog
from bot.services.intake import poll_mentions
from bot.services.members import import_members
from bot.services.reconciliation import ReconcileDeps, reconcile_file
from tests.conftest import POSTGRES_URL, empty_postgres
from tests.fakes import BOT_ID, FakeSocialApi, FixedClock, campaign, card_number, mention, wait_for

ATTEMPTS, CAP = 500, 100
KEY = b"k" * 32
LIMITED = campaign(id="limited", hashtag="#AmexLimited", max_enrolments=CAP)
BUDGETED = campaign(id="budgeted", hashtag="#AmexBudget", merchant_ids=("MID-B",),
                    budget=Decimal("50.00"), credit=Decimal("5.00"), min_spend=Decimal("0.00"))


@pytest.fixture
def database(tmp_path: Path, _postgres: Engine | None) -> str:
    """A database every thread and process can open: a SQLite file, or the PostgreSQL test one,
    with ATTEMPTS linked members and the two campaigns."""
    url = str(POSTGRES_URL) if _postgres is not None else f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    if _postgres is not None:
        empty_postgres(_postgres)
    else:
        create_schema(engine)
    uow, clock = unit_of_work_factory(engine), FixedClock()
    with uow() as tx:
        tx.campaigns.sync([LIMITED, BUDGETED], clock())
        tx.commit()
    import_members(uow, Fingerprinter(KEY), clock, (
        (n, {"user_id": str(10_000 + n), "handle": f"m{n}", "card_number": card_number(n)})
        for n in range(ATTEMPTS)))
    engine.dispose()
    return url


def enrol_some(url: str, first: int, count: int) -> int:
    """Post `count` '#AmexLimited' mentions by distinct members and poll them; return enrolments made."""
    engine = make_engine(url)
    try:
        api = FakeSocialApi()
        api.post(*(mention(1_000_000 + n, str(10_000 + n), "@offerbot #AmexLimited")
                   for n in range(first, first + count)))
        report = poll_mentions(unit_of_work_factory(engine), api, Catalog((LIMITED,)), FixedClock(),
                               bot_user_id=BOT_ID, batch_posts=10)
        return report.outcomes.get("enrolled", 0)
    finally:
        engine.dispose()


def counts(url: str, sql: str) -> list[tuple]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return found


def test_500_enrolments_from_threads_against_100_places_give_exactly_100(database):
    """Ten threads polling at once cannot oversell a limited quantity of 100."""
    per = ATTEMPTS // 10
    results: list[int] = []
    threads = [threading.Thread(target=lambda i=i: results.append(enrol_some(database, i * per, per)))
               for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sum(results) == CAP
    assert counts(database, "SELECT count(*) FROM enrolments") == [(CAP,)]
    assert counts(database, "SELECT enrolled FROM campaigns WHERE id = 'limited'") == [(CAP,)]


@pytest.mark.slow
def test_500_enrolments_from_processes_against_100_places_give_exactly_100(database):
    """Five processes polling at once cannot oversell a limited quantity of 100 either."""
    per = ATTEMPTS // 5
    with multiprocessing.get_context("spawn").Pool(5) as pool:
        results = pool.starmap(enrol_some, [(database, i * per, per) for i in range(5)])

    assert sum(results) == CAP
    assert counts(database, "SELECT count(*) FROM enrolments") == [(CAP,)]
    assert counts(database, "SELECT enrolled FROM campaigns WHERE id = 'limited'") == [(CAP,)]


def reconcile_day(url: str, folder: str, day: int) -> int:
    """Reconcile a file of 10 qualifying purchases (members day*10..); wait out other runs."""
    engine = make_engine(url)
    try:
        clock = FixedClock()
        uow = unit_of_work_factory(engine)
        path = Path(folder) / f"day{day}.csv"
        path.write_text("transaction_id,card_number,merchant_id,merchant_name,amount,currency,"
                        "transaction_date,type\n" + "".join(
                            f"D{day}-{n},{card_number(day * 10 + n)},MID-B,Shop,9.00,USD,2026-11-21,"
                            "purchase\n" for n in range(10)))
        deps = ReconcileDeps(uow, Fingerprinter(KEY), clock, Path(folder) / "exports", UTC,
                             locks_for(engine, f"worker:{os.getpid()}", clock, timedelta(minutes=5)))
        while True:
            try:
                summary = reconcile_file(deps, Catalog((BUDGETED,)), path)
                return summary.campaigns.get("budgeted", {}).get("credits", 0)
            except Busy:
                time.sleep(0.05)  # another process reconciles; its turn first
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_budget_is_never_passed_by_reconciliations_running_at_once(database, tmp_path):
    """Four processes reconcile four files at once; a budget of ten credits gives exactly ten."""
    engine = make_engine(database)
    uow = unit_of_work_factory(engine)
    with uow() as tx:
        since = datetime(2026, 11, 1, tzinfo=UTC)
        tx.enrolments.add_many([Enrolment(str(10_000 + n), "budgeted", str(n), since) for n in range(40)])
        tx.commit()
    engine.dispose()

    with multiprocessing.get_context("spawn").Pool(4) as pool:
        credited = pool.starmap(reconcile_day, [(database, str(tmp_path), day) for day in range(4)])

    assert sum(credited) == 10
    assert counts(database, "SELECT spent_cents, budget_cents FROM campaigns WHERE id = 'budgeted'") == [
        (5000, 5000)]
    assert counts(database, "SELECT count(*) FROM credits") == [(10,)]


@pytest.mark.postgres_only
def test_two_sessions_reserving_the_last_places_at_once_never_pass_the_limit(engine):
    """Session A takes 2 of the last 3 places and holds its transaction open; session B, asking for
    2, waits on A's row lock, then finds only 1 left and takes that one: 3 granted, never 4."""
    uow = unit_of_work_factory(engine)
    limited = campaign(id="limited", hashtag="#AmexLimited", max_enrolments=5)
    with uow() as tx:
        tx.campaigns.sync([limited], FixedClock()())
        assert tx.campaigns.reserve_many({"limited": 2}) == {"limited": 2}
        tx.commit()
    granted: list[dict[str, int]] = []

    def session_b() -> None:
        with uow() as tx:
            granted.append(tx.campaigns.reserve_many({"limited": 2}))
            tx.commit()

    with uow() as a:
        assert a.campaigns.reserve_many({"limited": 2}) == {"limited": 2}
        b = threading.Thread(target=session_b)
        b.start()
        assert wait_for(lambda: counts(str(POSTGRES_URL), "SELECT count(*) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                                       "AND query LIKE 'UPDATE campaigns%'")
                        == [(1,)], timeout=30), "session B never waited for A's lock"
        a.commit()
    b.join(timeout=30)

    assert granted == [{"limited": 1}]
    assert counts(str(POSTGRES_URL), "SELECT enrolled FROM campaigns WHERE id = 'limited'") == [(5,)]


def test_reconciliation_moves_budgets_in_campaign_id_order(engine):
    """add_spent updates campaign rows in id order, as intake's reservations lock them, so a
    reconciliation and a poller on one PostgreSQL database never wait on each other in a cycle."""
    uow = unit_of_work_factory(engine)
    ids = ["amex-zeta", "amex-alpha", "amex-mid"]
    with uow() as tx:
        tx.campaigns.sync([campaign(id=i, hashtag=f"#{i.replace('-', '')}") for i in ids],
                          datetime(2026, 11, 1, tzinfo=UTC))
        tx.commit()
    updated: list[str] = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE CAMPAIGNS"):
            updated.append(next(v for v in (parameters.values() if isinstance(parameters, dict)
                                            else parameters) if v in ids))

    event.listen(engine, "before_cursor_execute", spy)
    try:
        with uow() as tx:
            assert tx.campaigns.add_spent({"amex-zeta": 100, "amex-alpha": 200, "amex-mid": 300}) == []
            tx.commit()
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert updated == sorted(ids)
