"""The shared fixtures give what they promise: a project's database at the schema's head, copied
rather than migrated per test, and none when a test asks the bot to create it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.adapters.migrations import schema_state
from bot.adapters.sql.engine import make_engine
from tests.conftest import POSTGRES_URL


def project_engine(project: Path, postgres: Engine | None) -> Engine:
    return postgres if postgres is not None else make_engine(f"sqlite:///{project / 'data' / 'offerbot.db'}")


def test_a_projects_database_is_at_the_schemas_head(project: Path, request: pytest.FixtureRequest) -> None:
    """The project fixture's database needs no migration: the bot starts on it as it is."""
    postgres = request.getfixturevalue("_postgres")
    engine = project_engine(project, postgres)
    try:
        state = schema_state(engine)
    finally:
        if postgres is None:
            engine.dispose()
    assert state.up_to_date
    assert not state.empty


@pytest.mark.sqlite_only
def test_a_projects_sqlite_file_is_a_private_copy(project: Path, request: pytest.FixtureRequest) -> None:
    """Each project gets its own copy of the session's migrated file, readable by its owner only."""
    template = request.getfixturevalue("_migrated_sqlite")
    path = project / "data" / "offerbot.db"
    assert path.read_bytes() == template.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.samefile(template)


@pytest.mark.fresh_database
def test_a_fresh_database_test_leaves_the_file_to_the_bot(project: Path) -> None:
    """Marked fresh_database, the project has no SQLite file yet (on PostgreSQL: the emptied database)."""
    assert not (project / "data" / "offerbot.db").exists() or POSTGRES_URL
