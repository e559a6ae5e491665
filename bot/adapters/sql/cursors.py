"""Named positions, such as the mentions timeline's since_id. The only writer of the cursors table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from bot.adapters.sql.tables import cursors_t
from bot.adapters.sql.toolkit import upsert


class CursorRepository:
    """Named positions, such as the mentions timeline's since_id."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, name: str) -> str | None:
        """Return the cursor ``name``, or None before the first poll."""
        return self._conn.execute(select(cursors_t.c.value).where(cursors_t.c.name == name)).scalar()

    def set(self, name: str, value: str, now: datetime) -> None:
        """Move cursor ``name`` to ``value``."""
        stmt = upsert(self._conn, cursors_t).values(name=name, value=value, updated_at=now)
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "updated_at": now}))
