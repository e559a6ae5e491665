"""Reconciliation, phase one: every row read and counted, the rows that can matter staged.

Each scanned batch is committed with its rejects, its counters and the position reached, so a
run killed here resumes at the next batch. A transaction id repeated in the file is found here
(the first line counts); one kept by an earlier file is counted and goes no further.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

from bot.domain.ledger import Seen
from bot.domain.reconcile import RefundState, Txn, TxnOutcome, enrolled_in_none
from bot.domain.reconcile_summary import SHOWN_REJECTS, Summary
from bot.domain.transactions import Reject, shown_id
from bot.ports import DecisionLedger, LedgerSessions
from bot.services.campaigns import Catalog
from bot.services.file_scan import ScanBatch
from bot.services.reconcile_exports import RunExports


class Stager:
    """Stages each scanned batch of one file and commits it with the position reached.

    ``everyone_enrolled`` (a backtest): every linked member counts as enrolled, so no purchase
    is dropped for want of an enrolment.
    """

    def __init__(self, sessions: LedgerSessions, file_id: int, summary: Summary, catalog: Catalog,
                 enrolled_on: Mapping[str, date], *, everyone_enrolled: bool, again: bool,
                 renew: Callable[[], None], exports: RunExports | None) -> None:
        self.sessions, self.file_id, self.summary, self.catalog = sessions, file_id, summary, catalog
        self.enrolled_on, self.everyone_enrolled, self.again = enrolled_on, everyone_enrolled, again
        self.renew, self.exports = renew, exports

    def stage(self, batch: ScanBatch) -> None:
        """Count a batch, keep its rejects, stage its relevant rows; commit with the position."""
        summary = self.summary
        summary.rows += batch.rows
        summary.other_merchant += batch.other_merchant
        summary.not_linked += batch.not_linked
        # Dropped by the scanner once it knew the enrolments, or here before that; the dashboard
        # keeps them all the same (``undecided``), with the rows staged to be decided.
        txns, dropped, dropped_outcomes = batch.txns, batch.not_enrolled, batch.not_enrolled_outcomes
        undecided = batch.kept_only
        if not batch.filtered and not self.everyone_enrolled:
            txns, undecided = self._drop_not_enrolled(txns)
            dropped, dropped_outcomes = dropped + len(undecided), dropped_outcomes + sum(
                len(self.catalog.ids_by_merchant_id[t.merchant_id]) for t in undecided)
        summary.count_not_enrolled(dropped, dropped_outcomes)
        rejects = batch.rejects
        self.renew()
        with self.sessions() as session:
            ledger = session.ledger
            staged, sent_again = self._sort_out(ledger, txns, rejects)
            summary.count_matched(sent_again + len(staged))
            rejects.sort(key=lambda r: r.line)  # repeats are found last; the file lists by line
            summary.rejected += len(rejects)
            room = SHOWN_REJECTS - len(summary.shown_rejects)
            if room > 0:  # batches come in file order: the file's first rejects (a dry run lists them)
                summary.shown_rejects.extend(rejects[:room])
            ledger.add_rejects(self.file_id, rejects)
            ledger.stage(self.file_id, staged)
            # In the batch's transaction, so a resumed run keeps each once; the staged rows
            # second, as they replace an undecided row with their id (the dashboard then holds
            # the row that earned the credit).
            ledger.keep_purchases(self.file_id, undecided)
            ledger.keep_purchases(self.file_id, staged, decided=True)
            ledger.save_progress(self.file_id, summary.rows, summary.to_dict())
            session.commit()
        if self.exports is not None:  # after the commit: the file holds only what the ledger does
            self.exports.add_rejects(rejects)

    def _sort_out(self, ledger: DecisionLedger, txns: list[Txn],
                  rejects: list[Reject]) -> tuple[list[Txn], int]:
        """Return the rows to stage, and how many an earlier file kept (counted); reject repeats."""
        file_id = self.file_id
        seen = ledger.seen([t.transaction_id for t in txns])
        waiting = {s.file_id for s in seen.values() if s.refund_state == RefundState.PENDING}
        names = ledger.file_names(waiting - {file_id}) if waiting else {}
        firsts = ledger.staged_lines(file_id, [t.transaction_id for t in txns])
        staged: list[Txn] = []
        sent_again = 0
        for txn in txns:
            tid = txn.transaction_id
            before = seen.get(tid)
            if before is not None and before.file_id != file_id:
                count_sent_again(self.summary, self.catalog, txn, before, names.get(before.file_id, ""))
                sent_again += 1
                continue
            # This file's own row: --again decides it afresh; otherwise a run of an earlier
            # version decided it, in file order, before this repeat of it.
            first = firsts.get(tid) or (before.line if before is not None and not self.again else None)
            if first is not None:
                rejects.append(Reject(txn.line, "transaction_id", "duplicate transaction_id (first on "
                                      f"line {first}); only the first counts", shown_id(tid)))
                continue
            firsts[tid] = txn.line
            staged.append(txn)
        return staged, sent_again

    def _drop_not_enrolled(self, txns: list[Txn]) -> tuple[list[Txn], list[Txn]]:
        """Split off the purchases by members enrolled in none of the merchant's campaigns; return
        the rest, and those.

        They can never earn nor lose a credit, so they are not decided, nor checked for repeats
        (the dashboard keeps them all the same: see ``stage``).
        """
        enrolled_on, ids_of = self.enrolled_on, self.catalog.ids_by_merchant_id
        left: list[Txn] = []
        dropped: list[Txn] = []
        for txn in txns:
            ids = ids_of[txn.merchant_id]
            if txn.kind == "purchase" and enrolled_in_none(enrolled_on, txn.member_id, ids):
                dropped.append(txn)
            else:
                left.append(txn)
        return left, dropped


def count_sent_again(summary: Summary, catalog: Catalog, txn: Txn, before: Seen, since: str) -> None:
    """Count a transaction another file kept: never decided twice, a refund never applied twice."""
    campaigns = len(catalog.by_merchant_id.get(txn.merchant_id, ()))
    if before.kind == "refund" and before.refund_state == RefundState.PENDING:
        summary.outcomes[TxnOutcome.REFUND_PENDING] += campaigns
        summary.earlier_refunds[f"sent again, pending since {since}"] += 1
    elif before.kind == "refund" and before.refund_state == RefundState.APPLIED:
        summary.outcomes[TxnOutcome.REFUND_ALREADY_APPLIED] += campaigns
        summary.earlier_refunds["sent again, already applied"] += 1
    else:
        summary.outcomes[TxnOutcome.ALREADY_RECONCILED] += campaigns
