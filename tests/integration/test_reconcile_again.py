"""`reconcile --again`: a reconciled file decided afresh after a setting was fixed, issuing only
what was not issued before (its own export), never anything twice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.domain.cards import Fingerprinter
from bot.services import deciding
from bot.services.campaigns import Catalog
from bot.services.notices import queue_credit_notices
from bot.services.reconciliation import NotReconciledYet, reconcile_file
from tests.fakes import ALICE_CARD, credits_in_db, dump_tables, exported, tx_row

from .test_reconciliation import DAY_CREDITS, sample_day


def credited(summary) -> list[tuple[str, str]]:
    """The (transaction id, kind) lines of a run's credits export."""
    return [(r["transaction_id"], r["kind"]) for r in exported(summary.exports["credits.csv"])]


def file_row(ledger, column: str):
    with ledger.engine.connect() as conn:
        return conn.execute(text(f"SELECT {column} FROM transaction_files")).scalar_one()


def test_after_the_wrong_fingerprint_key_again_issues_every_credit_once(ledger, make_csv):
    """Run 1 with the wrong key finds no linked card; --again with the right one issues the day's credits
    in an export of its own, and a third run issues nothing."""
    path = sample_day(make_csv)
    wrong = dataclasses.replace(ledger.deps, fingerprinter=Fingerprinter(b"wrong-key-" + b"w" * 32))
    first = reconcile_file(wrong, ledger.catalog, path)
    assert (first.not_linked, credits_in_db(ledger.engine)) == (8, [])

    again = ledger.reconcile(path, again=True)

    assert (again.status, again.run, again.not_linked) == ("reconciled", 2, 1)
    assert credits_in_db(ledger.engine) == DAY_CREDITS
    assert Path(again.exports["credits.csv"]).name.endswith(".again-1.credits.csv")
    assert credited(again) == [("T1", "credit"), ("T3", "credit"), ("T4", "credit"), ("T8", "clawback")]
    assert credited(first) == []  # the first export stays as it was sent
    assert again.campaigns["amex-zappos"] == {"credits": 1, "credited_cents": 1000, "clawbacks": 1,
                                              "clawed_back_cents": 1000, "unchanged": 0}
    third = ledger.reconcile(path, again=True)
    assert credits_in_db(ledger.engine) == DAY_CREDITS
    assert credited(third) == []
    assert {cid: t["unchanged"] for cid, t in third.campaigns.items()} == {
        "amex-mcdonalds": 1, "amex-zappos": 2, "amex-fedex": 1}
    assert third.outcomes["already credited"] == 3
    assert third.outcomes["refund already applied"] == 1
    assert [r["run"] for r in __import__("json").loads(file_row(ledger, "earlier_runs"))] == [1, 2]


def test_after_a_missing_merchant_id_again_credits_what_was_missed_and_keeps_the_rest(ledger, make_csv):
    """Zappos lacked MID-ZAP-0002: --again credits T3 and applies its refund (pending until then); T1 and
    T4, credited before, are unchanged and not counted against the limit again."""
    path = sample_day(make_csv)
    zappos = ledger.catalog.by_id["amex-zappos"]
    short = Catalog(tuple(dataclasses.replace(c, merchant_ids=("MID-ZAP-0001",)) if c is zappos else c
                          for c in ledger.catalog.campaigns))
    first = reconcile_file(ledger.deps, short, path)
    assert credits_in_db(ledger.engine) == [("T1", "amex-mcdonalds", "credit", 500),
                                            ("T4", "amex-fedex", "credit", 500)]
    assert first.outcomes["refund pending"] == 1  # T8 names T3, which no campaign had

    again = ledger.reconcile(path, again=True)

    assert sorted(credits_in_db(ledger.engine)) == sorted(DAY_CREDITS)
    assert credited(again) == [("T3", "credit"), ("T8", "clawback")]
    assert {cid: (t["credits"], t["clawbacks"], t["unchanged"]) for cid, t in again.campaigns.items()} == {
        "amex-zappos": (1, 1, 0), "amex-mcdonalds": (0, 0, 1), "amex-fedex": (0, 0, 1)}
    with ledger.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pending_refunds")).scalar() == 0
        spent = dict(conn.execute(text("SELECT id, spent_cents FROM campaigns")).all())
    assert (spent["amex-mcdonalds"], spent["amex-zappos"], spent["amex-fedex"]) == (500, 0, 500)


def test_again_applies_a_refund_only_to_the_credits_it_had_not_reversed(ledger, make_csv, uow, clock):
    """A purchase credited by one campaign and refunded; --again adds the second campaign's credit and the
    refund's clawback of it, and takes nothing twice from the first."""
    from bot.domain.enrolment import Enrolment
    from tests.fakes import campaign

    one = campaign(id="one", hashtag="#One", merchant_ids=("MID-SHARED",))
    two = campaign(id="two", hashtag="#Two", merchant_ids=("MID-OTHER",))
    with uow() as tx:
        tx.campaigns.sync([one, two], clock())
        tx.enrolments.add_many([Enrolment("1001", c, f"7{n}", clock()) for n, c in enumerate(("one", "two"))])
        tx.commit()
    path = make_csv("day.csv", tx_row("T1", ALICE_CARD, "MID-SHARED", "12.50", day="2026-11-24"),
                    tx_row("R1", ALICE_CARD, "MID-SHARED", "12.50", kind="refund", original="T1",
                           day="2026-11-25"))
    reconcile_file(ledger.deps, Catalog((one, two)), path)
    fixed = Catalog((one, dataclasses.replace(two, merchant_ids=("MID-OTHER", "MID-SHARED"))))

    again = reconcile_file(ledger.deps, fixed, path, again=True)

    assert credited(again) == [("T1", "credit"), ("R1", "clawback")]
    assert sorted(credits_in_db(ledger.engine)) == [
        ("R1", "one", "clawback", -500), ("R1", "two", "clawback", -500),
        ("T1", "one", "credit", 500), ("T1", "two", "credit", 500)]
    assert again.outcomes == {"already credited": 1, "credited": 1, "refund already applied": 1,
                              "clawback": 1}


def test_again_on_a_file_never_reconciled_is_refused(ledger, make_csv):
    """--again needs a file reconciled before; the message says to run it plainly."""
    path = make_csv("new.csv", tx_row("T1"))

    for dry_run in (False, True):
        with pytest.raises(NotReconciledYet, match=r"new.csv was never reconciled.*`offerbot reconcile new"):
            ledger.reconcile(path, again=True, dry_run=dry_run)
    assert dump_tables(ledger.engine)["transaction_files"] == []


def test_again_as_a_dry_run_shows_what_it_would_issue_and_writes_nothing(ledger, make_csv):
    """--again --dry-run counts the credits it would issue; the database and the exports stay as they were."""
    path = sample_day(make_csv)
    wrong = dataclasses.replace(ledger.deps, fingerprinter=Fingerprinter(b"wrong-key-" + b"w" * 32))
    reconcile_file(wrong, ledger.catalog, path)
    before, files = dump_tables(ledger.engine), sorted(p.name for p in ledger.exports.iterdir())

    preview = ledger.reconcile(path, again=True, dry_run=True)

    assert (preview.status, preview.run) == ("dry run", 2)
    assert sum(t["credits"] for t in preview.campaigns.values()) == 3
    assert dump_tables(ledger.engine) == before
    assert sorted(p.name for p in ledger.exports.iterdir()) == files
    assert ledger.reconcile(path, again=True).campaigns == preview.campaigns


def test_an_again_run_killed_midway_resumes_as_one(ledger, make_csv, monkeypatch):
    """Killed while deciding, an --again run is resumed by a plain `reconcile`, ending as a clean one does."""
    path = sample_day(make_csv)
    wrong = dataclasses.replace(ledger.deps, fingerprinter=Fingerprinter(b"wrong-key-" + b"w" * 32))
    reconcile_file(wrong, ledger.catalog, path)
    ledger.deps.batch_rows = 32  # chunks of 4 staged rows
    real = deciding.Decider._chunk
    calls = {"n": 0}

    def dies_the_second_time(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(deciding.Decider, "_chunk", dies_the_second_time)
    with pytest.raises(KeyboardInterrupt):
        ledger.reconcile(path, again=True)
    assert file_row(ledger, "status") == "running"
    monkeypatch.setattr(deciding.Decider, "_chunk", real)

    resumed = ledger.reconcile(path)

    assert (resumed.status, resumed.run) == ("reconciled", 2)
    assert credits_in_db(ledger.engine) == DAY_CREDITS
    assert credited(resumed) == [("T1", "credit"), ("T3", "credit"), ("T4", "credit"), ("T8", "clawback")]


def test_credit_notices_go_out_for_the_newly_issued_credits_once(ledger, make_csv, clock):
    """After --again, the notice relay queues one notice per credit the run issued, and nothing more."""
    path = sample_day(make_csv)
    reconcile_file(ledger.deps, ledger.catalog, make_csv("other.csv", tx_row("T0", amount="9.00")))
    assert queue_credit_notices(ledger.uow, ledger.catalog, clock) == 1
    wrong = dataclasses.replace(ledger.deps, fingerprinter=Fingerprinter(b"wrong-key-" + b"w" * 32))
    reconcile_file(wrong, ledger.catalog, path)
    assert queue_credit_notices(ledger.uow, ledger.catalog, clock) == 0

    ledger.reconcile(path, again=True)

    assert queue_credit_notices(ledger.uow, ledger.catalog, clock) == 3  # T4, and T3 with its reversal
    assert queue_credit_notices(ledger.uow, ledger.catalog, clock) == 0
    with ledger.engine.connect() as conn:
        keys = [r[0] for r in conn.execute(text("SELECT dedupe_key FROM outbox"))]
    assert len(keys) == len(set(keys)) == 4
