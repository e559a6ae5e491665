"""The ledger's rows waiting to be decided: the staged rows of the file being reconciled, and
refunds waiting for their purchase. The only writer of staged_transactions and pending_refunds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, delete, func, select, tuple_

from bot.adapters.sql.bulk_insert import BulkInsert
from bot.adapters.sql.tables import pending_t, staged_t
from bot.adapters.sql.toolkit import (
    CompiledQuery,
    InLookup,
    day_reader,
    day_writer,
    key_in,
    native,
    upsert,
)
from bot.domain.ledger import WaitingRefund
from bot.domain.reconcile import Key, Txn

_staged_order = staged_t.c.day, staged_t.c.transaction_id
_STAGED_COLUMNS = select(staged_t.c.line, staged_t.c.transaction_id, staged_t.c.member_id, staged_t.c.last4,
                         staged_t.c.merchant_id, staged_t.c.cents, staged_t.c.currency, staged_t.c.day,
                         staged_t.c.kind, staged_t.c.original_id)


class WaitingLedger:
    """Rows staged to be decided in time order, and refunds kept waiting for their purchase."""

    _conn: Connection

    # The file being reconciled: its relevant rows, staged to be decided in time order.

    _STAGE = BulkInsert(staged_t, ("file_id", "day", "transaction_id", "member_id", "last4", "merchant_id",
                                   "cents", "currency", "kind", "original_id", "line"))

    def stage(self, file_id: int, txns: Sequence[Txn]) -> None:
        """Stage a batch of the file's relevant rows (each transaction id once)."""
        if txns:
            day = day_writer(self._conn) or (lambda d: d)
            self._STAGE.run(self._conn, [(file_id, day(t.day), *t[1:6], t.currency, t.kind, t.original_id,
                                          t.line) for t in txns])

    _STAGED_LINES = InLookup(staged_t, "transaction_id", ("transaction_id", "line"), scope="file_id")

    def staged_lines(self, file_id: int, transaction_ids: Sequence[str]) -> dict[str, int]:
        """Return the line each of ``transaction_ids`` was staged from, for those staged."""
        return {tid: line for tid, line in self._STAGED_LINES.run(self._conn, transaction_ids, file_id)}

    def staged_count(self, file_id: int) -> int:
        """Return how many rows of the file are staged."""
        return int(self._conn.execute(select(func.count()).where(staged_t.c.file_id == file_id)).scalar_one())

    _STAGED_FIRST = CompiledQuery(_STAGED_COLUMNS.where(staged_t.c.file_id == bindparam("file_id"))
                                  .order_by(*_staged_order).limit(bindparam("limit")))
    _STAGED_AFTER = CompiledQuery(_STAGED_COLUMNS.where(
        staged_t.c.file_id == bindparam("file_id"),
        tuple_(*_staged_order) > tuple_(bindparam("day", type_=staged_t.c.day.type), bindparam("tid")))
        .order_by(*_staged_order).limit(bindparam("limit")))

    def staged_after(self, file_id: int, after: Key | None, limit: int) -> list[Txn]:
        """Return up to ``limit`` staged rows after ``after``, in decision order (day, then id)."""
        query = self._STAGED_AFTER if after is not None else self._STAGED_FIRST
        params: dict[str, Any] = {"file_id": file_id, "limit": limit}
        if after is not None:
            params |= {"day": native(self._conn)(after[0]), "tid": after[1]}
        day = day_reader()
        return [Txn(line, tid, member, last4, mid, cents, currency, day(d), kind, original)
                for line, tid, member, last4, mid, cents, currency, d, kind, original
                in query.rows(self._conn, params)]

    def clear_staged(self, file_id: int) -> None:
        """Drop a file's staged rows (it is done)."""
        others = self._conn.execute(select(staged_t.c.file_id).where(staged_t.c.file_id != file_id)
                                    .limit(1)).first()
        # Without a WHERE, SQLite empties the table at once instead of deleting row by row.
        self._conn.execute(delete(staged_t) if others is None else
                           delete(staged_t).where(staged_t.c.file_id == file_id))

    # Refunds waiting for their purchase.

    def add_pending(self, refunds: Sequence[WaitingRefund]) -> None:
        """Keep refunds (with the file each came in) waiting for their purchase."""
        if not refunds:
            return
        rows = [{"transaction_id": t.transaction_id, "file_id": file_id, "line": t.line,
                 "member_id": t.member_id, "last4": t.last4, "merchant_id": t.merchant_id,
                 "cents": t.cents, "currency": t.currency, "day": t.day, "original_id": t.original_id}
                for t, file_id in refunds]
        stmt = upsert(self._conn, pending_t)
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["transaction_id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "transaction_id"}), rows)

    def remove_pending(self, transaction_ids: Sequence[str]) -> None:
        """Stop keeping these refunds as waiting (applied, expired or decided again)."""
        for where in key_in(self._conn, pending_t.c.transaction_id, list(transaction_ids)):
            self._conn.execute(delete(pending_t).where(where))

    def pending_members(self, since: date | None) -> set[str]:
        """Return the members with a refund waiting (dated ``since`` or later)."""
        query = select(pending_t.c.member_id).distinct()
        if since is not None:
            query = query.where(pending_t.c.day >= since)
        return set(self._conn.execute(query).scalars())

    def pending_between(self, exclude_file: int, after: Key | None, upto: Key | None,
                        since: date | None) -> list[WaitingRefund]:
        """Return the waiting refunds of other files placed after ``after`` up to ``upto``, in order."""
        where = [pending_t.c.file_id != exclude_file]
        if after is not None:
            where.append(tuple_(pending_t.c.day, pending_t.c.transaction_id) > tuple_(*after))
        if upto is not None:
            where.append(tuple_(pending_t.c.day, pending_t.c.transaction_id) <= tuple_(*upto))
        return self._pending(where, since)

    def pending_of(self, member_ids: Sequence[str], upto: Key, since: date | None) -> list[WaitingRefund]:
        """Return these members' waiting refunds placed up to ``upto``, in decision order."""
        found: list[WaitingRefund] = []
        for where in key_in(self._conn, pending_t.c.member_id, member_ids):
            placed = tuple_(pending_t.c.day, pending_t.c.transaction_id) <= tuple_(*upto)
            found += self._pending([where, placed], since)
        return sorted(found, key=lambda item: (item.txn.day, item.txn.transaction_id))

    def pending_before(self, day: date) -> list[WaitingRefund]:
        """Return the waiting refunds dated before ``day`` (past their window)."""
        return self._pending([pending_t.c.day < day], None)

    def _pending(self, where: list[ColumnElement[bool]], since: date | None) -> list[WaitingRefund]:
        if since is not None:
            where = [*where, pending_t.c.day >= since]
        rows = self._conn.execute(select(pending_t).where(*where)
                                  .order_by(pending_t.c.day, pending_t.c.transaction_id))
        return [WaitingRefund(Txn(r.line, r.transaction_id, r.member_id, r.last4, r.merchant_id, r.cents,
                                  r.currency, r.day, "refund", r.original_id), r.file_id) for r in rows]
