"""The portal's pure rules: passwords, accounts, sessions, lockout, CSRF tokens, requests' reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.portal import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    LOCK_AFTER,
    LOCK_FOR,
    AccountInvalid,
    Ownership,
    Role,
    SessionState,
    Viewer,
    check_account,
    is_locked,
    lockout_after,
    normalise_email,
    password_problem,
    session_state,
    submission_problems,
    tokens_match,
)
from tests.fakes import START, campaign


@pytest.mark.parametrize(("password", "problem"), [
    ("short pass", "at least 12 characters"),
    ("password1234", "too common"),
    ("Password1234", "too common"),
    ("aaaaaaaaaaaaaaaa", "too common"),
    ("ops@bank.example", "must not be the email"),
    ("x" * 1025, "at most 1024"),
])
def test_weak_passwords_are_refused_saying_why(password, problem):
    """Under 12 characters, on the common list, one repeated character or the email: refused."""
    assert problem in (password_problem(password, "ops@bank.example") or "")


def test_a_long_uncommon_password_is_allowed():
    """A passphrase of unrelated words passes the policy."""
    assert password_problem("tulip ledger orbit canoe", "ops@bank.example") is None


def test_accounts_need_the_right_merchant_for_their_role():
    """A merchant user names its merchant; an ops user names none; unknown roles are refused."""
    assert check_account("merchant", " McDonald's ") == (Role.MERCHANT, "McDonald's")
    assert check_account("ops", None) == (Role.OPS, None)
    for role, merchant in (("merchant", None), ("ops", "McDonald's"), ("admin", None)):
        with pytest.raises(AccountInvalid):
            check_account(role, merchant)


def test_emails_are_keyed_in_lower_case_and_checked():
    """Accounts are found whatever the case the email is typed in."""
    assert normalise_email("  Ops@Bank.Example ") == "ops@bank.example"
    with pytest.raises(AccountInvalid):
        normalise_email("not an email")


def test_a_merchant_viewer_sees_only_its_merchant_exactly():
    """The merchant name is compared exactly; ops see every merchant."""
    mcd = Viewer(1, "m@x.example", Role.MERCHANT, "McDonald's")

    assert mcd.sees("McDonald's")
    assert not mcd.sees("McDonalds")
    assert not mcd.sees("Zappos.com")
    assert Viewer(2, "o@x.example", Role.OPS).sees("Zappos.com")


def test_sessions_end_after_15_idle_minutes_or_12_hours():
    """Idle and absolute timeouts, each at its exact boundary."""
    start = START
    just_before = start + IDLE_TIMEOUT - timedelta(seconds=1)
    assert session_state(created_at=start, last_seen_at=start, now=just_before) is SessionState.ACTIVE
    assert session_state(created_at=start, last_seen_at=start, now=start + IDLE_TIMEOUT) is SessionState.IDLE
    busy = start + ABSOLUTE_TIMEOUT
    assert session_state(created_at=start, last_seen_at=busy, now=busy) is SessionState.EXPIRED


@given(st.integers(0, 24 * 60), st.integers(0, 24 * 60))
def test_a_session_is_active_exactly_when_both_limits_hold(age_minutes, idle_minutes):
    """For any age and idle time, ACTIVE means idle < 15 min and age < 12 h."""
    now = datetime(2026, 11, 23, tzinfo=UTC)
    created = now - timedelta(minutes=age_minutes)
    last_seen = now - timedelta(minutes=min(idle_minutes, age_minutes))
    state = session_state(created_at=created, last_seen_at=last_seen, now=now)

    active = now - last_seen < IDLE_TIMEOUT and now - created < ABSOLUTE_TIMEOUT
    assert (state is SessionState.ACTIVE) is active


def test_the_tenth_failure_locks_for_30_minutes():
    """Nine failures do not lock; the tenth locks until 30 minutes later."""
    assert lockout_after(LOCK_AFTER - 1, now=START) is None
    until = lockout_after(LOCK_AFTER, now=START)

    assert until == START + LOCK_FOR
    assert is_locked(until, now=START + LOCK_FOR - timedelta(seconds=1))
    assert not is_locked(until, now=START + LOCK_FOR)
    assert not is_locked(None, now=START)


def test_csrf_tokens_match_only_when_equal_and_present():
    """A missing or empty token never matches, even an empty expectation."""
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd")
    assert not tokens_match("abc", None)
    assert not tokens_match("", "")


def test_a_request_may_not_reach_another_merchants_campaigns():
    """Its merchant must be the submitter's; another merchant's id, hashtag or merchant ids are refused;
    the merchant's own are fine (an edit)."""
    mine = campaign(id="mcd-new", hashtag="#McNew", merchant_ids=("MID-MCD-0009",), credit=Decimal(1))
    others = [Ownership("amex-zappos", "Zappos.com", "amexzappos", ("MID-ZAP-0001",)),
              Ownership("mcd-new", "McDonald's", "mcnew", ("MID-MCD-0009",))]

    assert submission_problems(mine, merchant="McDonald's", others=others) == []
    wrong = campaign(id="amex-zappos", merchant="Zappos.com", hashtag="#AmexZappos",
                     merchant_ids=("MID-ZAP-0001",))
    fields = [f for f, _ in submission_problems(wrong, merchant="McDonald's", others=others)]
    assert fields == ["merchant", "id", "hashtag", "merchant_ids"]
