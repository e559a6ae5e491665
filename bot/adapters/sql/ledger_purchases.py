"""The purchases the merchant dashboard counts: every purchase (and refund of one) at a campaign's
merchant id by a linked card, enrolled or not. The only writer of merchant_purchases.

Kept by transaction id, in the same transaction as the batch that read them, so a rerun, a resumed
run, ``reconcile --again`` and a file sent again keep each once: the row decided (staged) wins,
else the first seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import Connection, and_, delete, select

from bot.adapters.sql.bulk_insert import BulkInsert
from bot.adapters.sql.tables import merchant_purchases_t
from bot.adapters.sql.toolkit import day_writer
from bot.domain.reconcile import Txn

_mp = merchant_purchases_t.c


class PurchaseLedger:
    """Purchases and refunds at campaign merchants by linked cards, for the dashboard."""

    _conn: Connection

    _COLUMNS = ("transaction_id", "member_id", "merchant_id", "day", "cents", "currency", "refund_of",
                "file_id")
    _KEEP = BulkInsert(merchant_purchases_t, _COLUMNS, ignore_conflicts=("transaction_id",))
    _KEEP_DECIDED = BulkInsert(merchant_purchases_t, _COLUMNS, ignore_conflicts=("transaction_id",),
                               update_conflicts=True)

    def keep_purchases(self, file_id: int, txns: Sequence[Txn], *, decided: bool = False) -> None:
        """Keep these purchases, and refunds naming their purchase, once per transaction id ever.

        Rows the run decides (``decided``: each id staged once, ever) replace a row kept with the
        same id, so the dashboard holds the row that earned or lost credits whichever came
        first; other rows never replace one (the first seen stays).
        """
        day = day_writer(self._conn) or (lambda d: d)
        rows: dict[str, tuple[object, ...]] = {}
        for t in txns:
            if t.transaction_id in rows or (t.kind == "refund" and not t.original_id):
                continue  # a refund naming no purchase refunds none the dashboard can show
            rows[t.transaction_id] = (t.transaction_id, t.member_id, t.merchant_id, day(t.day), t.cents,
                                      t.currency, t.original_id if t.kind == "refund" else None, file_id)
        (self._KEEP_DECIDED if decided else self._KEEP).run(self._conn, list(rows.values()))

    def kept_merchant_ids(self) -> list[str]:
        """Return the merchant ids the kept rows are at (read along the merchant and day index)."""
        return sorted(self._conn.execute(select(_mp.merchant_id).distinct()).scalars())

    def prune_purchases(self, before: Mapping[str, date]) -> int:
        """Delete the kept rows dated before ``before[merchant_id]``; return how many went."""
        gone = 0
        for merchant_id, day in sorted(before.items()):
            result = self._conn.execute(delete(merchant_purchases_t).where(
                and_(_mp.merchant_id == merchant_id, _mp.day < day)))
            gone += result.rowcount or 0
        return gone

