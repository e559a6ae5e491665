"""The result of a file does not depend on the order of its rows, nor on a refund arriving in an
earlier file than its purchase: transactions are decided by date and id, and refunds wait.

Each example reconciles the same transactions (purchases, full and partial refunds, refunds by
reference and by match, negative refunds, several purchases per member under per-member limits
and budgets) into a fresh ledger three ways, and compares the net credit per transaction.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from bot.adapters.locks import locks_for
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.domain.enrolment import Enrolment
from bot.services.campaigns import Catalog
from bot.services.members import link_member
from bot.services.reconciliation import ReconcileDeps, reconcile_file
from tests.conftest import HEADER, examples
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, FixedClock, campaign, tx_row

FIXED = campaign(id="ord-fixed", hashtag="#OrdFixed", merchant_ids=("MID-FIX-1", "MID-BOTH"),
                 min_spend=Decimal("10.00"), credit=Decimal("5.00"), per_member=2, budget=Decimal("25.00"))
PERCENT = campaign(id="ord-percent", hashtag="#OrdPercent", merchant_ids=("MID-PCT-1", "MID-BOTH"),
                   min_spend=Decimal("10.00"), credit=None, percent=Decimal("10"),
                   max_credit=Decimal("8.00"), budget=Decimal("30.00"), per_member=2)
CATALOG = Catalog((FIXED, PERCENT))
CARDS = {"1001": ALICE_CARD, "1002": BOB_CARD, "1003": CAROL_CARD}
MIDS = ("MID-FIX-1", "MID-PCT-1", "MID-BOTH")
AMOUNTS = (1200, 3000, 7500, 12000, 800, 2550)  # cents; 800 is under both minimums
START_DAY = date(2026, 11, 1)


@dataclass(frozen=True)
class Purchase:
    tid: str
    member: str
    mid: str
    cents: int
    day: date


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@st.composite
def days_of_trading(draw: st.DrawFn) -> list[str]:
    """Draw purchases and refunds of them (full or partial, by reference or by match, either sign,
    some dated before their purchase, some naming no purchase there is) as file rows."""
    purchases = []
    for n in range(draw(st.integers(3, 14))):
        purchases.append(Purchase(f"P{draw(st.integers(0, 999)):03d}-{n}",
                                  draw(st.sampled_from(sorted(CARDS))), draw(st.sampled_from(MIDS)),
                                  draw(st.sampled_from(AMOUNTS)),
                                  START_DAY + timedelta(days=draw(st.integers(0, 12)))))
    rows = [tx_row(p.tid, CARDS[p.member], p.mid, money(p.cents), day=p.day.isoformat()) for p in purchases]
    for n in range(draw(st.integers(0, 8))):
        p = draw(st.sampled_from(purchases))
        by_reference = draw(st.booleans())
        whole = draw(st.booleans()) or not by_reference  # a refund by match is of the whole amount
        cents = p.cents if whole else draw(st.sampled_from([p.cents // 4, 500, p.cents - 100]))
        # By reference, a refund may be dated before its purchase (it then waits for it).
        shift = draw(st.integers(-3 if by_reference else 0, 12))
        sign = draw(st.sampled_from(["", "-"]))
        original = (p.tid if draw(st.integers(0, 9)) else "P-NONE") if by_reference else ""
        day = (p.day + timedelta(days=shift)).isoformat()
        rows.append(tx_row(f"R{draw(st.integers(0, 999)):03d}-{n}", CARDS[p.member], p.mid,
                           sign + money(cents), day=day, kind="refund", original=original))
    return rows


def reset(engine: Engine, clock: FixedClock) -> None:
    """Empty every table, then link Alice, Bob and Carol and enrol each in both campaigns."""
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())
    uow = unit_of_work_factory(engine)
    from bot.domain.cards import Fingerprinter

    for user_id, card in CARDS.items():
        link_member(uow, Fingerprinter(b"order-key-" + b"o" * 32), clock, user_id, f"m{user_id}", card)
    with uow() as tx:
        tx.campaigns.sync(CATALOG.campaigns, clock())
        enrolled = datetime(2026, 10, 30, tzinfo=UTC)
        tx.enrolments.add_many([Enrolment(m, c.id, f"9{m}{n}", enrolled)
                                for m in CARDS for n, c in enumerate(CATALOG.campaigns)])
        tx.commit()


def fresh_deps(engine: Engine, folder: Path, batch_rows: int) -> ReconcileDeps:
    """Empty the ledger (then seed it) and return what a reconciliation needs on it."""
    from bot.domain.cards import Fingerprinter

    clock = FixedClock()
    reset(engine, clock)
    return ReconcileDeps(unit_of_work_factory(engine), Fingerprinter(b"order-key-" + b"o" * 32), clock,
                         folder / "exports", UTC, locks_for(engine, "order:1", clock, timedelta(minutes=5)),
                         batch_rows=batch_rows)


def write_file(folder: Path, rows: list[str]) -> Path:
    """Write rows as a transaction file of a name not used before."""
    path = folder / f"day-{random.random():.12f}.csv"
    path.write_text("\n".join((HEADER, *rows)) + "\n")
    return path


def reconcile_files(engine: Engine, folder: Path, files: list[list[str]], batch_rows: int) -> dict[str, Any]:
    """Reconcile the files in turn into a fresh ledger; return the net credit per transaction."""
    deps = fresh_deps(engine, folder, batch_rows)
    for rows in files:
        summary = reconcile_file(deps, CATALOG, write_file(folder, rows))
        assert summary.status == "reconciled"
        assert summary.rejected == 0
    with engine.connect() as conn:
        credits = conn.execute(text("SELECT credit_id, transaction_id, campaign_id, kind, cents, reverses "
                                    "FROM credits")).all()
        spent = dict(conn.execute(text("SELECT id, spent_cents FROM campaigns")).all())
    net: Counter[tuple[str, str]] = Counter()
    purchase_of = {cid: (tid, campaign_id) for cid, tid, campaign_id, kind, _, _ in credits
                   if kind == "credit"}
    for _, tid, campaign_id, kind, cents, reverses in credits:
        net[(tid, campaign_id) if kind == "credit" else purchase_of[reverses]] += cents
    clawbacks = sorted((tid, campaign_id, cents) for _, tid, campaign_id, kind, cents, _ in credits
                       if kind == "clawback")
    return {"net": dict(net), "clawbacks": clawbacks, "spent": spent}


@pytest.mark.parametrize("batch_rows", [3, 200_000], ids=["small-chunks", "one-chunk"])
@settings(max_examples=examples(20), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=days_of_trading(), shuffle=st.randoms(use_true_random=False))
def test_net_credits_do_not_depend_on_row_order_nor_on_refunds_coming_first(
        engine, tmp_path, batch_rows, rows, shuffle):
    """Shuffled rows, or every refund sent a file ahead of the purchases, give the same net credit per
    transaction, the same clawbacks and the same budgets spent as the file in its own order."""
    in_order = reconcile_files(engine, tmp_path, [rows], batch_rows)
    shuffled = rows[:]
    shuffle.shuffle(shuffled)
    refunds_first = [[r for r in shuffled if ",refund," in r], [r for r in shuffled if ",refund," not in r]]

    assert reconcile_files(engine, tmp_path, [shuffled], batch_rows) == in_order
    assert reconcile_files(engine, tmp_path, refunds_first, batch_rows) == in_order


@settings(max_examples=examples(12), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=days_of_trading(), cut=st.integers(0, 20))
def test_a_dry_run_decides_as_the_real_run_then_does_and_writes_nothing(engine, tmp_path, rows, cut):
    """After a day that left refunds waiting and credits to reverse, a dry run of the next day counts
    exactly what the real run of it then does, and changes no table (the dry run reads the ledger
    through its scratch copy, in chunks)."""
    from tests.fakes import dump_tables

    deps = fresh_deps(engine, tmp_path, 3)
    refunds, purchases = [r for r in rows if ",refund," in r], [r for r in rows if ",refund," not in r]
    first, second = purchases[:cut % (len(purchases) + 1)] + refunds, purchases[cut % (len(purchases) + 1):]
    reconcile_file(deps, CATALOG, write_file(tmp_path, first))
    path = write_file(tmp_path, second)
    before = dump_tables(engine)

    dry = reconcile_file(deps, CATALOG, path, dry_run=True)

    assert dump_tables(engine) == before
    real = reconcile_file(deps, CATALOG, path)
    assert {k: v for k, v in dry.to_dict().items() if k not in ("status", "exports")} == {
        k: v for k, v in real.to_dict().items() if k not in ("status", "exports")}


def test_a_refund_earlier_in_the_file_than_its_purchase_still_claws_back(ledger, make_csv):
    """A refund listed (and dated) before the purchase it names waits for it, and takes its credit back."""
    path = make_csv("day.csv", tx_row("R1", ALICE_CARD, "MID-MCD-0001", "12.50", kind="refund", original="T1",
                                      day="2026-11-21"),
                    tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50", day="2026-11-22"))

    summary = ledger.reconcile(path)

    assert summary.outcomes == {"credited": 1, "clawback": 1}
    assert summary.campaigns["amex-mcdonalds"]["credited_cents"] == 500
    assert summary.campaigns["amex-mcdonalds"]["clawed_back_cents"] == 500


@pytest.mark.parametrize("original", ["T1", ""], ids=["by-reference", "by-match"])
def test_a_refund_in_an_earlier_file_than_its_purchase_claws_back_when_the_purchase_arrives(
        ledger, make_csv, original):
    """Day 1 brings the refund (pending), day 2 the purchase: credited, then clawed back, and the refund's
    own record says it was applied."""
    from bot.services.explain import explain

    first = ledger.reconcile(make_csv("d1.csv", tx_row("R1", ALICE_CARD, "MID-MCD-0001", "-12.50",
                                                       kind="refund", original=original, day="2026-11-22")))
    second = ledger.reconcile(make_csv("d2.csv", tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50",
                                                        day="2026-11-21")))

    assert first.outcomes == {"refund pending": 1}
    assert second.outcomes == {"credited": 1}
    assert second.earlier_refunds == {"applied": 1}
    assert second.campaigns["amex-mcdonalds"] == {"credits": 1, "credited_cents": 500, "clawbacks": 1,
                                                  "clawed_back_cents": 500, "unchanged": 0}
    report = explain(ledger.uow, ledger.catalog, "1001", "amex-mcdonalds")
    assert [(t.transaction_id, t.outcome) for t in report.transactions] == [
        ("T1", "credited"), ("R1", "clawback (refund leaves 0.00; once its purchase came in d2.csv)")]
    assert report.verdict() == "credited, then reversed after a refund"


def test_a_pending_refund_expires_after_its_window(ledger, make_csv, clock):
    """A refund whose purchase does not come within 30 days expires, and then reverses nothing."""
    from bot.services.explain import explain

    ledger.reconcile(make_csv("d1.csv", tx_row("R1", ALICE_CARD, "MID-MCD-0001", "12.50", kind="refund",
                                               original="T1", day="2026-11-22")))
    clock.advance(days=31)

    later = ledger.reconcile(make_csv("d2.csv", tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50",
                                                       day="2026-11-21")))

    assert later.earlier_refunds == {"expired": 1}
    assert later.campaigns["amex-mcdonalds"]["clawbacks"] == 0
    [row] = [t for t in explain(ledger.uow, ledger.catalog, "1001", "amex-mcdonalds").transactions
             if t.transaction_id == "R1"]
    assert row.outcome == "refund expired (no purchase within 30 days)"


@pytest.mark.parametrize(("purchase_file", "outcome", "note"), [
    (False, "refund pending", "sent again, pending since d1.csv"),
    (True, "refund already applied", "sent again, already applied"),
], ids=["still-pending", "applied"])
def test_a_refund_sent_again_is_never_applied_twice(ledger, make_csv, purchase_file, outcome, note):
    """A refund sent again in the next file stays pending if it was, or says it was applied already."""
    refund = tx_row("R1", ALICE_CARD, "MID-MCD-0001", "12.50", kind="refund", original="T1", day="2026-11-22")
    ledger.reconcile(make_csv("d1.csv", refund))
    if purchase_file:
        ledger.reconcile(make_csv("p.csv", tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50",
                                                  day="2026-11-21")))

    again = ledger.reconcile(make_csv("d2.csv", refund, tx_row("T9", BOB_CARD, "MID-FDX-0001", "25.00")))

    assert again.outcomes[outcome] == 1
    assert again.earlier_refunds[note] == 1
    with ledger.engine.connect() as conn:
        clawbacks = conn.execute(text("SELECT count(*) FROM credits WHERE kind = 'clawback'")).scalar()
    assert clawbacks == (1 if purchase_file else 0)


def test_a_pending_refund_sent_again_with_its_purchase_is_applied_once(ledger, make_csv):
    """Day 2 repeats day 1's pending refund and brings its purchase: one credit, one clawback."""
    refund = tx_row("R1", ALICE_CARD, "MID-MCD-0001", "12.50", kind="refund", original="T1", day="2026-11-22")
    ledger.reconcile(make_csv("d1.csv", refund))

    day2 = ledger.reconcile(make_csv("d2.csv", refund, tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50",
                                                              day="2026-11-21")))

    assert day2.earlier_refunds["applied"] == 1
    with ledger.engine.connect() as conn:
        kinds = sorted(r[0] for r in conn.execute(text("SELECT kind FROM credits")))
    assert kinds == ["clawback", "credit"]


def test_explain_shows_a_refund_waiting_for_its_purchase(ledger, make_csv):
    """explain lists a pending refund with what it waits for, and the verdict says a refund is waiting."""
    from bot.services.explain import explain

    ledger.reconcile(make_csv("d1.csv", tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50"),
                              tx_row("R1", ALICE_CARD, "MID-MCD-0001", "-20.00", kind="refund", original="T7",
                                     day="2026-11-22")))

    report = explain(ledger.uow, ledger.catalog, "1001", "amex-mcdonalds")

    assert [(t.transaction_id, t.outcome) for t in report.transactions] == [
        ("T1", "credited"), ("R1", "refund pending (waiting for purchase T7)")]
    assert report.verdict() == "credited $5.00 net; refund R1 ($20.00) waits for its purchase"
