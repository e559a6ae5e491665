"""The unit of work: one database transaction, with every repository on its connection."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy import Engine

from bot.adapters.sql.campaigns import CampaignRepository
from bot.adapters.sql.cursors import CursorRepository
from bot.adapters.sql.engine import READONLY
from bot.adapters.sql.enrolments import EnrolmentRepository
from bot.adapters.sql.ledger import LedgerRepository
from bot.adapters.sql.members import MemberRepository
from bot.adapters.sql.outbox import OutboxRepository
from bot.adapters.sql.posts import PostRepository

if TYPE_CHECKING:
    from bot.adapters.sql.scratch import ScratchLedger


class SqlUnitOfWork:
    """One database transaction: rolled back on leaving unless ``commit()`` was called."""

    members: MemberRepository
    campaigns: CampaignRepository
    enrolments: EnrolmentRepository
    posts: PostRepository
    outbox: OutboxRepository
    cursors: CursorRepository
    ledger: LedgerRepository

    def __init__(self, engine: Engine, *, readonly: bool = False) -> None:
        self._engine = engine
        self._readonly = readonly

    def __enter__(self) -> Self:
        conn = self._engine.connect()
        if self._readonly:
            conn = conn.execution_options(**{READONLY: True})
        self._conn = conn
        self._tx = conn.begin()
        self.members = MemberRepository(conn)
        self.campaigns = CampaignRepository(conn)
        self.enrolments = EnrolmentRepository(conn)
        self.posts = PostRepository(conn)
        self.outbox = OutboxRepository(conn)
        self.cursors = CursorRepository(conn)
        self.ledger = LedgerRepository(conn, self.campaigns)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self._conn.close()

    def commit(self) -> None:
        """Make the transaction's writes permanent."""
        self._tx.commit()

    def sending_ahead(self) -> AbstractContextManager[object]:
        """Send the block's writes without waiting for each one's answer (PostgreSQL's pipeline
        mode), so the server works on one while this process prepares the next; an error comes
        out by the block's end at the latest. SQLite, in this process, has nothing to wait for."""
        if self._conn.dialect.name != "postgresql":
            return nullcontext()
        pipeline: AbstractContextManager[object] = (
            self._conn.connection.driver_connection.pipeline())  # type: ignore[union-attr]
        return pipeline


class SqlUnitOfWorkFactory:
    """Opens units of work on one engine, and a dry run's scratch ledger laid over it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        """Return a new unit of work (``readonly=True`` for reads)."""
        return SqlUnitOfWork(self.engine, readonly=readonly)

    def scratch(self, now: datetime, *, over_ledger: bool = True) -> ScratchLedger:
        """Return a dry run's private ledger, reading this database's beneath it (``over_ledger``;
        a backtest has none underneath)."""
        from bot.adapters.sql.scratch import ScratchLedger  # it opens units of work itself

        return ScratchLedger(self if over_ledger else None, now)


def unit_of_work_factory(engine: Engine) -> SqlUnitOfWorkFactory:
    """Return what opens a new unit of work on ``engine`` (``readonly=True`` for reads)."""
    return SqlUnitOfWorkFactory(engine)
