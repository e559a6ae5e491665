"""Bulk inserts into the hot tables: what SQLAlchemy's per-row parameter handling would cost more
than the database's own work, one statement shape per dialect and table."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from psycopg import pq
from sqlalchemy import Connection, Table, bindparam

from bot.adapters.sql.toolkit import upsert

# What a column's type says beyond the type an array parameter is cast to: VARCHAR(100)'s size,
# NUMERIC(12, 2)'s precision, a COLLATE "C" (the column's own collation applies all the same).
_SIZE = re.compile(r"\(\d+(?:,\s*\d+)?\)|\s+COLLATE\s+\"[^\"]*\"")


class BulkInsert:
    """A multi-row INSERT run through the driver: for the hot tables, SQLAlchemy's per-row
    parameter handling costs more than the database's own work.

    Rows are tuples in ``columns`` order holding driver-ready values: ``native`` turns dates
    and datetimes into what the dialect stores.
    """

    def __init__(self, table: Table, columns: Sequence[str], *, ignore_conflicts: Sequence[str] = (),
                 update_conflicts: bool = False) -> None:
        self._table, self._columns, self._ignore = table, tuple(columns), tuple(ignore_conflicts)
        # With update_conflicts, a row whose ignore_conflicts key exists replaces it instead.
        self._update = update_conflicts and bool(self._ignore)
        self._compiled: dict[str, tuple[str, tuple[int, ...] | None]] = {}

    COPY_FROM = 200  # rows; below this a COPY's extra statements cost more than they save

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in one executemany (on PostgreSQL, a COPY for many rows, or one INSERT
        of arrays while writes are sent ahead)."""
        if not rows:
            return
        if conn.dialect.name == "postgresql":
            if _sending_ahead(conn):
                self._unnest(conn, rows)
                return
            if len(rows) >= self.COPY_FROM:
                self._copy(conn, rows)
                return
        sql, order = self._compiled.get(conn.dialect.name) or self._compile(conn)
        if order is None:  # named parameters (psycopg)
            conn.exec_driver_sql(sql, [dict(zip(self._columns, row, strict=True)) for row in rows])
        else:
            conn.exec_driver_sql(sql, [tuple(row[i] for i in order) for row in rows]
                                 if order != tuple(range(len(self._columns))) else list(rows))

    def _copy(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """COPY ``rows`` in: psycopg's executemany still sends one INSERT per row.

        COPY has no ON CONFLICT, so a table with ignored conflicts is filled through a
        temporary staging table (emptied at commit) and one INSERT ... SELECT: measured, still
        cheaper than one INSERT of arrays (``_unnest``) from a few hundred rows up.
        """
        # Every name comes from our own table models and is quoted by the dialect.
        quote = conn.dialect.identifier_preparer.quote
        table, columns = quote(self._table.name), ", ".join(quote(c) for c in self._columns)
        stage = quote(f"stage_{self._table.name}")
        create = (f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "  # noqa: S608
                  f"AS SELECT {columns} FROM {table} WITH NO DATA")
        move = (f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "  # noqa: S608
                + self._on_conflict(conn))
        if self._ignore:
            conn.exec_driver_sql(create)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {stage if self._ignore else table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if self._ignore:
            conn.exec_driver_sql(move)
            conn.exec_driver_sql(f"TRUNCATE {stage}")

    def _unnest(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in one INSERT ... SELECT FROM unnest(one array per column): what can go
        out while writes are sent ahead (pipeline mode), where COPY cannot run. The arrays go
        binary: quoting every value of a text array costs more than the statement."""
        conn.exec_driver_sql(self._unnest_sql(conn), {
            f"c{i}": list(values) for i, values in enumerate(zip(*rows, strict=True))})

    def _on_conflict(self, conn: Connection) -> str:
        """Return the ON CONFLICT clause of a table with ignored conflicts ("" without)."""
        if not self._ignore:
            return ""
        quote = conn.dialect.identifier_preparer.quote
        keys = ", ".join(quote(c) for c in self._ignore)
        changes = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in self._columns
                            if c not in self._ignore)
        return f"ON CONFLICT ({keys}) " + (f"DO UPDATE SET {changes}" if self._update else "DO NOTHING")

    def _unnest_sql(self, conn: Connection) -> str:
        """Return (built once) this table's INSERT ... SELECT FROM unnest(...) [ON CONFLICT ...]."""
        found = self._compiled.get("unnest")
        if found is None:
            # Every name and type comes from our own table models, quoted by the dialect.
            quote = conn.dialect.identifier_preparer.quote
            table, columns = quote(self._table.name), ", ".join(quote(c) for c in self._columns)
            # Cast to the type without its size (see _SIZE): an explicit cast to VARCHAR(n) would
            # cut a longer value short, where the INSERT refuses it.
            arrays = ", ".join(
                f"%(c{i})b::{_SIZE.sub('', self._table.c[c].type.compile(dialect=conn.dialect))}[]"
                for i, c in enumerate(self._columns))
            sql = (f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) "  # noqa: S608
                   + self._on_conflict(conn))
            self._compiled["unnest"] = found = (sql, None)
        return found[0]

    def _compile(self, conn: Connection) -> tuple[str, tuple[int, ...] | None]:
        stmt = upsert(conn, self._table).values({c: bindparam(c) for c in self._columns})
        if self._update:
            stmt = stmt.on_conflict_do_update(index_elements=list(self._ignore), set_={
                c: stmt.excluded[c] for c in self._columns if c not in self._ignore})
        elif self._ignore:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(self._ignore))
        compiled = stmt.compile(dialect=conn.dialect)
        extra = set(compiled.positiontup or compiled.binds) - set(self._columns)
        if extra:  # a column with a Python-side default: give it a server default instead
            raise TypeError(f"bulk insert into {self._table.name} would need {sorted(extra)}")
        order = (tuple(self._columns.index(name) for name in compiled.positiontup or ())
                 if compiled.positional else None)
        self._compiled[conn.dialect.name] = found = (str(compiled), order)
        return found


def _sending_ahead(conn: Connection) -> bool:
    """Tell whether this PostgreSQL connection is in pipeline mode (the unit of work's sending_ahead)."""
    pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
    return bool(pgconn.pipeline_status != pq.PipelineStatus.OFF)
