"""Schema migrations through alembic: the one module that drives it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

_SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


@dataclass(frozen=True)
class SchemaState:
    """Where the database's schema stands against this version of the bot."""

    current: str | None  # the revision the database is at (None: never migrated)
    head: str  # the revision this code needs
    empty: bool  # no tables at all

    @property
    def up_to_date(self) -> bool:
        """Return True when the database is at the revision this code needs."""
        return self.current == self.head


@functools.cache
def _head() -> str:
    # The scripts ship with the code, so their head cannot change while a process runs; reading
    # them costs tens of milliseconds, paid by every command, portal and test start.
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def schema_state(engine: Engine) -> SchemaState:
    """Return the database's revision, the one needed, and whether it holds any table."""
    head = _head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        empty = not inspect(conn).get_table_names()
    return SchemaState(current, head, empty)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to the newest revision (or to ``revision``)."""
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
