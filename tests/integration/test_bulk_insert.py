"""The toolkit's BulkInsert on each database: one statement on PostgreSQL, the same rows as row by row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError

from bot.adapters.sql.tables import outbox_t
from bot.adapters.sql.toolkit import BulkInsert, native

OUTBOX = ("dedupe_key", "member_id", "in_reply_to", "template", "context", "status", "attempts",
          "next_attempt_at", "created_at", "thread", "channel")


def _outbox_rows(engine: Engine, keys: list[str], template: str = "t") -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        when = native(conn)(datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    return [(key, "1001", "42", template, "{}", "pending", 0, when, when, None, "reply") for key in keys]


def _outbox(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(outbox_t.c.dedupe_key, outbox_t.c.template,
                                                      outbox_t.c.thread).order_by(outbox_t.c.dedupe_key))]


@pytest.mark.parametrize("count", [1, 3, 250])
def test_ignored_conflicts_keep_the_first_row_of_each_key(engine, count):
    """A key already there, or repeated in one call, is left as the first row wrote it."""
    add = BulkInsert(outbox_t, OUTBOX, ignore_conflicts=["dedupe_key"])
    keys = [f"k{i:04d}" for i in range(count)]
    with engine.begin() as conn:
        add.run(conn, _outbox_rows(engine, keys[:1], template="first"))
        add.run(conn, _outbox_rows(engine, keys + keys[:1], template="second"))

    found = _outbox(engine)
    assert [k for k, _, _ in found] == keys
    assert found[0][1] == "first"
    assert all(t == "second" for _, t, _ in found[1:])
    assert all(thread is None for _, _, thread in found)  # a column of nothing but NULLs


def test_updated_conflicts_replace_the_row(engine):
    """With update_conflicts a row whose key exists replaces it."""
    add = BulkInsert(outbox_t, OUTBOX, ignore_conflicts=["dedupe_key"], update_conflicts=True)
    with engine.begin() as conn:
        add.run(conn, _outbox_rows(engine, ["a", "b"], template="old"))
        add.run(conn, _outbox_rows(engine, ["b", "c"], template="new"))

    assert [(k, t) for k, t, _ in _outbox(engine)] == [("a", "old"), ("b", "new"), ("c", "new")]


def test_a_value_too_long_for_its_column_is_refused_not_cut(engine):
    """The arrays are cast without the column's size, so the INSERT still checks it (SQLite has
    no sizes: it keeps the value whole)."""
    add = BulkInsert(outbox_t, OUTBOX, ignore_conflicts=["dedupe_key"])
    long_key = "x" * 500  # dedupe_key is VARCHAR(100)
    if engine.dialect.name == "postgresql":
        with pytest.raises(DataError, match="too long"), engine.begin() as conn:
            add.run(conn, _outbox_rows(engine, [long_key]))
        assert _outbox(engine) == []
        return
    with engine.begin() as conn:
        add.run(conn, _outbox_rows(engine, [long_key]))
    assert [k for k, _, _ in _outbox(engine)] == [long_key]
