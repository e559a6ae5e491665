"""Portal accounts, sessions, the audit log and read models on the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from bot.adapters.migrations import upgrade
from bot.adapters.passwords import PasswordHasher
from bot.adapters.sql.engine import make_engine
from bot.adapters.sql.portal import PortalRepository
from bot.adapters.sql.read_models import NotVisible, ReadModels
from bot.services.accounts import AccountError, Accounts, session_hash
from tests.conftest import POSTGRES_URL

GOOD = "tulip ledger orbit canoe"


@pytest.fixture
def accounts(engine, clock) -> Accounts:
    return Accounts(PortalRepository(engine), PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
                    clock)


def test_a_user_is_kept_with_an_argon2id_hash_and_the_email_in_lower_case(accounts, engine):
    """The password itself is never stored; the email is the account's key, case-folded."""
    user = accounts.add("Ops@Bank.Example", "ops", None, GOOD, by="tests")

    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT email, password_hash FROM web_users").one()
    assert user.email == "ops@bank.example" == stored[0]
    assert stored[1].startswith("$argon2id$")
    assert GOOD not in stored[1]


def test_a_second_account_for_an_email_and_a_weak_password_are_refused(accounts):
    """Errors say what to do instead."""
    accounts.add("ops@bank.example", "ops", None, GOOD, by="tests")

    with pytest.raises(AccountError, match="already has an account"):
        accounts.add("OPS@bank.example", "ops", None, GOOD, by="tests")
    with pytest.raises(AccountError, match="at least 12 characters"):
        accounts.add("new@bank.example", "ops", None, "short", by="tests")


def test_only_the_sha256_of_a_session_id_is_stored(accounts, engine):
    """The cookie value cannot be read back from the database."""
    accounts.add("ops@bank.example", "ops", None, GOOD, by="tests")

    signed = accounts.sign_in("ops@bank.example", GOOD, address="127.0.0.1")

    assert signed is not None
    with engine.connect() as conn:
        kept = conn.exec_driver_sql("SELECT id_hash FROM web_sessions").scalar_one()
    assert kept == session_hash(signed.token) != signed.token
    assert accounts.session(signed.token) is not None


def test_disabling_ends_sessions_and_stops_sign_in(accounts):
    """A disabled account's live session stops working and it cannot sign in again."""
    accounts.add("mcd@example.com", "merchant", "McDonald's", GOOD, by="tests")
    signed = accounts.sign_in("mcd@example.com", GOOD, address=None)
    assert signed is not None

    accounts.set_disabled("mcd@example.com", True, by="tests")

    assert accounts.session(signed.token) is None
    assert accounts.sign_in("mcd@example.com", GOOD, address=None) is None


def test_a_password_reset_lifts_a_lockout_and_ends_sessions(accounts, clock):
    """After 10 failures the account is locked; a reset by ops opens it with the new password."""
    accounts.add("ops@bank.example", "ops", None, GOOD, by="tests")
    old = accounts.sign_in("ops@bank.example", GOOD, address=None)
    for _ in range(10):
        accounts.sign_in("ops@bank.example", "wrong wrong wrong", address=None)
    assert accounts.sign_in("ops@bank.example", GOOD, address=None) is None

    accounts.reset_password("ops@bank.example", "another long passphrase", by="tests")

    assert old is not None
    assert accounts.session(old.token) is None
    assert accounts.sign_in("ops@bank.example", "another long passphrase", address=None) is not None


def test_ops_only_views_are_not_visible_to_a_merchant(accounts, engine):
    """The read models refuse a merchant viewer, whatever the route or template does."""
    user = accounts.add("mcd@example.com", "merchant", "McDonald's", GOOD, by="tests")
    read = ReadModels(engine, accounts.repo)

    for call in (lambda: read.runs(user.viewer, 1), lambda: read.members(user.viewer, "1001"),
                 lambda: read.replies(user.viewer, None, 1), lambda: read.audit(user.viewer, 1),
                 lambda: read.credit_export(user.viewer, 1), lambda: read.upload(user.viewer, 1)):
        with pytest.raises(NotVisible):
            call()


def test_the_audit_log_is_append_only_in_the_database(tmp_path: Path, engine):
    """The migrated schema refuses to update or delete an audit event (a trigger)."""
    target = engine if POSTGRES_URL else make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    if not POSTGRES_URL:
        upgrade(target)
    from bot.clock import utc_now

    PortalRepository(target).audit(utc_now(), "sign-in", actor="ops@bank.example")

    for statement in ("DELETE FROM audit_log", "UPDATE audit_log SET detail = 'changed'"):
        with pytest.raises(DBAPIError, match="append-only"), target.begin() as conn:
            conn.exec_driver_sql(statement)
    with target.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_log").scalar() == 1
