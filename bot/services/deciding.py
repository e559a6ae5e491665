"""Reconciliation, phase two: the staged rows decided in time order, a chunk at a time.

Rows are read back by (transaction date, transaction id), so per-member limits, budgets ("first
come") and refund matching do not depend on the order of the file's rows. Refunds of earlier
files still waiting for their purchase take their place in that order too. Each chunk commits
with its credits, kept transactions, refund state, budgets spent and the last transaction
decided, so a run killed here resumes after that transaction.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from bot.domain.ledger import KeptTransaction, WaitingRefund
from bot.domain.reconcile import (
    APPLIED,
    REFUND_MATCH_DAYS,
    Credit,
    Key,
    Reconciler,
    RefundState,
    Txn,
    TxnOutcome,
    Verdict,
    decision_key,
    refund_state,
)
from bot.domain.reconcile_summary import Summary
from bot.errors import BotError
from bot.ports import DecisionLedger, LedgerSessions
from bot.services.campaigns import Catalog, warn_budget_crossings
from bot.services.reconcile_exports import RunExports
from bot.services.staging import count_sent_again

Progress = Callable[[str, int, int], None]  # (what is being done, done so far, expected about)
# Staged rows per chunk: a row being decided holds several times the memory of a row being read
# (verdicts, credits, the row kept), and a file's relevant rows are a fraction of it: an eighth
# of [reconcile] batch_rows keeps the memory of a chunk near that of a batch read.
CHUNK_SHARE = 8


def chunk_rows(batch_rows: int) -> int:
    """Return how many staged rows are decided per committed chunk."""
    return max(batch_rows // CHUNK_SHARE, 1)


class Decider:
    """Decides one file's staged rows in time order and commits them chunk by chunk."""

    def __init__(self, sessions: LedgerSessions, file_id: int, summary: Summary, catalog: Catalog,
                 reconciler: Reconciler, *, today: date, again: bool, batch_rows: int,
                 clock: Callable[[], datetime], renew: Callable[[], None],
                 exports: RunExports | None, progress: Progress | None,
                 warn_budgets: bool = False) -> None:
        self.sessions, self.file_id, self.summary, self.catalog = sessions, file_id, summary, catalog
        self.reconciler, self.again, self.clock = reconciler, again, clock
        self.chunk_rows = chunk_rows(batch_rows)
        self.renew, self.exports, self.progress = renew, exports, progress
        self.warn_budgets = warn_budgets  # a real run tells ops when a budget crosses 80% and 100%
        # Refunds dated before this have waited REFUND_MATCH_DAYS for their purchase: they expire.
        self.since = today - timedelta(days=REFUND_MATCH_DAYS)
        self.waiting_members: set[str] = set()
        self.decided = 0

    def run(self, cursor: Key | None) -> None:
        """Decide every staged row after ``cursor``, chunk by chunk, committing each."""
        with self.sessions() as session:
            ledger = session.ledger
            self.total = ledger.staged_count(self.file_id)
            self.waiting_members = ledger.pending_members(self.since)
            self._expire(ledger)
            session.commit()
        while True:
            self.renew()
            with self.sessions() as session:
                cursor, last, credits = self._chunk(session.ledger, cursor)
                session.commit()
            if self.warn_budgets:
                warn_budget_crossings(self.catalog.by_id, self.reconciler.spent, _spent_by_campaign(credits))
            self.reconciler.forget()
            if self.exports is not None:  # after the commit: the file holds only what the ledger does
                self.exports.add_credits(credits)
            if self.progress is not None:
                self.progress("deciding", self.decided, max(self.total, self.decided))
            if last:
                return

    def _expire(self, ledger: DecisionLedger) -> None:
        """Give up on waiting refunds whose purchase did not come within the window."""
        expired = ledger.pending_before(self.since)
        if not expired:
            return
        by_mid = self.catalog.by_merchant_id
        rows = []
        for refund, origin in expired:
            verdicts = [Verdict(c.id, TxnOutcome.REFUND_EXPIRED,
                                f"no purchase within {REFUND_MATCH_DAYS} days")
                        for c in by_mid.get(refund.merchant_id, ())]
            rows.append(transaction_row(refund, verdicts, origin))
        ledger.update_transactions(rows)
        ledger.remove_pending([refund.transaction_id for refund, _ in expired])
        self.summary.earlier_refunds["expired"] += len(expired)

    def _chunk(self, ledger: DecisionLedger, cursor: Key | None) -> tuple[Key | None, bool, list[Credit]]:
        """Decide the next chunk; return the new cursor, whether it was the last, and its credits."""
        file_id, reconciler, summary = self.file_id, self.reconciler, self.summary
        staged = ledger.staged_after(file_id, cursor, self.chunk_rows)
        last = len(staged) < self.chunk_rows
        upto = None if last else decision_key(staged[-1])
        reached = decision_key(staged[-1]) if staged else None
        staged = self._not_kept_elsewhere(ledger, staged)
        carried = ledger.pending_between(file_id, cursor, upto, self.since)
        origin = {w.txn.transaction_id: w.file_id for w in carried}
        self._prime(ledger, staged, [w.txn for w in carried], cursor, origin)
        # Refunds of earlier files first where they tie with a row of this file (the same id sent again).
        stream: Iterable[tuple[Txn, bool]] = (
            heapq.merge(((w.txn, True) for w in carried), ((t, False) for t in staged),
                        key=lambda item: decision_key(item[0])) if carried
            else ((t, False) for t in staged))
        evaluate, take_settled = reconciler.evaluate, reconciler.take_settled
        credits: list[Credit] = []
        add_credit = credits.append
        kept: dict[str, tuple[Txn, list[Verdict]]] = {}  # this chunk's rows, in decision order
        updates: list[KeptTransaction] = []  # rows kept earlier whose refund was settled now
        waiting: dict[str, Txn] = {}
        settled: list[str] = []
        txn = None
        for txn, is_carried in stream:
            tid = txn.transaction_id
            verdicts = evaluate(txn)
            if is_carried:  # a refund of an earlier file, at its place in time: its purchase may be here
                if refund_state(verdicts) != RefundState.PENDING:
                    self._settled_earlier(txn, verdicts, origin[tid], updates, settled)
            else:
                kept[tid] = (txn, verdicts)
                if txn.kind == "refund" and refund_state(verdicts) == RefundState.PENDING:
                    waiting[tid] = txn
            for v in verdicts:
                if v.credit is not None:
                    add_credit(v.credit)
            if not reconciler.settled:
                continue
            for refund, applied in take_settled():  # waiting refunds this purchase settled, right after it
                credits.extend(v.credit for v in applied if v.credit is not None)
                rid = refund.transaction_id
                if rid in kept:
                    kept[rid] = (refund, _after_waiting(applied, summary.file))
                    waiting.pop(rid, None)
                else:
                    self._settled_earlier(refund, applied, origin[rid], updates, settled)
        # In id order: the table is clustered on the id, and appends are cheaper than inserts.
        rows = sorted(transaction_row(t, v, file_id) for t, v in kept.values())
        outcomes = [v.outcome for _, verdicts in kept.values() for v in verdicts]
        summary.outcomes.update(outcomes)  # StrEnum members are their own string keys
        if self.again:
            for _, verdicts in kept.values():
                for v in verdicts:
                    if v.outcome in (TxnOutcome.ALREADY_CREDITED, TxnOutcome.REFUND_ALREADY_APPLIED):
                        summary.add_unchanged(v.campaign_id)
        for credit in credits:
            summary.add_credit(credit.campaign_id, credit.kind, credit.cents)
        if self.again:  # a refund of this file decided afresh no longer waits, unless it still does
            settled += [tid for tid, (t, v) in kept.items() if t.kind == "refund" and tid not in waiting]
        ledger.add_transactions(rows, replace=self.again)
        ledger.update_transactions(updates)
        ledger.add_credits(credits, file_id, self.clock())
        ledger.update_refunds(reconciler.touched.values())
        ledger.add_pending([WaitingRefund(t, file_id) for t in waiting.values()])
        ledger.remove_pending(settled)
        refused = ledger.add_spent(_spent_by_campaign(credits))
        if refused:  # the chunk rolls back with the transaction; nothing past a budget is kept
            raise BotError(f"the budget of {', '.join(refused)} was changed while this file was "
                           "being reconciled; run it again to resume from the last chunk")
        self.waiting_members.update(t.member_id for t in waiting.values())
        self.decided += len(staged)
        keys = (cursor, reached, None if txn is None else decision_key(txn))
        newest = max((k for k in keys if k is not None), default=None)
        ledger.save_cursor(file_id, newest, summary.to_dict())
        return newest, last, credits

    def _not_kept_elsewhere(self, ledger: DecisionLedger, staged: list[Txn]) -> list[Txn]:
        """Leave out staged rows another file kept meanwhile (counted as sent again).

        A run killed after reading, before deciding, may be resumed after another file with one of
        its transaction ids was reconciled to the end: that file decided it first, so it is this
        file's repeat of it, as it would have been had the other file come first.
        """
        seen = ledger.seen([t.transaction_id for t in staged])
        elsewhere = {tid: s for tid, s in seen.items() if s.file_id != self.file_id}
        if not elsewhere:
            return staged
        waiting = {s.file_id for s in elsewhere.values() if s.refund_state == RefundState.PENDING}
        names = ledger.file_names(waiting) if waiting else {}
        left = []
        for txn in staged:
            before = elsewhere.get(txn.transaction_id)
            if before is None:
                left.append(txn)
            else:
                count_sent_again(self.summary, self.catalog, txn, before, names.get(before.file_id, ""))
        return left

    def _prime(self, ledger: DecisionLedger, staged: list[Txn], carried: list[Txn], cursor: Key | None,
               origin: dict[str, int]) -> None:
        """Tell the reconciler what the ledger knows that this chunk's rows may need."""
        reconciler = self.reconciler
        refunds = [t for t in staged if t.kind == "refund"] + carried
        referenced = sorted({t.original_id for t in refunds if t.original_id})
        if referenced:
            reconciler.remember(ledger.credited_purchases(referenced))
            reconciler.known.update(tid for tid, s in ledger.seen(referenced).items() if s.kind == "purchase")
        unreferenced = [t for t in refunds if not t.original_id]
        if unreferenced:
            since = min(t.day for t in unreferenced) - timedelta(days=REFUND_MATCH_DAYS)
            reconciler.remember(ledger.refundable(sorted({t.member_id for t in unreferenced}), since))
        if self.again:  # what earlier runs of this file issued stays, and counts once
            before = ledger.credited_purchases([t.transaction_id for t in staged if t.kind == "purchase"])
            reconciler.held = {(p.credit.transaction_id, p.credit.campaign_id) for p in before}
            reconciler.remember(before)
            kept = ledger.outcomes_of(self.file_id, [t.transaction_id for t in staged if t.kind == "refund"])
            applied = {tid: applied_in(text) for tid, text in kept.items()}
            reconciler.applied_before = {tid: done for tid, done in applied.items() if done}
        if cursor is not None and self.waiting_members:
            members = {t.member_id for t in staged if t.kind == "purchase"} & self.waiting_members
            if members:
                passed = ledger.pending_of(sorted(members), cursor, self.since)
                reconciler.wait(w.txn for w in passed)
                origin.update((w.txn.transaction_id, w.file_id) for w in passed)

    def _settled_earlier(self, refund: Txn, verdicts: list[Verdict], origin: int,
                         updates: list[KeptTransaction], settled: list[str]) -> None:
        """Record a refund kept before (an earlier chunk or file) that no longer waits."""
        verdicts = _after_waiting(verdicts, self.summary.file)
        updates.append(transaction_row(refund, verdicts, origin))
        settled.append(refund.transaction_id)
        summary = self.summary
        if origin == self.file_id:  # counted as pending (once per campaign) when it was decided
            outcomes = summary.outcomes
            outcomes[TxnOutcome.REFUND_PENDING] -= len(
                self.catalog.by_merchant_id.get(refund.merchant_id, ()))
            if outcomes[TxnOutcome.REFUND_PENDING] <= 0:
                del outcomes[TxnOutcome.REFUND_PENDING]
            outcomes.update(v.outcome for v in verdicts)
        else:
            applied = refund_state(verdicts) == RefundState.APPLIED
            summary.earlier_refunds["applied" if applied else "nothing to reverse"] += 1


def applied_in(outcomes: str) -> frozenset[str]:
    """Return the campaigns a kept refund's outcomes (``campaign=outcome (detail) | ...``) say it was
    applied to."""
    found = []
    for part in outcomes.split(" | "):
        campaign_id, _, rest = part.partition("=")
        if rest.partition(" (")[0] in APPLIED:
            found.append(campaign_id)
    return frozenset(found)


def _after_waiting(verdicts: Iterable[Verdict], file: str) -> list[Verdict]:
    """Say in a settled refund's verdicts that it waited for its purchase."""
    return [v._replace(detail=f"{v.detail}; once its purchase came in {file}" if v.detail
                       else f"once its purchase came in {file}") for v in verdicts]


def transaction_row(txn: Txn, verdicts: list[Verdict], file_id: int) -> KeptTransaction:
    """Return the kept row of a transaction: its fields, outcomes and (a refund's) state."""
    outcomes = (_verdict_text(verdicts[0]) if len(verdicts) == 1  # the usual case, without the join
                else " | ".join(map(_verdict_text, verdicts)))
    state = refund_state(verdicts) if txn.kind == "refund" else None
    return KeptTransaction(txn.transaction_id, file_id, txn.line, txn.member_id, txn.merchant_id, txn.cents,
                           txn.currency, txn.day, txn.kind, txn.original_id, outcomes[:1000], state)


def _verdict_text(v: Verdict) -> str:
    """Return ``campaign=outcome (detail)``, the form `offerbot explain` reads back."""
    return f"{v.campaign_id}={v.outcome} ({v.detail})" if v.detail else f"{v.campaign_id}={v.outcome}"


def _spent_by_campaign(credits: list[Credit]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for credit in credits:
        totals[credit.campaign_id] += credit.cents
    return dict(totals)
