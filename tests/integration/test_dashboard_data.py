"""The dashboard's data: every purchase at a campaign merchant by a linked card kept once, the
facts read back from the ledger, and the stored reports equal to a recomputation."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from bot.adapters.sql.dashboard_facts import SqlDashboardFacts
from bot.adapters.sql.dashboard_reports import DashboardReportStore
from bot.domain.dashboard.facts import Credit, DataSpan, Enrolment, History, Purchase
from bot.domain.dashboard.report import build_report, report_data
from bot.services.dashboards import StoredDashboards, prune_kept_purchases, refresh_dashboards
from bot.services.intake import POLLED
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, tx_row
from tests.integration.test_reconciliation import sample_day as reconciliation_day

K = 5  # the smallest k allowed: small hand-built ledgers show some figures


def sample_day(make_csv, name: str = "day.csv", *extra: str):
    """The reconciliation tests' day (Alice enrolled at McDonald's and Zappos, Bob at FedEx, Carol
    in nothing; an unlinked card, another merchant's row, T8 refunding $10 of T3) and T10, Carol's
    earlier purchase at McDonald's."""
    return reconciliation_day(make_csv, name, *extra,
                              tx_row("T10", CAROL_CARD, "MID-MCD-0001", "4.00", day="2026-11-18"))


KEPT = [("T1", "1001", "MID-MCD-0001", "2026-11-21", 1250, None),
        ("T10", "1003", "MID-MCD-0001", "2026-11-18", 400, None),
        ("T2", "1001", "MID-ZAP-0001", "2026-11-21", 7000, None),
        ("T3", "1001", "MID-ZAP-0002", "2026-11-21", 8000, None),
        ("T4", "1002", "MID-FDX-0001", "2026-11-21", 2500, None),
        ("T6", "1003", "MID-MCD-0002", "2026-11-21", 900, None),
        ("T8", "1001", "MID-ZAP-0001", "2026-11-22", 1000, "T3"),
        ("T9", "1002", "MID-FDX-0001", "2026-11-19", 3000, None)]


def kept(engine) -> list[tuple]:
    """Return the kept rows, by transaction id (days as ISO text on every database)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT transaction_id, member_id, merchant_id, day, cents, refund_of "
                                 "FROM merchant_purchases ORDER BY transaction_id")).all()
    return [(r[0], r[1], r[2], str(r[3]), r[4], r[5]) for r in rows]


def dashboard(ledger, clock):
    """Return the read model and the store over the ledger's database, k = 5."""
    facts = SqlDashboardFacts(ledger.engine, lambda: ledger.catalog.by_id, min_members=K,
                              polled_cursor=POLLED)
    return facts, DashboardReportStore(ledger.engine)


def test_every_purchase_at_a_campaign_merchant_by_a_linked_card_is_kept(ledger, make_csv):
    """Purchases by enrolled and not enrolled members, before and after enrolling, and refunds
    naming their purchase are kept; unlinked cards and other merchants are not; nor a card digit."""
    ledger.reconcile(sample_day(make_csv))

    assert kept(ledger.engine) == KEPT
    with ledger.engine.connect() as conn:
        columns = [r[1] for r in conn.execute(text("PRAGMA table_info(merchant_purchases)"))] \
            if ledger.engine.dialect.name == "sqlite" else []
    assert not [c for c in columns if "card" in c or "last4" in c]


def test_a_rerun_again_and_a_resent_file_keep_each_purchase_once(ledger, make_csv):
    """The same file twice, `reconcile --again`, and another file repeating the rows keep each once."""
    path = sample_day(make_csv)
    ledger.reconcile(path)
    ledger.reconcile(path)
    ledger.reconcile(path, again=True)
    resent = sample_day(make_csv, "resent.csv", tx_row("T99", BOB_CARD, "SHOP-2", "1.00"))
    assert ledger.reconcile(resent).status == "reconciled"
    with_extra = make_csv("more.csv", tx_row("T1", ALICE_CARD, "MID-MCD-0001", "99.00"),
                          tx_row("T11", CAROL_CARD, "MID-MCD-0003", "6.00", day="2026-11-22"))
    ledger.reconcile(with_extra)

    assert kept(ledger.engine) == sorted([*KEPT, ("T11", "1003", "MID-MCD-0003", "2026-11-22", 600, None)])


@pytest.mark.parametrize("batch_rows", [4, 200_000], ids=["batches-of-one", "one-batch"])
def test_of_an_id_repeated_in_a_file_the_row_decided_is_kept(ledger, make_csv, clock, batch_rows):
    """T50 is Carol's (enrolled in nothing: never decided) on line 2 and Alice's on line 3 (credited):
    Alice's is kept, in one batch or two, so her credit has its qualifying purchase; of two rows
    never decided, the first stays."""
    ledger.deps.batch_rows = batch_rows
    summary = ledger.reconcile(make_csv("dup.csv", tx_row("T50", CAROL_CARD, "MID-MCD-0001", "9.00"),
                                        tx_row("T50", ALICE_CARD, "MID-MCD-0001", "12.50"),
                                        tx_row("T51", CAROL_CARD, "MID-MCD-0001", "6.00"),
                                        tx_row("T51", BOB_CARD, "MID-MCD-0001", "7.00")))

    assert summary.outcomes["credited"] == 1
    assert kept(ledger.engine) == [("T50", "1001", "MID-MCD-0001", "2026-11-21", 1250, None),
                                   ("T51", "1003", "MID-MCD-0001", "2026-11-21", 600, None)]
    facts, _ = dashboard(ledger, clock)
    read = facts.facts_for("amex-mcdonalds", clock())
    assert [p for p in read.purchases if p.qualifying] == [Purchase("1001", date(2026, 11, 21), 1250, True)]
    assert build_report(read, min_members=K).campaign_id == "amex-mcdonalds"  # the facts hold together


class Killed(BaseException):
    """Stands for kill -9 between two committed batches."""


def test_a_run_killed_between_batches_and_resumed_keeps_each_purchase_once(ledger, make_csv):
    """A run that dies after its first committed batch and is run again keeps what one clean run keeps."""
    path = sample_day(make_csv)
    ledger.deps.batch_rows = 4  # reading: a batch of 1 row, then 4 at a time
    calls = []

    def die_after_first_batch(phase: str, done: int, total: int) -> None:
        calls.append(done)
        if phase == "reading" and len(calls) == 2:
            raise Killed

    with pytest.raises(Killed):
        ledger.reconcile(path, progress=die_after_first_batch)
    assert 0 < len(kept(ledger.engine)) < len(KEPT)

    summary = ledger.reconcile(path)

    assert summary.status == "reconciled"
    assert kept(ledger.engine) == KEPT


def test_a_dry_run_keeps_nothing(ledger, make_csv):
    """A dry run (and a backtest) changes no dashboard: nothing is kept."""
    path = sample_day(make_csv)
    ledger.reconcile(path, dry_run=True)
    ledger.reconcile(path, dry_run=True, assume_enrolled=True)

    assert kept(ledger.engine) == []


def test_the_facts_of_a_campaign_are_read_from_the_ledger(ledger, make_csv, clock):
    """McDonald's facts: Alice's enrolment and credit, every purchase at its ids (Carol's too, not
    qualifying), each linked member's history, and a span from the first day kept to the last."""
    ledger.reconcile(sample_day(make_csv))
    facts, _ = dashboard(ledger, clock)

    read = facts.facts_for("amex-mcdonalds", clock())

    assert read.terms.campaign_id == "amex-mcdonalds"
    assert (read.terms.merchant, read.terms.currency, read.terms.budget_cents) == ("McDonald's", "USD", None)
    assert list(read.enrolments) == [Enrolment("1001", date(2026, 11, 20))]
    assert sorted(read.purchases) == [Purchase("1001", date(2026, 11, 21), 1250, True, 0),
                                      Purchase("1003", date(2026, 11, 18), 400, False, 0),
                                      Purchase("1003", date(2026, 11, 21), 900, False, 0)]
    assert list(read.credits) == [Credit("1001", date(2026, 11, 21), 500)]
    assert read.span == DataSpan(date(2026, 11, 18), date(2026, 11, 21))
    linked = clock().date()
    assert sorted(read.histories) == [History(m, linked) for m in ("1001", "1002", "1003")]
    with ledger.uow(readonly=True) as tx:
        assert read.as_of == tx.ledger.latest_file().finished_at


def test_refunds_raise_the_refunded_cents_of_their_purchase_whatever_the_order(ledger, make_csv, clock):
    """Zappos: T8 refunds $10 of T3 (credited, then clawed back); a refund kept before its purchase
    (an earlier file) still counts once the purchase arrives."""
    ledger.reconcile(make_csv("refund-first.csv", tx_row("R1", ALICE_CARD, "MID-ZAP-0001", "5.00",
                                                         kind="refund", original="T2", day="2026-11-22")))
    ledger.reconcile(sample_day(make_csv))
    facts, _ = dashboard(ledger, clock)

    read = facts.facts_for("amex-zappos", clock())

    assert sorted(read.purchases) == [Purchase("1001", date(2026, 11, 21), 7000, False, 500),
                                      Purchase("1001", date(2026, 11, 21), 8000, True, 1000)]
    assert sorted(read.credits) == [Credit("1001", date(2026, 11, 21), 1000),  # dated by the refund:
                                    Credit("1001", date(2026, 11, 22), -1000)]


def fresh(facts, campaign_id: str, clock) -> dict:
    """Return the report recomputed from the ledger now, as stored data."""
    return report_data(build_report(facts.facts_for(campaign_id, clock()), min_members=K))


def test_stored_reports_equal_a_recomputation_after_a_run_a_rerun_and_a_resumed_run(ledger, make_csv, clock):
    """After each kind of run the refreshed snapshot is exactly the report computed afresh."""
    facts, store = dashboard(ledger, clock)
    ids = sorted(ledger.catalog.by_id)
    ledger.reconcile(sample_day(make_csv))
    first = refresh_dashboards(facts, store, ids, min_members=K, clock=clock)
    assert sorted(first.computed) == ids
    for campaign_id in ids:
        assert store.stored(campaign_id).data == fresh(facts, campaign_id, clock)

    ledger.reconcile(sample_day(make_csv))  # the same file again: nothing moved
    clock.advance(minutes=5)
    again = refresh_dashboards(facts, store, ids, min_members=K, clock=clock)
    assert again.computed == []

    ledger.deps.batch_rows = 4
    following = make_csv("next.csv", *(tx_row(f"T2{n}", card, "MID-MCD-0001", "7.00", day="2026-11-23")
                                       for n, card in enumerate((CAROL_CARD, ALICE_CARD, BOB_CARD))))

    def killed(phase: str, done: int, total: int) -> None:
        raise Killed

    with pytest.raises(Killed):
        ledger.reconcile(following, progress=killed)
    ledger.reconcile(following)
    resumed = refresh_dashboards(facts, store, ids, min_members=K, clock=clock)
    assert "amex-mcdonalds" in resumed.computed
    for campaign_id in ids:
        assert store.stored(campaign_id).data == fresh(facts, campaign_id, clock)


def test_latest_serves_the_stored_report_and_a_refresh_replaces_a_stale_one(ledger, make_csv, clock):
    """The port the portal reads: a missing report is computed and stored; a current one is served
    as stored; a stale one is served as it was (saying when) until refresh_dashboards replaces
    it; a campaign not in force has none."""
    facts, store = dashboard(ledger, clock)
    reports = StoredDashboards(facts, store, min_members=K, clock=clock)
    ledger.reconcile(sample_day(make_csv))

    report = reports.latest("amex-mcdonalds")
    assert report is not None
    assert store.stored("amex-mcdonalds") is not None
    assert report_data(report) == fresh(facts, "amex-mcdonalds", clock)

    ledger.reconcile(make_csv("next.csv", tx_row("T20", CAROL_CARD, "MID-MCD-0001", "7.00",
                                                 day="2026-11-23")))
    stale = store.stored("amex-mcdonalds").stamp
    before = report
    served = reports.latest("amex-mcdonalds")
    assert store.stored("amex-mcdonalds").stamp == stale
    assert report_data(served) == report_data(before)
    refresh_dashboards(facts, store, ["amex-mcdonalds"], min_members=K, clock=clock)
    report = reports.latest("amex-mcdonalds")
    assert store.stored("amex-mcdonalds").stamp != stale
    assert report_data(report) == fresh(facts, "amex-mcdonalds", clock)
    assert report.data_last_day == date(2026, 11, 23)
    assert reports.latest("amex-nowhere") is None


def test_retention_deletes_only_what_no_rule_keeps(ledger, make_csv, clock):
    """Kept purchases go 13 months after they were made (here later than 90 days after every
    campaign's redeem_by); the affected reports are recomputed when next asked for."""
    facts, store = dashboard(ledger, clock)
    ledger.reconcile(sample_day(make_csv))
    refresh_dashboards(facts, store, sorted(ledger.catalog.by_id), min_members=K, clock=clock)

    assert prune_kept_purchases(ledger.uow, ledger.catalog, store, today=date(2027, 12, 18)) == 0
    assert len(kept(ledger.engine)) == len(KEPT)  # T10, the oldest (Nov 18), is 13 months old today

    gone = prune_kept_purchases(ledger.uow, ledger.catalog, store, today=date(2027, 12, 22))

    assert gone == len(KEPT) - 1
    assert [row[0] for row in kept(ledger.engine)] == ["T8"]  # Nov 22: a day short of 13 months
    assert set(store.stamps()) == {"amex-virgin-america"}  # its merchant id had nothing to delete


@pytest.mark.sqlite_only  # builds its own database at an older revision
def test_upgrading_keeps_the_purchases_the_ledger_kept_for_the_dashboard(tmp_path):
    """0009 starts the dashboard's history from card_transactions: purchases, and refunds naming
    their purchase (a refund naming none is left out)."""
    from bot.adapters.migrations import upgrade
    from bot.adapters.sql.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO transaction_files (id, sha256, name, status, rows_done, counters, started_at, "
            "notices_after, notices_done, phase, run, credits_before, earlier_runs) VALUES (1, "
            f"'{1:064d}', 'd1.csv', 'reconciled', 3, '{{}}', '2026-11-23 12:00:00', 0, 0, "
            "'done', 1, 0, '[]')")
        for tid, kind, original in (("T1", "purchase", None), ("R1", "refund", "T1"), ("R2", "refund", None)):
            conn.execute(text(
                "INSERT INTO card_transactions (transaction_id, file_id, line, member_id, merchant_id, "
                "cents, currency, day, kind, original_id, outcomes) VALUES (:tid, 1, 2, '1001', "
                "'MID-MCD-0001', 500, 'USD', '2026-11-21', :kind, :original, 'amex-mcdonalds=credited')"),
                {"tid": tid, "kind": kind, "original": original})

    upgrade(engine)

    assert kept(engine) == [("R1", "1001", "MID-MCD-0001", "2026-11-21", 500, "T1"),
                            ("T1", "1001", "MID-MCD-0001", "2026-11-21", 500, None)]
    engine.dispose()
