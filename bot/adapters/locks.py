"""Locks across instances: who polls mentions, who reconciles. One per name, held or not.

On PostgreSQL a lock is a session advisory lock held on a connection of its own: the server
drops it the moment that connection goes, so when a holder is killed another instance takes
over at its next try. SQLite lives on one host, so a lock is a lease row, taken and renewed by
conditional updates, and taken over once it expires or once its holder's process is gone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from datetime import timedelta

from sqlalchemy import Connection, Engine

from bot.adapters.sql.leases import LeaseRepository
from bot.clock import Clock

logger = logging.getLogger(__name__)
_TRY_LOCK = "SELECT pg_try_advisory_lock(%(key)s)"
_UNLOCK = "SELECT pg_advisory_unlock(%(key)s)"


def instance_name() -> str:
    """Return this process's name among instances: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def gone(holder: str) -> bool:
    """Tell whether the instance ``holder`` (host:pid) has certainly stopped (on this host only)."""
    return not _alive_here(holder)


def _alive_here(holder: str) -> bool:
    """Tell whether ``holder`` (host:pid) may still run: False only if it is on this host and gone."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LeaseLocks:
    """Locks as lease rows: for SQLite (and usable anywhere a row can be updated conditionally)."""

    def __init__(self, engine: Engine, me: str, clock: Clock, ttl: timedelta) -> None:
        self._engine, self._me, self._clock, self._ttl = engine, me, clock, ttl
        self._held: set[str] = set()

    def acquire(self, name: str) -> bool:
        """Take or renew the lock; False when another live instance holds it."""
        now = self._clock()
        with self._engine.begin() as conn:
            leases = LeaseRepository(conn)
            row = leases.get(name)
            if row is None:
                leases.create(name, self._me, now + self._ttl, now)
            elif row.holder == self._me or row.expires_at <= now or not _alive_here(row.holder):
                # Compare and swap: only if nobody changed the row since it was read.
                leases.swap(name, row, self._me, now + self._ttl,
                            row.acquired_at if row.holder == self._me else now)
            held = leases.holder(name)
        if held == self._me:
            self._held.add(name)
            return True
        self._held.discard(name)
        return False

    def release(self, name: str) -> None:
        """Give the lock up, if this instance holds it."""
        self._held.discard(name)
        with self._engine.begin() as conn:
            LeaseRepository(conn).drop(name, self._me)

    def gone(self, holder: str) -> bool:
        """Tell whether the instance ``holder`` (host:pid) has certainly stopped (on this host only)."""
        return gone(holder)

    def holder(self, name: str) -> str | None:
        """Return who holds the lock now, if anyone does."""
        with self._engine.connect() as conn:
            row = LeaseRepository(conn).get(name)
        if row is None or row.expires_at <= self._clock() or not _alive_here(row.holder):
            return None
        return str(row.holder)

    def close(self) -> None:
        """Give up every lock this instance holds."""
        for name in list(self._held):
            self.release(name)


class AdvisoryLocks:
    """Locks as PostgreSQL session advisory locks, each on a connection of its own."""

    def __init__(self, engine: Engine, me: str, clock: Clock) -> None:
        self._engine, self._me, self._clock = engine, me, clock
        self._held: dict[str, Connection] = {}

    def acquire(self, name: str) -> bool:
        """Take the lock, or confirm it is still held; False when another session has it."""
        conn = self._held.get(name)
        if conn is not None:
            try:
                conn.exec_driver_sql("SELECT 1")
                return True
            except Exception:  # the connection, and with it the lock, is gone
                logger.warning("lost the %s lock with its database connection", name)
                self._held.pop(name, None)
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = conn.exec_driver_sql(_TRY_LOCK, {"key": _key(name)}).scalar()
        if not got:
            conn.close()
            return False
        self._held[name] = conn
        self._record(name)
        return True

    def release(self, name: str) -> None:
        """Give the lock up."""
        conn = self._held.pop(name, None)
        if conn is not None:
            conn.exec_driver_sql(_UNLOCK, {"key": _key(name)})
            conn.close()

    def gone(self, holder: str) -> bool:
        """Tell whether the instance ``holder`` (host:pid) has certainly stopped (on this host only)."""
        return gone(holder)

    def holder(self, name: str) -> str | None:
        """Return who holds the lock now (as its holder last recorded), if anyone does."""
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            free = conn.exec_driver_sql(_TRY_LOCK, {"key": _key(name)}).scalar()
            if free:  # nobody held it: give it straight back
                conn.exec_driver_sql(_UNLOCK, {"key": _key(name)})
                return None
            holder = LeaseRepository(conn).holder(name)
        return "another instance" if holder is None else str(holder)

    def close(self) -> None:
        """Release every lock this instance holds."""
        for name in list(self._held):
            self.release(name)

    def _record(self, name: str) -> None:
        """Write who holds the lock, for `offerbot status` (the lock itself is the server's)."""
        with self._engine.begin() as conn:
            LeaseRepository(conn).put(name, self._me, self._clock())


def _key(name: str) -> int:
    """Return the 64-bit advisory lock key of a lock name."""
    return int.from_bytes(hashlib.sha256(f"offerbot:{name}".encode()).digest()[:8], "big", signed=True)


def locks_for(engine: Engine, me: str, clock: Clock, ttl: timedelta) -> LeaseLocks | AdvisoryLocks:
    """Return the locks this database supports best."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLocks(engine, me, clock)
    return LeaseLocks(engine, me, clock, ttl)
