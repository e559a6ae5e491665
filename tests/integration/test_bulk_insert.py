"""BulkInsert on each database: the same rows whichever way they go in (COPY, unnest, executemany)."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DataError

from bot.adapters.sql.bulk_insert import BulkInsert
from bot.adapters.sql.tables import outbox_t, rejects_t
from bot.adapters.sql.toolkit import native

OUTBOX = ("dedupe_key", "member_id", "in_reply_to", "template", "context", "status", "attempts",
          "next_attempt_at", "created_at", "thread", "channel")


def _outbox_rows(conn: Connection, keys: list[str], template: str = "t") -> list[tuple[object, ...]]:
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
        add.run(conn, _outbox_rows(conn, keys[:1], template="first"))
        add.run(conn, _outbox_rows(conn, keys + keys[:1], template="second"))

    found = _outbox(engine)
    assert [k for k, _, _ in found] == keys
    assert found[0][1] == "first"
    assert all(t == "second" for _, t, _ in found[1:])
    assert all(thread is None for _, _, thread in found)  # a column of nothing but NULLs


def test_updated_conflicts_replace_the_row(engine):
    """With update_conflicts a row whose key exists replaces it."""
    add = BulkInsert(outbox_t, OUTBOX, ignore_conflicts=["dedupe_key"], update_conflicts=True)
    with engine.begin() as conn:
        add.run(conn, _outbox_rows(conn, ["a", "b"], template="old"))
        add.run(conn, _outbox_rows(conn, ["b", "c"], template="new"))

    assert [(k, t) for k, t, _ in _outbox(engine)] == [("a", "old"), ("b", "new"), ("c", "new")]


@pytest.mark.parametrize("ahead", [False, True])
def test_a_value_too_long_for_its_column_is_refused_not_cut(uow, engine, ahead):
    """Sent ahead, the arrays are cast without the column's size, so the INSERT still checks it
    (SQLite has no sizes: it keeps the value whole)."""
    add = BulkInsert(outbox_t, OUTBOX, ignore_conflicts=["dedupe_key"])
    long_key = "x" * 500  # dedupe_key is VARCHAR(100)
    if engine.dialect.name == "postgresql":
        # Sent ahead, the driver's own error comes out as the block ends, past SQLAlchemy.
        with (uow() as tx, pytest.raises(Exception if ahead else DataError, match="too long"),
              tx.sending_ahead() if ahead else nullcontext()):
            add.run(tx.outbox._conn, _outbox_rows(tx.outbox._conn, [long_key]))
        assert _outbox(engine) == []
        return
    with uow() as tx:
        with tx.sending_ahead() if ahead else nullcontext():
            add.run(tx.outbox._conn, _outbox_rows(tx.outbox._conn, [long_key]))
        tx.commit()
    assert [k for k, _, _ in _outbox(engine)] == [long_key]


def test_writes_sent_ahead_land_as_the_same_rows(uow, engine):
    """Inside sending_ahead (pipeline mode on PostgreSQL, where COPY cannot run) a large plain batch
    and one with ignored conflicts still go in whole, and commit with the transaction."""
    add_plain = BulkInsert(rejects_t, ("file_id", "line", "column", "reason", "transaction_id"))
    add_ignoring = BulkInsert(outbox_t, OUTBOX, ignore_conflicts=["dedupe_key"])
    with uow() as tx:
        file_id = tx.ledger.start_file("a" * 64, "day.csv", datetime(2026, 12, 1, tzinfo=UTC)).id
        tx.commit()
    with uow() as tx:
        conn = tx.ledger._conn  # the unit of work's own connection
        with tx.sending_ahead():
            add_plain.run(conn, [(file_id, line, "amount", "bad", "") for line in range(2, 502)])
            add_ignoring.run(conn, _outbox_rows(conn, ["a", "b", "a"]))
        tx.commit()

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rejects_t)).scalar_one() == 500
    assert [k for k, _, _ in _outbox(engine)] == ["a", "b"]


def test_a_write_sent_ahead_that_fails_fails_the_block_and_keeps_nothing(uow, engine):
    """A unique key broken inside sending_ahead raises by the block's end; the transaction keeps nothing."""
    add = BulkInsert(outbox_t, OUTBOX)  # no ignored conflicts: a repeated key is an error
    with uow() as tx:
        conn = tx.outbox._conn
        # The driver's own error: pipeline mode raises it when the block ends, past SQLAlchemy.
        with pytest.raises(Exception, match=r"(?i)unique|dedupe_key"), tx.sending_ahead():
            add.run(conn, _outbox_rows(conn, ["a", "b", "a"]))

    assert _outbox(engine) == []
    with uow() as tx:  # the connection went back to the pool fit for the next unit of work
        tx.outbox.add_many([], datetime(2026, 12, 1, tzinfo=UTC))
        tx.commit()
