"""The unit tier uses no database: the guard in tests/unit/conftest.py stops any engine."""

from __future__ import annotations

import pytest
import sqlalchemy

from bot.adapters.sql.engine import make_engine
from tests.unit.conftest import NO_DATABASE


def test_making_an_engine_fails_a_unit_test() -> None:
    """The bot's own make_engine refuses, naming the fakes and tests/integration."""
    with pytest.raises(AssertionError, match="tests/integration"):
        make_engine("sqlite://")


def test_sqlalchemys_own_create_engine_fails_a_unit_test_too() -> None:
    """A test reaching for SQLAlchemy directly is stopped the same way."""
    with pytest.raises(AssertionError) as refused:
        sqlalchemy.create_engine("sqlite://")
    assert str(refused.value) == NO_DATABASE


def test_the_shared_fixtures_run_on_the_fakes(uow, catalog, members, store) -> None:
    """catalog and members (tests/conftest.py) link into the fake store here, not a database."""
    assert set(store.state.campaigns) == {c.id for c in catalog.campaigns}
    assert sorted(store.state.members) == sorted(members.values())
