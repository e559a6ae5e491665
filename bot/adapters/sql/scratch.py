"""A dry run's private ledger: a temporary SQLite file for the run's own writes, laid over the
real ledger, which it only reads.

A dry run decides exactly as a real run does (the same code, in time order, a chunk at a time),
so it needs somewhere to keep what it decided that does not grow in memory; the product
database must not change. The scratch file lives in a folder of its own (mode 0700), is
readable by its owner only (0600), and is deleted when the run ends, whatever happened.

Reads merge both: a row the run wrote (a credit it changed, a refund it settled) stands in for
the real ledger's row with the same key. A backtest has no real ledger underneath at all: every
row of the file is evaluated as new.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import event

from bot.adapters.sql.engine import create_schema, make_engine
from bot.adapters.sql.ledger import LedgerRepository
from bot.adapters.sql.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from bot.domain.ledger import FilePhase, KeptTransaction, Seen, WaitingRefund
from bot.domain.reconcile import Credit, CreditedPurchase, Key, Txn
from bot.domain.transactions import Reject


class ScratchLedger:
    """The temporary database of one dry run; ``session()`` opens a transaction over it."""

    def __init__(self, history: SqlUnitOfWorkFactory | None, clock_now: datetime) -> None:
        self._history, self._now = history, clock_now
        self._folder = Path(tempfile.mkdtemp(prefix="offerbot-dry-run-"))  # mode 0700
        path = self._folder / "scratch.db"
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self.engine = make_engine(f"sqlite:///{path}")

        @event.listens_for(self.engine, "connect")
        def scratch_settings(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # Copies of the real ledger's rows point at files and campaigns this file lacks;
            # and nothing here needs to survive a crash.
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.execute("PRAGMA journal_mode=MEMORY")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

        create_schema(self.engine)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Delete the scratch database."""
        self.engine.dispose()
        shutil.rmtree(self._folder, ignore_errors=True)

    @contextmanager
    def session(self) -> Iterator[_OverlaySession]:
        """Open a transaction on the scratch file, reading the real ledger beside it."""
        with SqlUnitOfWork(self.engine) as store:
            if self._history is None:
                yield _OverlaySession(store, None, self._now)
                return
            with self._history(readonly=True) as history:
                yield _OverlaySession(store, history.ledger, self._now)

    @contextmanager
    def own(self) -> Iterator[SqlUnitOfWork]:
        """Open a transaction on the scratch file alone (its file record)."""
        with SqlUnitOfWork(self.engine) as store:
            yield store


class _OverlaySession:
    def __init__(self, store: SqlUnitOfWork, history: LedgerRepository | None, now: datetime) -> None:
        self._store = store
        self._ledger = OverlayLedger(store.ledger, history, now)

    @property
    def ledger(self) -> OverlayLedger:
        """Return the merged ledger."""
        return self._ledger

    def commit(self) -> None:
        """Keep the run's writes in the scratch file."""
        self._store.commit()


class OverlayLedger:
    """The scratch ledger's rows over the real ledger's (``history``, read only; None: none)."""

    def __init__(self, store: LedgerRepository, history: LedgerRepository | None, now: datetime) -> None:
        self._store, self._history, self._now = store, history, now

    # Reads: the run's own rows stand in for the real ledger's.

    def seen(self, transaction_ids: Sequence[str]) -> dict[str, Seen]:
        """Return where each id was kept: by this run, else in the real ledger."""
        found = self._history.seen(transaction_ids) if self._history is not None else {}
        found.update(self._store.seen(transaction_ids))
        return found

    def file_names(self, file_ids: Iterable[int]) -> dict[int, str]:
        """Return each file's name."""
        wanted = set(file_ids)
        found = self._history.file_names(wanted) if self._history is not None else {}
        return found | self._store.file_names(wanted - set(found))

    def outcomes_of(self, file_id: int, transaction_ids: Sequence[str]) -> dict[str, str]:
        """Return the outcomes kept for these transactions: by this run, else in the real ledger."""
        found = self._history.outcomes_of(file_id, transaction_ids) if self._history is not None else {}
        return found | self._store.outcomes_of(file_id, transaction_ids)

    def credited_purchases(self, purchase_ids: Sequence[str]) -> list[CreditedPurchase]:
        """Return the credits on these purchases, as this run left them."""
        history = self._history.credited_purchases(purchase_ids) if self._history is not None else []
        return _merged(history, self._store.credited_purchases(purchase_ids))

    def refundable(self, member_ids: Sequence[str], since: date) -> list[CreditedPurchase]:
        """Return these members' credited purchases not refunded yet, as this run left them."""
        history = self._history.refundable(member_ids, since) if self._history is not None else []
        changed = self._store.credited_purchases([p.credit.transaction_id for p in history])
        mine = self._store.refundable(member_ids, since)
        return [p for p in _merged(_merged(history, changed), mine) if p.refunded_cents == 0]

    def pending_members(self, since: date | None) -> set[str]:
        """Return the members with a refund waiting (a superset is fine: it only narrows lookups)."""
        history = self._history.pending_members(since) if self._history is not None else set()
        return history | self._store.pending_members(since)

    def pending_between(self, exclude_file: int, after: Key | None, upto: Key | None,
                        since: date | None) -> list[WaitingRefund]:
        """Return other files' waiting refunds in (after, upto] this run has not settled."""
        return self._unsettled(
            self._history.pending_between(exclude_file, after, upto, since) if self._history else [],
            self._store.pending_between(exclude_file, after, upto, since))

    def pending_of(self, member_ids: Sequence[str], upto: Key, since: date | None) -> list[WaitingRefund]:
        """Return these members' waiting refunds placed up to ``upto`` this run has not settled."""
        return self._unsettled(
            self._history.pending_of(member_ids, upto, since) if self._history else [],
            self._store.pending_of(member_ids, upto, since))

    def pending_before(self, day: date) -> list[WaitingRefund]:
        """Return the waiting refunds dated before ``day``."""
        return self._unsettled(self._history.pending_before(day) if self._history else [],
                               self._store.pending_before(day))

    def _unsettled(self, history: list[WaitingRefund],
                   mine: list[WaitingRefund]) -> list[WaitingRefund]:
        """Drop the real ledger's waiting refunds this run decided (it kept its own row for them)."""
        decided = self._store.seen([w.txn.transaction_id for w in history])
        merged = {w.txn.transaction_id: w for w in history if w.txn.transaction_id not in decided}
        merged.update({w.txn.transaction_id: w for w in mine})
        return sorted(merged.values(), key=lambda item: (item.txn.day, item.txn.transaction_id))

    # Everything the run writes goes to the scratch file.

    def stage(self, file_id: int, txns: Sequence[Txn]) -> None:
        """Stage rows in the scratch file."""
        self._store.stage(file_id, txns)

    def keep_purchases(self, file_id: int, txns: Sequence[Txn], *, decided: bool = False) -> None:
        """Keep nothing: a dry run changes no dashboard (and the scratch file needs none)."""

    def staged_lines(self, file_id: int, transaction_ids: Sequence[str]) -> dict[str, int]:
        """Return the lines staged in the scratch file."""
        return self._store.staged_lines(file_id, transaction_ids)

    def staged_count(self, file_id: int) -> int:
        """Return how many rows are staged in the scratch file."""
        return self._store.staged_count(file_id)

    def staged_after(self, file_id: int, after: Key | None, limit: int) -> list[Txn]:
        """Return the next rows staged in the scratch file."""
        return self._store.staged_after(file_id, after, limit)

    def add_rejects(self, file_id: int, rejects: Sequence[Reject]) -> None:
        """Record rejects in the scratch file."""
        self._store.add_rejects(file_id, rejects)

    def save_progress(self, file_id: int, rows_done: int, counters: Mapping[str, Any]) -> None:
        """Record progress in the scratch file."""
        self._store.save_progress(file_id, rows_done, counters)

    def enter_phase(self, file_id: int, phase: FilePhase) -> None:
        """Record the phase in the scratch file."""
        self._store.enter_phase(file_id, phase)

    def save_cursor(self, file_id: int, decided: Key | None, counters: Mapping[str, Any]) -> None:
        """Record the cursor in the scratch file."""
        self._store.save_cursor(file_id, decided, counters)

    def add_pending(self, refunds: Sequence[WaitingRefund]) -> None:
        """Keep waiting refunds in the scratch file."""
        self._store.add_pending(refunds)

    def remove_pending(self, transaction_ids: Sequence[str]) -> None:
        """Drop waiting refunds from the scratch file (the real ledger's are masked by their row)."""
        self._store.remove_pending(transaction_ids)

    def add_transactions(self, rows: Sequence[KeptTransaction], *, replace: bool = False) -> None:
        """Keep decided transactions in the scratch file."""
        self._store.add_transactions(rows, replace=replace)

    def update_transactions(self, rows: Sequence[KeptTransaction]) -> None:
        """Keep the transactions with their new outcomes in the scratch file, masking the real rows."""
        self._store.add_transactions(rows, replace=True)

    def add_credits(self, credits: Sequence[Credit], file_id: int, now: datetime) -> None:
        """Record credits in the scratch file."""
        self._store.add_credits(credits, file_id, now)

    def update_refunds(self, items: Iterable[CreditedPurchase]) -> None:
        """Keep the refunded credits, whole, in the scratch file (masking the real rows)."""
        self._store.copy_refund_state(items, 0, self._now)

    def add_spent(self, deltas: Mapping[str, int]) -> list[str]:
        """Refuse nothing: a dry run's budgets are kept in memory, where they are decided."""
        return []


def _merged(history: list[CreditedPurchase], mine: list[CreditedPurchase]) -> list[CreditedPurchase]:
    """Return the credits of both, this run's version of any credit in both."""
    found = {(p.credit.transaction_id, p.credit.campaign_id, p.credit.kind): p for p in history}
    found.update({(p.credit.transaction_id, p.credit.campaign_id, p.credit.kind): p for p in mine})
    return list(found.values())
