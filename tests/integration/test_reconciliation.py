"""Reconciling transaction files into credits: exactly once, crash-safe, explained."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, credits_in_db, exported, reply_context, tx_row


def test_a_qualifying_purchase_earns_one_credit_and_an_export_line(ledger, make_csv):
    """Alice's $12.50 at McDonald's after enrolling earns $5.00, exported with her last 4 digits."""
    path = make_csv("day.csv", tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50"))

    summary = ledger.reconcile(path)

    assert summary.status == "reconciled"
    assert (summary.rows, summary.accepted, summary.rejected, summary.matched) == (1, 1, 0, 1)
    assert summary.outcomes == {"credited": 1}
    assert summary.campaigns["amex-mcdonalds"]["credited_cents"] == 500
    [line] = exported(summary.exports["credits.csv"])
    assert (line["transaction_id"], line["campaign_id"], line["amount"], line["last4"], line["kind"]) == (
        "T1", "amex-mcdonalds", "5.00", "0005", "credit")
    assert line["credit_id"].startswith("CR")


DAY_CREDITS = [("T1", "amex-mcdonalds", "credit", 500), ("T3", "amex-zappos", "credit", 1000),
               ("T4", "amex-fedex", "credit", 500), ("T8", "amex-zappos", "clawback", -1000)]


def sample_day(make_csv, name: str = "day.csv", *extra: str) -> Path:
    """A day with a bit of everything: credit, below minimum, other merchant, unlinked card,
    not enrolled, a refund reversing a credit, a purchase before enrolment (and ``extra`` rows
    first)."""
    return make_csv(
        name,
        *extra,
        tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50"),
        tx_row("T2", ALICE_CARD, "MID-ZAP-0001", "70.00"),
        tx_row("T3", ALICE_CARD, "MID-ZAP-0002", "80.00"),
        tx_row("T4", BOB_CARD, "MID-FDX-0001", "25.00"),
        tx_row("T5", "4111111111111111", "MID-MCD-0001", "9.00"),
        tx_row("T6", CAROL_CARD, "MID-MCD-0002", "9.00"),
        tx_row("T7", BOB_CARD, "SHOP-1", "99.00"),
        tx_row("T8", ALICE_CARD, "MID-ZAP-0001", "10.00", kind="refund", original="T3", day="2026-11-22"),
        tx_row("T9", BOB_CARD, "MID-FDX-0001", "30.00", day="2026-11-19"),
    )


def test_a_day_is_decided_rule_by_rule(ledger, make_csv):
    """Each row lands in exactly one place of the summary, and credits follow the rules."""
    summary = ledger.reconcile(sample_day(make_csv))

    assert (summary.rows, summary.rejected, summary.other_merchant, summary.not_linked) == (9, 0, 1, 1)
    assert summary.outcomes == {"credited": 3, "below minimum": 1, "not enrolled": 1, "clawback": 1,
                                "outside window": 1}
    assert credits_in_db(ledger.engine) == DAY_CREDITS


def test_the_same_file_twice_issues_nothing_new_and_says_so(ledger, make_csv):
    """A file with a known SHA-256 is reported as already reconciled; no credit is added."""
    path = sample_day(make_csv)
    first = ledger.reconcile(path)

    again = ledger.reconcile(path)

    assert again.status == "already reconciled"
    assert again.campaigns == first.campaigns
    assert len(credits_in_db(ledger.engine)) == 4


def test_an_overlapping_file_credits_only_what_is_new(ledger, make_csv):
    """A later file repeating transactions gives them no second credit and counts them as such."""
    ledger.reconcile(sample_day(make_csv))
    later = make_csv("next.csv", tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50"),
                     tx_row("T10", BOB_CARD, "MID-FDX-0001", "40.00", day="2026-11-23"))

    summary = ledger.reconcile(later)

    assert summary.outcomes["already reconciled"] == 1
    assert summary.outcomes["member limit reached"] == 1  # Bob had his one FedEx credit already
    assert len(credits_in_db(ledger.engine)) == 4


@pytest.mark.parametrize(("phase", "step", "kept"), [
    ("staging", "stage", []),
    ("deciding", "_chunk", [("T1", "amex-mcdonalds", "credit", 500), ("T3", "amex-zappos", "credit", 1000)]),
], ids=["killed-while-reading", "killed-while-deciding"])
def test_a_run_that_dies_midway_and_is_rerun_gives_the_credits_of_a_clean_run(
        ledger, make_csv, monkeypatch, phase, step, kept):
    """Kill a run after its first committed batch (reading) or chunk (deciding); the rerun resumes
    and matches a clean run exactly."""
    import importlib

    module = importlib.import_module(f"bot.services.{phase}")
    owner = module.Stager if phase == "staging" else module.Decider
    ledger.deps.batch_rows = 32  # reading: batches of 8, then 32 rows; deciding: chunks of 4 rows
    path = sample_day(make_csv)
    real_step = getattr(owner, step)
    calls = {"n": 0}

    def dies_the_second_time(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as good as kill -9 for what was committed
        return real_step(self, *args)

    monkeypatch.setattr(owner, step, dies_the_second_time)
    with pytest.raises(KeyboardInterrupt):
        ledger.reconcile(path)
    assert credits_in_db(ledger.engine) == kept  # credits come in time order, a chunk at a time
    assert not list(ledger.exports.glob("*.csv"))  # nothing half-written is left as an export

    monkeypatch.setattr(owner, step, real_step)
    resumed = ledger.reconcile(path)

    assert resumed.status == "reconciled"
    assert (resumed.rows, resumed.matched) == (9, 7)
    assert credits_in_db(ledger.engine) == DAY_CREDITS
    assert [r["transaction_id"] for r in exported(resumed.exports["credits.csv"])] == ["T1", "T3", "T4", "T8"]


def test_a_file_resumed_after_another_file_kept_one_of_its_transactions_credits_it_once(
        ledger, make_csv, monkeypatch):
    """A run killed after reading, before deciding, then resumed after another file with the same
    transaction id was reconciled to the end: that file decided it first, so the resumed run counts it
    as already reconciled and finishes (it used to fail on the repeated id at every resume)."""
    from bot.services import deciding

    real = deciding.Decider._chunk

    def killed(self, *args):
        raise KeyboardInterrupt  # as good as kill -9: everything read is staged, nothing decided

    monkeypatch.setattr(deciding.Decider, "_chunk", killed)
    with pytest.raises(KeyboardInterrupt):
        ledger.reconcile(sample_day(make_csv))
    monkeypatch.setattr(deciding.Decider, "_chunk", real)
    other = ledger.reconcile(make_csv("other.csv", tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50")))
    assert other.status == "reconciled"

    resumed = ledger.reconcile(sample_day(make_csv))

    assert resumed.status == "reconciled"
    assert resumed.outcomes["already reconciled"] == 1
    assert (resumed.rows, resumed.matched) == (9, 7)
    assert sorted(credits_in_db(ledger.engine)) == sorted(DAY_CREDITS)  # T1 once, by the other file


def test_exports_lost_after_the_final_commit_are_written_again(ledger, make_csv):
    """If the run died between its last commit and writing the files, asking again writes them."""
    path = sample_day(make_csv)
    summary = ledger.reconcile(path)
    for export in summary.exports.values():
        Path(export).unlink()

    ledger.reconcile(path)

    assert [r["transaction_id"] for r in exported(summary.exports["credits.csv"])] == ["T1", "T3", "T4", "T8"]


def test_a_dry_run_decides_everything_and_writes_nothing(ledger, make_csv):
    """--dry-run gives the same summary as a real run but leaves no trace in the ledger or on disk."""
    path = sample_day(make_csv)

    dry = ledger.reconcile(path, dry_run=True)

    assert dry.status == "dry run"
    assert credits_in_db(ledger.engine) == []
    with ledger.uow(readonly=True) as tx:
        assert tx.ledger.file(dry.sha256) is None
    assert not ledger.exports.exists()
    real = ledger.reconcile(path)
    assert (dry.outcomes, dry.campaigns, dry.rows) == (real.outcomes, real.campaigns, real.rows)


def test_a_backtest_counts_every_linked_member_as_enrolled(ledger, make_csv):
    """With assume_enrolled, Carol's purchase earns what it would have; still nothing is written."""
    path = make_csv("past.csv", tx_row("T6", CAROL_CARD, "MID-MCD-0002", "9.00"))

    summary = ledger.reconcile(path, dry_run=True, assume_enrolled=True)

    assert summary.outcomes == {"credited": 1}
    assert credits_in_db(ledger.engine) == []


def test_the_background_scanner_gives_the_same_result(ledger, make_csv, monkeypatch):
    """Scanning in a second process (large files) decides exactly as scanning in-process."""
    import dataclasses

    import bot.services.file_scan as file_scan
    from bot.adapters.scan_process import scan_in_second_process
    from bot.services.reconciliation import reconcile_file

    monkeypatch.setattr(file_scan, "IN_PROCESS_BELOW", 0)
    path = sample_day(make_csv)

    summary = reconcile_file(dataclasses.replace(ledger.deps, scanner=scan_in_second_process), ledger.catalog,
                             path)

    assert summary.outcomes["credited"] == 3
    assert credits_in_db(ledger.engine)[-1] == ("T8", "amex-zappos", "clawback", -1000)


def test_a_refund_in_a_later_file_reverses_a_credit_from_an_earlier_one(ledger, make_csv):
    """The ledger remembers credited purchases: a refund days later, in another file, claws back."""
    ledger.reconcile(make_csv("d1.csv", tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50")))

    summary = ledger.reconcile(make_csv("d2.csv", tx_row("R1", ALICE_CARD, "MID-MCD-0001", "12.50",
                                                         kind="refund", day="2026-11-25")))

    assert summary.outcomes == {"clawback": 1}
    assert credits_in_db(ledger.engine)[-1] == ("R1", "amex-mcdonalds", "clawback", -500)


def test_explain_walks_through_a_credit_and_its_reversal(ledger, make_csv):
    """explain lists the member's link, enrolment, each transaction's outcome and the credits."""
    from bot.services.explain import explain

    ledger.reconcile(sample_day(make_csv))

    report = explain(ledger.uow, ledger.catalog, "1001", "amex-zappos")

    assert report.member is not None
    assert report.enrolment is not None
    assert report.enrolment.post_id == "5002"
    assert [(t.transaction_id, t.outcome) for t in report.transactions] == [
        ("T2", "below minimum (under the 75.00 minimum)"), ("T3", "credited"),
        ("T8", "clawback (refund leaves 70.00)")]
    assert [c.kind for c in report.credits] == ["credit", "clawback"]
    assert report.verdict() == "credited, then reversed after a refund"


@pytest.mark.parametrize(("member", "campaign", "expected"), [
    ("1002", "amex-fedex", "credited $5.00 net"),
    ("1003", "amex-mcdonalds", "not enrolled: the member never posted #AmexMcDonalds to the bot"),
    ("9999", "amex-mcdonalds", "X user 9999 has never been linked to a card"),
    ("1001", "no-such-campaign", "no campaign has the id 'no-such-campaign'"),
    ("1002", "amex-virgin-america", "not enrolled: the member never posted #AmexVirginAmer to the bot"),
])
def test_explain_says_what_stopped_a_credit(ledger, make_csv, member, campaign, expected):
    """The one-line verdict names the first thing that stood between the member and a credit."""
    from bot.services.explain import explain

    ledger.reconcile(sample_day(make_csv))

    assert explain(ledger.uow, ledger.catalog, member, campaign).verdict() == expected


def test_explain_for_an_enrolled_member_without_purchases(ledger):
    """Enrolled but no purchase seen yet: explain says so."""
    from bot.services.explain import explain

    report = explain(ledger.uow, ledger.catalog, "1001", "amex-mcdonalds")

    assert report.verdict() == ("enrolled, but no purchase at this merchant has been seen in a "
                                "transaction file")


def test_the_inbox_moves_each_file_once_it_is_done(ledger, make_csv, clock, tmp_path):
    """Reconciled files go to processed/, refused ones to failed/ with the reason beside them."""
    import os

    from bot.services.inbox import reconcile_inbox

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = sample_day(make_csv)
    good.rename(inbox / "day.csv")
    (inbox / "latin1.csv").write_bytes("transaction_id,card_number\nT1,Café\n".encode("cp1252"))
    (inbox / ".uploading.csv").write_text("partial")
    fresh = inbox / "fresh.csv"
    fresh.write_text("still being copied")
    old = clock().timestamp() - 3600
    for path in (inbox / "day.csv", inbox / "latin1.csv", inbox / ".uploading.csv"):
        os.utime(path, (old, old))
    os.utime(fresh, (clock().timestamp(), clock().timestamp()))

    results = reconcile_inbox(ledger.deps, ledger.catalog, inbox)

    assert sorted(r.name for r in results) == ["day.csv", "latin1.csv"]
    assert (inbox / "processed" / "day.csv").exists()
    assert "UTF-8" in (inbox / "failed" / "latin1.csv.reason.txt").read_text()
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == [".uploading.csv", "fresh.csv"]


def test_the_inbox_never_overwrites_a_processed_file_of_the_same_name(ledger, make_csv, clock, tmp_path):
    """Monday's day.csv and Tuesday's day.csv both survive in processed/."""
    import os

    from bot.services.inbox import reconcile_inbox

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    old = clock().timestamp() - 3600
    for name, rows in (("a.csv", [tx_row("T1", ALICE_CARD, "MID-MCD-0001", "12.50")]),
                       ("b.csv", [tx_row("T2", BOB_CARD, "MID-FDX-0001", "25.00")])):
        make_csv(name, *rows).rename(inbox / "day.csv")
        os.utime(inbox / "day.csv", (old, old))
        reconcile_inbox(ledger.deps, ledger.catalog, inbox)

    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["day.1.csv", "day.csv"]


def test_credit_notices_are_queued_once_each_and_sent_by_direct_message(
        ledger, make_csv, clock, renderer, api):
    """Each credit of a reconciled file becomes one DM to its member (issue 9.5: these were public
    replies threaded under the bot's confirmation); nothing about a purchase is posted publicly."""
    from bot.domain.replies import ReplyIntent
    from bot.services.notices import queue_credit_notices
    from bot.services.replies import send_replies

    with ledger.uow() as tx:  # Alice's and Bob's enrolment confirmations, already sent
        tx.outbox.add_many([ReplyIntent(f"post:{p}", m, p, "reply.j2", reply_context(ref=p),
                                        thread=f"post:{p}")
                            for p, m in (("5002", "1001"), ("5003", "1002"), ("5001", "1001"))], clock())
        tx.commit()
    send_replies(ledger.uow, api, renderer, clock)
    confirmations = list(api.replies)
    ledger.reconcile(sample_day(make_csv))

    queued = queue_credit_notices(ledger.uow, ledger.catalog, clock, limit=2)
    queued += queue_credit_notices(ledger.uow, ledger.catalog, clock, limit=2)
    queued += queue_credit_notices(ledger.uow, ledger.catalog, clock, limit=2)
    send_replies(ledger.uow, api, renderer, clock)

    assert queued == 4
    assert queue_credit_notices(ledger.uow, ledger.catalog, clock) == 0
    assert api.replies == confirmations  # no public reply about a purchase
    assert sorted(member for _, member, _ in api.dms) == ["1001", "1001", "1001", "1002"]
    texts = [text for text, _, _ in api.dms]
    zappos_ref = next(t for t in texts if "credit from Zappos.com" in t).rsplit("Ref ", 1)[1]
    [reversal] = [t for t in texts if "reversed" in t]
    assert reversal.startswith(f"Your $10.00 Zappos.com credit (ref {zappos_ref}) was reversed after a "
                               "refund. Ref ")
    assert any("Good news: your $5.00 statement credit from McDonald's" in t for t in texts)


@pytest.mark.parametrize("confirmation",
                         [None, "sent", "failed", "duplicate", "pending", "sending elsewhere"])
def test_a_credit_notice_is_a_direct_message_whatever_became_of_the_confirmation(
        uow, clock, renderer, members, api, confirmation):
    """Whether the enrolment confirmation went out, failed, or is still on its way, the credit notice
    goes straight to the member by DM and never becomes a reply to the member's post."""
    from bot.domain.reconcile import Credit
    from bot.domain.replies import ReplyIntent, credit_notice
    from bot.errors import DuplicateContent, PermanentApiError
    from bot.services.replies import send_replies
    from tests.fakes import campaign

    if confirmation is not None:
        with uow() as tx:
            tx.outbox.add_many([ReplyIntent("post:5001", "1001", "5001", "reply.j2", reply_context(ref="C"),
                                            thread="post:5001")], clock())
            tx.commit()
        if confirmation == "sending elsewhere":
            with uow() as tx:
                tx.outbox.claim(clock(), 1, timedelta(minutes=5), "elsewhere:1", lambda _: False)
                tx.commit()
        elif confirmation != "pending":
            if confirmation != "sent":
                api.reply_errors.append(DuplicateContent("dup") if confirmation == "duplicate"
                                        else PermanentApiError("refused"))
            send_replies(uow, api, renderer, clock)
    replies_before = list(api.replies)
    credit = Credit("CRX", "T1", "amex-mcdonalds", "1001", "credit", 500, "USD", "0005", 1250,
                    "MID-MCD-0001", clock().date())
    with uow() as tx:
        tx.outbox.add_many([credit_notice(credit, campaign(), "5001")], clock())
        tx.commit()

    send_replies(uow, api, renderer, clock)

    [(text, member, _)] = api.dms
    assert member == "1001"
    assert "statement credit" in text
    assert not any("statement credit" in r[0] for r in api.replies)
    assert len([r for r in api.replies if r not in replies_before]) <= 1  # at most the pending confirmation


@pytest.mark.slow
def test_the_scanner_process_does_not_outlive_a_killed_reconciliation(tmp_path):
    """kill -9 the process reconciling a large file: its scanning process stops as well."""
    import signal
    import subprocess
    import sys
    import time

    big = tmp_path / "big.csv"
    big.write_text("transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,"
                   "type\n" + "".join(f"T{n},{ALICE_CARD},MID-MCD-0001,McD,1.00,USD,2026-11-21,purchase\n"
                                      for n in range(120_000)))
    script = f"""
import os, sys, time
from pathlib import Path
from datetime import UTC
from bot.adapters.transaction_csv import inspect_file
from bot.domain.cards import Fingerprinter
from functools import partial
from bot.adapters.scan_process import BackgroundScan
from bot.services.file_scan import Interest, read_columns, scan
if __name__ == "__main__":
    facts = inspect_file(Path({str(big)!r}))
    work = partial(scan, facts, read_columns(facts), 0, Interest({{"MID-MCD-0001": ("m",)}}, {{}}),
                   Fingerprinter(b"k" * 32), 1000)
    scan = BackgroundScan(work, name="big.csv")
    print(scan._worker.pid, flush=True)
    time.sleep(60)  # never reads a batch: the scanner blocks with its queue full
"""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()

    def gone() -> bool:
        status = Path(f"/proc/{worker}/status")
        return not status.exists() or "zombie" in status.read_text()

    deadline = time.monotonic() + 20
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.1)  # watching a real process
    assert gone()


def test_a_backtest_of_a_file_reconciled_before_counts_every_row_as_new_and_writes_nothing(
        ledger, make_csv, uow, clock):
    """Backtesting a past file evaluates each row afresh (not "already reconciled") and leaves every table
    exactly as it was; its counts are those of a real run on an empty ledger with everyone enrolled."""
    from bot.domain.enrolment import Enrolment
    from tests.fakes import dump_tables

    path = sample_day(make_csv)
    real = ledger.reconcile(path)
    assert real.status == "reconciled"
    before = dump_tables(ledger.engine)

    backtest = ledger.reconcile(path, dry_run=True, assume_enrolled=True)

    assert dump_tables(ledger.engine) == before
    assert backtest.status == "dry run"
    assert "already reconciled" not in backtest.outcomes
    with ledger.engine.begin() as conn:  # now an empty ledger, everyone enrolled from the campaign's start
        for name in ("credits", "card_transactions", "rejects", "pending_refunds", "staged_transactions",
                     "transaction_files", "enrolments"):
            conn.exec_driver_sql(f"DELETE FROM {name}")
        conn.exec_driver_sql("UPDATE campaigns SET spent_cents = 0")
    with uow() as tx:
        tx.enrolments.add_many([Enrolment(m, c.id, f"8{m}{n}", datetime.combine(c.enrol_from, time(), UTC))
                                for m in ("1001", "1002", "1003")
                                for n, c in enumerate(ledger.catalog.campaigns)])
        tx.commit()
    fresh = ledger.reconcile(path)
    assert {k: v for k, v in backtest.to_dict().items() if k not in ("status", "exports")} == {
        k: v for k, v in fresh.to_dict().items() if k not in ("status", "exports")}


def test_a_dry_run_stages_in_a_private_scratch_file_it_deletes(ledger, make_csv, monkeypatch):
    """The scratch ledger is a file only its owner can read, in a folder of its own, gone after the run."""
    import stat

    from bot.adapters.sql import scratch

    seen = {}
    real_close = scratch.ScratchLedger.close

    def close(self):
        folder = self._folder
        seen["folder"] = folder
        seen["modes"] = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (folder, *folder.iterdir())}
        real_close(self)

    monkeypatch.setattr(scratch.ScratchLedger, "close", close)
    ledger.reconcile(sample_day(make_csv), dry_run=True)

    assert seen["modes"][seen["folder"].name] == 0o700
    assert seen["modes"]["scratch.db"] == 0o600
    assert all(mode & 0o077 == 0 for mode in seen["modes"].values())
    assert not seen["folder"].exists()
