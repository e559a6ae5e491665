"""The ledger's records as they cross the data layer: transaction files, kept transactions and
the other rows reconciliation reads back, each a named type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from bot.domain.reconcile import Credit, CreditKind, Key, RefundState, Txn


class FileStatus(StrEnum):
    """Where a transaction file stands: being reconciled, or done."""

    RUNNING = "running"
    RECONCILED = "reconciled"


class FilePhase(StrEnum):
    """The phase a run of a file is in: reading and staging its rows, deciding them, done."""

    STAGE = "stage"
    DECIDE = "decide"
    DONE = "done"


@dataclass(frozen=True)
class FileRecord:
    """A transaction file as the ledger knows it."""

    id: int
    sha256: str
    name: str
    status: FileStatus
    rows_done: int
    counters: dict[str, Any]  # the run's summary so far (Summary.to_dict)
    started_at: datetime
    finished_at: datetime | None
    phase: FilePhase = FilePhase.STAGE
    decided: Key | None = None  # the last transaction decided in this run
    run: int = 1  # 2 and up: `reconcile --again`
    credits_before: int = 0  # this run's credits are the file's credits with a greater seq
    earlier_runs: tuple[dict[str, Any], ...] = ()  # the summaries of the runs before


class Seen(NamedTuple):
    """Where a transaction id was kept, and (for a refund) what became of it."""

    file_id: int
    line: int
    kind: str
    refund_state: RefundState | None


class KeptTransaction(NamedTuple):
    """A decided transaction as the ledger keeps it: its fields, its outcomes per campaign
    (``campaign=outcome (detail) | ...``) and, for a refund, its state. A named tuple: kept by the
    hundred thousand per file, in the column order the bulk insert takes."""

    transaction_id: str
    file_id: int
    line: int
    member_id: str
    merchant_id: str
    cents: int
    currency: str
    day: date
    kind: str  # purchase | refund
    original_id: str | None
    outcomes: str
    refund_state: RefundState | None


class WaitingRefund(NamedTuple):
    """A refund kept waiting for its purchase, and the file it came in."""

    txn: Txn
    file_id: int


class ExportedCredit(NamedTuple):
    """A credit or clawback as the credits export lists it (no dates, so nothing to convert)."""

    credit_id: str
    transaction_id: str
    campaign_id: str
    cents: int
    currency: str
    last4: str
    kind: CreditKind
    reverses: str | None


class NoticesDue(NamedTuple):
    """The oldest reconciled file whose credit notices are not all queued, and how far they are."""

    file_id: int
    after: int  # the credit seq queued last


class NumberedCredit(NamedTuple):
    """A credit with its place in the ledger (its seq: the order it was issued in)."""

    seq: int
    credit: Credit
