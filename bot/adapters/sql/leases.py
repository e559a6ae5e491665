"""Leases: who holds a named lock and until when (adapters/locks.py). The only writer of leases."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, delete, select, update

from bot.adapters.sql.tables import leases_t
from bot.adapters.sql.toolkit import upsert


class Lease(NamedTuple):
    """A lease row: its holder, when it runs out and when the holder took it."""

    holder: str
    expires_at: datetime
    acquired_at: datetime


class LeaseRepository:
    """The lease rows, on a connection the locks manage (each call inside their transaction)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, name: str) -> Lease | None:
        """Return the lease ``name``, if a row exists."""
        row = self._conn.execute(select(leases_t.c.holder, leases_t.c.expires_at, leases_t.c.acquired_at)
                                 .where(leases_t.c.name == name)).first()
        return None if row is None else Lease(row.holder, row.expires_at, row.acquired_at)

    def holder(self, name: str) -> str | None:
        """Return who the lease row names, if there is one."""
        return self._conn.execute(select(leases_t.c.holder).where(leases_t.c.name == name)).scalar()

    def create(self, name: str, holder: str, expires_at: datetime, now: datetime) -> None:
        """Create the lease for ``holder`` unless another instance created it first."""
        self._conn.execute(upsert(self._conn, leases_t).values(
            name=name, holder=holder, expires_at=expires_at, acquired_at=now
        ).on_conflict_do_nothing(index_elements=["name"]))

    def swap(self, name: str, seen: Lease, holder: str, expires_at: datetime, acquired_at: datetime) -> None:
        """Give the lease to ``holder`` only if nobody changed it since it was read as ``seen``."""
        self._conn.execute(update(leases_t).where(
            leases_t.c.name == name, leases_t.c.holder == seen.holder,
            leases_t.c.expires_at == seen.expires_at,
        ).values(holder=holder, expires_at=expires_at, acquired_at=acquired_at))

    def put(self, name: str, holder: str, now: datetime) -> None:
        """Write who holds the lock (an advisory lock's holder, for `offerbot status`)."""
        stmt = upsert(self._conn, leases_t).values(name=name, holder=holder, expires_at=now, acquired_at=now)
        self._conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={
            "holder": holder, "acquired_at": now, "expires_at": now}))

    def drop(self, name: str, holder: str) -> None:
        """Delete the lease, if ``holder`` holds it."""
        self._conn.execute(delete(leases_t).where(leases_t.c.name == name, leases_t.c.holder == holder))
