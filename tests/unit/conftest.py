"""Unit tests run on the in-memory fakes (tests/fakes.py) and use no database: creating an engine
fails the test. A test that needs SQL belongs in tests/integration."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import FakeStore

NO_DATABASE = ("a unit test created a database engine; run it on the fakes (tests/fakes.py, the `store` "
               "fixture) or move it to tests/integration")
ENGINE_MAKERS = ("sqlalchemy.create_engine", "sqlalchemy.engine.create_engine", "sqlmodel.create_engine",
                 "bot.adapters.sql.engine.create_engine")


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every way of creating a SQLAlchemy engine fail inside tests/unit."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError(NO_DATABASE)

    for target in ENGINE_MAKERS:
        monkeypatch.setattr(target, refuse)


@pytest.fixture
def store() -> FakeStore:
    """The fakes' database: an empty in-memory store, read back through its ``state``."""
    return FakeStore()


@pytest.fixture
def uow(store: FakeStore) -> FakeStore:
    """Units of work on the fakes (the shared fixtures catalog and members link into it too)."""
    return store
