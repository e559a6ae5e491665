"""Look-ups for the hot tables and the dialect details they need (bulk writes: bulk_insert.py).

SQLAlchemy's per-row work (parameter processing, Row objects, re-expanding IN lists) costs more
than SQLite's own work on the tables reconciliation and polling fill; these helpers compile a
statement once per dialect and talk to the driver directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    String,
    Table,
    and_,
    any_,
    bindparam,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

CHUNK = 500  # ids per IN (...) list, well under every driver's parameter limit
PG_CHUNK = 20_000  # ids per PostgreSQL array parameter: one round trip for a whole batch


def upsert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """Return the dialect's INSERT, which knows ON CONFLICT."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    """Yield ``items`` in slices of ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def key_in(conn: Connection, column: Column[Any], keys: Sequence[str],
           size: int = CHUNK) -> Iterator[ColumnElement[bool]]:
    """Yield ``column IN keys`` conditions, one per chunk of ``keys``.

    On PostgreSQL each is ``column = ANY(one array parameter)``: one statement shape whatever
    the count, so neither SQLAlchemy nor the server re-parses a list of hundreds of parameters.
    """
    if conn.dialect.name == "postgresql":
        for chunk in chunks(keys, max(size, PG_CHUNK)):
            yield any_of(column, list(chunk))
    else:
        for chunk in chunks(keys, size):
            yield column.in_(chunk)


def any_of(column: Column[Any], keys: list[str] | None = None) -> ColumnElement[bool]:
    """Return ``column = ANY(:keys)``, the keys as one PostgreSQL array parameter."""
    return column == any_(bindparam("keys", keys, type_=postgresql.ARRAY(String)))


class InLookup:
    """SELECT ... WHERE key IN (a fixed number of parameters), compiled once per dialect.

    SQLAlchemy re-expands an IN list on every execution, which costs more than the query for
    thousands of keys; a fixed-size statement padded with a repeated key avoids that.
    """

    SIZE = 1000

    def __init__(self, table: Table, key: str, columns: Sequence[str], *, scope: str | None = None) -> None:
        self._table, self._key, self._columns, self._scope = table, key, tuple(columns), scope
        self._compiled: dict[str, tuple[str, bool]] = {}

    def run(self, conn: Connection, keys: Sequence[str], scope: Any = None) -> list[tuple[Any, ...]]:
        """Return the rows whose key is among ``keys`` (and whose scope column is ``scope``)."""
        if not keys:
            return []
        sql, positional = self._compiled.get(conn.dialect.name) or self._compile(conn)
        found: list[tuple[Any, ...]] = []
        scoped = {} if self._scope is None else {"scope": scope}
        if conn.dialect.name == "postgresql":  # one array parameter: see key_in
            for chunk in chunks(keys, PG_CHUNK):
                found.extend(tuple(row) for row in conn.exec_driver_sql(sql, {"keys": list(chunk), **scoped}))
            return found
        for start in range(0, len(keys), self.SIZE):
            chunk = list(keys[start:start + self.SIZE])
            chunk += [chunk[0]] * (self.SIZE - len(chunk))
            # The scope's parameter is compiled last (see _compile).
            params: Any = ((*chunk, *scoped.values()) if positional
                           else {f"k{i}": k for i, k in enumerate(chunk)} | scoped)
            found.extend(tuple(row) for row in conn.exec_driver_sql(sql, params))
        return found

    def _compile(self, conn: Connection) -> tuple[str, bool]:
        table = self._table
        key = table.c[self._key]
        where = (any_of(key) if conn.dialect.name == "postgresql"
                 else key.in_([bindparam(f"k{i}") for i in range(self.SIZE)]))
        if self._scope is not None:
            # "+ 0": not an index on the scope column, whatever the planner guesses, but the one
            # that leads with the key (SQLite would otherwise scan the whole scope for each list).
            where = and_(where, table.c[self._scope] + literal_column("0") == bindparam("scope"))
        compiled = select(*(table.c[c] for c in self._columns)).where(where).compile(dialect=conn.dialect)
        assert self._scope is None or not compiled.positional or (compiled.positiontup or [])[-1] == "scope"
        self._compiled[conn.dialect.name] = found = (str(compiled), bool(compiled.positional))
        return found


class CompiledQuery:
    """A SELECT compiled once per dialect, its rows read as plain tuples from the driver's cursor."""

    def __init__(self, statement: Any) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
        """Yield the rows for ``params`` (parameters the dialect added, such as OFFSET, as compiled)."""
        found = self._compiled.get(conn.dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=conn.dialect)
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            self._compiled[conn.dialect.name] = found = (str(compiled), order, dict(compiled.params))
        sql, order, defaults = found
        values = defaults | dict(params)
        cursor = conn.exec_driver_sql(sql, tuple(values[n] for n in order) if order is not None
                                      else values).cursor
        assert cursor is not None
        while chunk := cursor.fetchmany(10_000):
            yield from chunk


def raw_rows(conn: Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    """Yield plain tuples from the driver's cursor: for the few queries that load a whole
    table into memory, SQLAlchemy's per-row Row objects would cost more than the query."""
    cursor = conn.exec_driver_sql(sql).cursor
    assert cursor is not None
    while chunk := cursor.fetchmany(10_000):
        yield from chunk


def native(conn: Connection) -> Callable[[date | datetime], Any]:
    """Return how this dialect stores a date or an aware datetime (naive UTC, as UTCDateTime)."""
    if conn.dialect.name == "sqlite":
        def to_sqlite(value: date | datetime) -> str:
            if isinstance(value, datetime):
                return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            return value.isoformat()
        return to_sqlite

    def to_driver(value: date | datetime) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    return to_driver


def day_writer(conn: Connection) -> Callable[[date], Any] | None:
    """Return how this dialect stores a date, remembering each day converted (a batch's rows share
    a few days); None where the driver takes dates as they are."""
    if conn.dialect.name != "sqlite":
        return None
    texts: dict[date, str] = {}

    def write(day: date) -> str:
        text = texts.get(day)
        if text is None:
            text = texts[day] = day.isoformat()
        return text
    return write


def day_reader() -> Callable[[Any], date]:
    """Return a converter of the driver's dates (SQLite gives text), remembering each day it read."""
    days: dict[Any, date] = {}

    def read(value: Any) -> date:
        if isinstance(value, date):
            return value
        found = days.get(value)
        if found is None:
            found = days[value] = date.fromisoformat(value)
        return found
    return read
