"""Portal accounts: users, sign-in with lockout, server-side sessions, the audit trail of each."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.domain.portal import (
    AccountInvalid,
    Session,
    SessionState,
    User,
    check_account,
    is_locked,
    lockout_after,
    normalise_email,
    password_problem,
    session_state,
)
from bot.errors import BotError
from bot.ports import PasswordHashing, PortalStore

logger = logging.getLogger(__name__)
TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most once a minute per session
# The embedded default's sample accounts (`offerbot users sample`; never in production).
SAMPLE_USERS = (("ops@example.com", "ops", None), ("merchant@mcdonalds.example", "merchant", "McDonald's"))


class AccountError(BotError):
    """A user command could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class SampleUser:
    """A sample account as `offerbot users sample` shows it, with its new password."""

    email: str
    role: str
    merchant: str | None
    password: str


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie value (shown once, never stored) and its CSRF token."""

    token: str
    csrf_token: str
    user: User


def session_hash(token: str) -> str:
    """Return what the database keeps of a session id: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Users, sign-in and sessions, every change written to the audit log."""

    def __init__(self, repo: PortalStore, hasher: PasswordHashing, clock: Clock) -> None:
        self.repo, self._hasher, self._clock = repo, hasher, clock

    def add(self, email: str, role: str, merchant: str | None, password: str, *, by: str) -> User:
        """Create an account after checking its details and the password policy."""
        try:
            address = normalise_email(email)
            kind, name = check_account(role, merchant)
        except AccountInvalid as exc:
            raise AccountError(str(exc)) from exc
        self._check_password(password, address)
        user = self.repo.add_user(address, kind, name, self._hasher.hash(password), self._clock())
        if user is None:
            raise AccountError(f"{address} already has an account; use `offerbot users reset-password`")
        self.repo.audit(self._clock(), "user added", actor=by,
                        detail=f"{address} as {kind.value}" + (f" of {name}" if name else ""))
        return user

    def reset_samples(self) -> list[SampleUser]:
        """Create or reset each of SAMPLE_USERS with a fresh random password; return them."""
        samples = [SampleUser(email, role, merchant, secrets.token_urlsafe(12))
                   for email, role, merchant in SAMPLE_USERS]
        for sample in samples:
            self.put_sample(sample.email, sample.role, sample.merchant, sample.password)
        return samples

    def put_sample(self, email: str, role: str, merchant: str | None, password: str) -> User:
        """Create a sample account, or give the existing one this password and enable it."""
        user = self.repo.user_by_email(email)
        if user is None:
            return self.add(email, role, merchant, password, by="users sample")
        self.repo.set_disabled(user.id, False)
        return self.reset_password(email, password, by="users sample")

    def users(self) -> list[User]:
        """Return every account."""
        return self.repo.users()

    def set_disabled(self, email: str, disabled: bool, *, by: str) -> User:
        """Disable an account (ending its sessions) or enable it again."""
        user = self._existing(email)
        self.repo.set_disabled(user.id, disabled)
        self.repo.audit(self._clock(), "user disabled" if disabled else "user enabled", actor=by,
                        detail=user.email)
        return user

    def reset_password(self, email: str, password: str, *, by: str) -> User:
        """Set a new password, lift any lockout and end the account's sessions."""
        user = self._existing(email)
        self._check_password(password, user.email)
        self.repo.set_password(user.id, self._hasher.hash(password), self._clock(), ends_sessions=True)
        self.repo.audit(self._clock(), "password reset", actor=by, detail=user.email)
        return user

    def sign_in(self, email: str, password: str, *, address: str | None,
                replaces: str | None = None) -> SignedIn | None:
        """Start a session for the right email and password; None (audited) otherwise.

        The caller shows one message for every refusal, so it never tells whether an email has
        an account, is locked or is disabled.
        """
        now = self._clock()
        given = email.strip().lower()[:254]
        user = self.repo.user_by_email(given) if given else None
        matches = self._hasher.verify(user.password_hash if user else None, password[:1024])
        if user is None:
            self.repo.audit(now, "sign-in failed", actor=given, detail="no such account", address=address)
            return None
        if user.disabled:
            self.repo.audit(now, "sign-in failed", actor=user.email, detail="account disabled",
                            address=address)
            return None
        if is_locked(user.locked_until, now=now):
            self.repo.audit(now, "sign-in failed", actor=user.email, detail="account locked",
                            address=address)
            return None
        if not matches:
            failures = self.repo.count_failure(user.id)
            until = lockout_after(failures, now=now)
            self.repo.audit(now, "sign-in failed", actor=user.email, detail=f"wrong password ({failures})",
                            address=address)
            if until is not None:
                self.repo.record_failure(user.id, 0, until)  # the count starts again after the lockout
                self.repo.audit(now, "lockout", actor=user.email,
                                detail=f"locked until {until:%Y-%m-%d %H:%M} UTC after {failures} failures",
                                address=address)
            return None
        if self._hasher.needs_rehash(user.password_hash):
            self.repo.set_password(user.id, self._hasher.hash(password), now, ends_sessions=False)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        # A new id at every sign-in (never the one the browser came with): no session fixation.
        self.repo.start_session(session_hash(token), user.id, csrf, now,
                                replaces=session_hash(replaces) if replaces else None)
        self.repo.audit(now, "sign-in", actor=user.email, address=address)
        return SignedIn(token, csrf, user)

    def session(self, token: str | None, *, address: str | None = None) -> Session | None:
        """Return the live session of a cookie value, ending it if it has run out."""
        if not token:
            return None
        found = self.repo.session(session_hash(token))
        if found is None:
            return None
        now = self._clock()
        state = session_state(created_at=found.created_at, last_seen_at=found.last_seen_at, now=now)
        if state is not SessionState.ACTIVE or found.user.disabled:
            self.repo.end_session(found.id_hash)
            self.repo.audit(now, "session ended", actor=found.user.email,
                            detail="disabled" if found.user.disabled else state.value, address=address)
            return None
        if now - found.last_seen_at >= TOUCH_EVERY:
            self.repo.touch_session(found.id_hash, now)
        return found

    def sign_out(self, session: Session, *, address: str | None) -> None:
        """End the session on the server."""
        self.repo.end_session(session.id_hash)
        self.repo.audit(self._clock(), "sign-out", actor=session.user.email, address=address)

    def _existing(self, email: str) -> User:
        try:
            address = normalise_email(email)
        except AccountInvalid as exc:
            raise AccountError(str(exc)) from exc
        user = self.repo.user_by_email(address)
        if user is None:
            raise AccountError(f"{address} has no account; see `offerbot users list`")
        return user

    def _check_password(self, password: str, email: str) -> None:
        problem = password_problem(password, email)
        if problem:
            raise AccountError(f"{problem} (policy: at least 12 characters, not a common password)")
