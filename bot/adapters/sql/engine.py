"""Engines and connections: SQLite set up for a long-running service, or PostgreSQL."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from bot.adapters.private_files import create_private, private_file, private_folder
from bot.adapters.sql import tables  # noqa: F401 - registers the tables on SQLModel.metadata

logger = logging.getLogger(__name__)
READONLY = "offerbot_readonly"


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    memory = parsed.database in (None, "", ":memory:")
    if not memory and parsed.database:
        _private_database_file(Path(parsed.database))
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool  # one shared in-memory database
    engine = create_engine(url, **kwargs)
    _configure_sqlite(engine, memory=memory)
    return engine


def _private_database_file(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite opens it: its -wal and -shm files take the
    database file's mode. An existing file of ours (and its -wal, -shm) is made 0600 too."""
    private_folder(path.parent, tighten=False)
    try:
        os.close(create_private(path, exclusive=True))
    except FileExistsError:
        for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            private_file(existing)


def _configure_sqlite(engine: Engine, *, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit that reached the credits ledger survives power loss, not only a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        # 16 MiB of page cache rather than 2: bulk inserts into indexes in member order touch
        # pages all over the file, and re-reading them cost more than the memory.
        cursor.execute("PRAGMA cache_size=-16384")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # A deferred transaction that later writes fails at once with SQLITE_BUSY whatever the
        # timeout; taking the write lock up front makes writers queue instead.
        readonly = connection.get_execution_options().get(READONLY, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def create_schema(engine: Engine) -> None:
    """Create any missing tables."""
    SQLModel.metadata.create_all(engine)
