"""The ledger's money: the transactions that mattered, with their outcomes (card_transactions),
and the statement credits and clawbacks issued (credits). The only writer of both."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update

from bot.adapters.sql.bulk_insert import BulkInsert
from bot.adapters.sql.tables import credits_t, transactions_t
from bot.adapters.sql.toolkit import InLookup, day_writer, key_in, native, upsert
from bot.domain.ledger import ExportedCredit, KeptTransaction, NumberedCredit, Seen
from bot.domain.reconcile import CREDIT, Credit, CreditedPurchase, CreditKind, RefundState


class CreditLedger:
    """Kept transactions, and the credits and clawbacks issued on them."""

    _conn: Connection

    # Kept transactions: those of linked members at campaign merchants, with their outcomes.

    _SEEN = InLookup(transactions_t, "transaction_id", ("transaction_id", "file_id", "line", "kind",
                                                        "refund_state"))

    def seen(self, transaction_ids: Sequence[str]) -> dict[str, Seen]:
        """Return where each of ``transaction_ids`` was kept, for those kept before."""
        return {tid: Seen(fid, line, kind, RefundState(state) if state else None)
                for tid, fid, line, kind, state in self._SEEN.run(self._conn, transaction_ids)}

    _ADD_TRANSACTIONS = BulkInsert(transactions_t, (
        "transaction_id", "file_id", "line", "member_id", "merchant_id", "cents", "currency", "day", "kind",
        "original_id", "outcomes", "refund_state"))

    def add_transactions(self, rows: Sequence[KeptTransaction], *, replace: bool = False) -> None:
        """Keep the transactions that matter, with their outcomes (``replace``: over earlier ones)."""
        if not rows:
            return
        if replace:
            ids = [r.transaction_id for r in rows]
            for where in key_in(self._conn, transactions_t.c.transaction_id, ids):
                self._conn.execute(delete(transactions_t).where(where))
        day = day_writer(self._conn)
        self._ADD_TRANSACTIONS.run(self._conn, rows if day is None
                                   else [(*r[:7], day(r[7]), *r[8:]) for r in rows])

    def outcomes_of(self, file_id: int, transaction_ids: Sequence[str]) -> dict[str, str]:
        """Return the outcomes kept for these transactions of one file."""
        found: dict[str, str] = {}
        for where in key_in(self._conn, transactions_t.c.transaction_id, transaction_ids):
            rows = self._conn.execute(select(transactions_t.c.transaction_id, transactions_t.c.outcomes)
                                      .where(where, transactions_t.c.file_id == file_id))
            found.update({tid: text for tid, text in rows})
        return found

    _UPDATE_OUTCOMES = (update(transactions_t).where(transactions_t.c.transaction_id == bindparam("tid"))
                        .values(outcomes=bindparam("outcomes"), refund_state=bindparam("state")))

    def update_transactions(self, rows: Sequence[KeptTransaction]) -> None:
        """Store new outcomes (and refund states) for kept transactions."""
        if rows:
            self._conn.execute(self._UPDATE_OUTCOMES, [
                {"tid": r.transaction_id, "outcomes": r.outcomes, "state": r.refund_state} for r in rows])

    def transactions_of(self, member_id: str) -> list[KeptTransaction]:
        """Return the kept transactions of a member, oldest first."""
        rows = self._conn.execute(select(transactions_t).where(transactions_t.c.member_id == member_id)
                                  .order_by(transactions_t.c.day, transactions_t.c.line))
        return [KeptTransaction(r.transaction_id, r.file_id, r.line, r.member_id, r.merchant_id, r.cents,
                                r.currency, r.day, r.kind, r.original_id, r.outcomes,
                                RefundState(r.refund_state) if r.refund_state else None) for r in rows]

    # Credits and clawbacks: one per transaction, campaign and kind, ever.

    _ADD_CREDITS = BulkInsert(credits_t, (
        "credit_id", "transaction_id", "campaign_id", "member_id", "kind", "cents", "currency", "last4",
        "basis_cents", "merchant_id", "day", "reverses", "file_id", "created_at"),
        ignore_conflicts=["transaction_id", "campaign_id", "kind"])

    def add_credits(self, credits: Sequence[Credit], file_id: int, now: datetime) -> None:
        """Record credits and clawbacks; one already recorded (a rerun) is left as it is."""
        if not credits:
            return
        when = native(self._conn)(now)
        day = day_writer(self._conn) or (lambda d: d)
        self._ADD_CREDITS.run(self._conn, [
            (c.credit_id, c.transaction_id, c.campaign_id, c.member_id, c.kind, c.cents, c.currency,
             c.last4, c.basis_cents, c.merchant_id, day(c.day), c.reverses, file_id, when)
            for c in credits])

    _UPDATE_REFUNDS = (update(credits_t).where(credits_t.c.transaction_id == bindparam("tid"),
                                               credits_t.c.campaign_id == bindparam("cid"),
                                               credits_t.c.kind == bindparam("k"))
                       .values(refunded_cents=bindparam("refunded"), reversed_cents=bindparam("reversed")))

    def update_refunds(self, items: Iterable[CreditedPurchase]) -> None:
        """Store how much of each credited purchase was refunded and clawed back."""
        rows = [{"tid": i.credit.transaction_id, "cid": i.credit.campaign_id, "k": i.credit.kind,
                 "refunded": i.refunded_cents, "reversed": i.reversed_cents} for i in items]
        if rows:
            self._conn.execute(self._UPDATE_REFUNDS, rows)

    def copy_refund_state(self, items: Iterable[CreditedPurchase], file_id: int, now: datetime) -> None:
        """Store whole credits with how much was refunded and clawed back (a dry run's own copy)."""
        rows = [{**i.credit._asdict(), "refunded_cents": i.refunded_cents, "reversed_cents": i.reversed_cents,
                 "file_id": file_id, "created_at": now} for i in items]
        if rows:
            stmt = upsert(self._conn, credits_t)
            self._conn.execute(stmt.on_conflict_do_update(
                index_elements=["transaction_id", "campaign_id", "kind"],
                set_={k: stmt.excluded[k] for k in ("refunded_cents", "reversed_cents")}), rows)

    def credited_purchases(self, purchase_ids: Sequence[str]) -> list[CreditedPurchase]:
        """Return the credits given on these purchases."""
        found = []
        for where in key_in(self._conn, credits_t.c.transaction_id, purchase_ids, 5000):
            found.extend(self._purchases(where))
        return found

    def refundable(self, member_ids: Sequence[str], since: date) -> list[CreditedPurchase]:
        """Return these members' credited purchases on or after ``since`` not yet refunded."""
        # Through the member's kept transactions (indexed by member): an index on credits by
        # member would cost every insert, for the few refunds that name no purchase.
        found = []
        for where in key_in(self._conn, transactions_t.c.member_id, member_ids):
            found.extend(self._purchases(
                credits_t.c.transaction_id.in_(
                    select(transactions_t.c.transaction_id).where(
                        where, transactions_t.c.day >= since,
                        transactions_t.c.kind == "purchase")),
                credits_t.c.refunded_cents == 0))
        return found

    def _purchases(self, *where: Any) -> list[CreditedPurchase]:
        rows = self._conn.execute(select(credits_t).where(credits_t.c.kind == CREDIT.value, *where))
        return [CreditedPurchase(_credit(r), r.refunded_cents, r.reversed_cents) for r in rows]

    def credits_held(self) -> dict[tuple[str, str], int]:
        """Return how many credits each (member, campaign) holds, net of full reversals."""
        rows = self._conn.execute(
            select(credits_t.c.member_id, credits_t.c.campaign_id, func.count())
            .where(credits_t.c.kind == CREDIT.value, credits_t.c.reversed_cents < credits_t.c.cents)
            .group_by(credits_t.c.member_id, credits_t.c.campaign_id))
        return {(member, campaign): count for member, campaign, count in rows}

    def credit_counts(self, campaign_ids: Sequence[str]) -> dict[str, int]:
        """Return how many credits (not clawbacks) each of ``campaign_ids`` has issued."""
        found: dict[str, int] = {}
        for where in key_in(self._conn, credits_t.c.campaign_id, list(campaign_ids)):
            rows = self._conn.execute(select(credits_t.c.campaign_id, func.count())
                                      .where(where, credits_t.c.kind == CREDIT.value)
                                      .group_by(credits_t.c.campaign_id))
            found.update({campaign_id: count for campaign_id, count in rows})
        return found

    def export_rows(self, file_id: int, after: int = 0) -> Iterator[ExportedCredit]:
        """Yield a file's credits (those after seq ``after``) for the export, streamed."""
        c = credits_t.c
        rows = self._conn.execute(
            select(c.credit_id, c.transaction_id, c.campaign_id, c.cents, c.currency, c.last4, c.kind,
                   c.reverses).where(c.file_id == file_id, c.seq > after).order_by(c.seq))
        for row in rows:
            yield ExportedCredit(*row)

    def credits_after(self, file_id: int, after: int, limit: int) -> list[NumberedCredit]:
        """Return up to ``limit`` of a file's credits after seq ``after``, with their seq."""
        rows = self._conn.execute(
            select(credits_t).where(credits_t.c.file_id == file_id, credits_t.c.seq > after)
            .order_by(credits_t.c.seq).limit(limit))
        return [NumberedCredit(r.seq, _credit(r)) for r in rows]

    def reversed_credits(self, clawbacks: Sequence[Credit]) -> dict[str, Credit]:
        """Return the credits these clawbacks reverse, by credit id.

        Found through the members' kept purchases (indexed by member, then the credits' unique
        index), not by credit id, which has no index of its own.
        """
        wanted = {c.reverses for c in clawbacks if c.reverses}
        members = sorted({c.member_id for c in clawbacks if c.reverses})
        found: dict[str, Credit] = {}
        for where in key_in(self._conn, transactions_t.c.member_id, members):
            rows = self._conn.execute(select(credits_t).where(
                credits_t.c.kind == CREDIT.value,
                credits_t.c.transaction_id.in_(select(transactions_t.c.transaction_id).where(
                    where, transactions_t.c.kind == "purchase"))))
            found.update({r.credit_id: _credit(r) for r in rows if r.credit_id in wanted})
        return found

    def credits_of(self, member_id: str, campaign_id: str) -> list[Credit]:
        """Return a member's credits and clawbacks in a campaign."""
        rows = self._conn.execute(select(credits_t).where(
            credits_t.c.member_id == member_id, credits_t.c.campaign_id == campaign_id)
            .order_by(credits_t.c.day, credits_t.c.transaction_id))
        return [_credit(r) for r in rows]


def _credit(r: Any) -> Credit:
    return Credit(r.credit_id, r.transaction_id, r.campaign_id, r.member_id, CreditKind(r.kind), r.cents,
                  r.currency, r.last4, r.basis_cents, r.merchant_id, r.day, r.reverses)
