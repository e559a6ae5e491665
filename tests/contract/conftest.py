"""Contract tests: each runs against the in-memory fake (tests/fakes.py) and the SQL repository
(on the test database: SQLite, or PostgreSQL), so the two cannot drift apart."""

from __future__ import annotations

import pytest

from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.ports import UnitOfWorkFactory
from tests.fakes import FakeStore


@pytest.fixture(params=["fake", "sql"])
def uow(request: pytest.FixtureRequest) -> UnitOfWorkFactory:
    """The units of work of the fakes, then of the SQL adapter on a fresh database."""
    if request.param == "fake":
        return FakeStore()
    return unit_of_work_factory(request.getfixturevalue("engine"))
