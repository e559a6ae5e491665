"""The portal's own rows: users, sessions, the audit log, campaign requests and uploads. The only
writer of web_users, web_sessions, audit_log, campaign_submissions and web_uploads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from bot.adapters.sql.engine import READONLY
from bot.adapters.sql.tables import audit_t, sessions_t, submissions_t, uploads_t, users_t
from bot.domain.cards import mask_card_numbers
from bot.domain.portal import (
    AuditEvent,
    Role,
    Session,
    SubmissionStatus,
    UploadStatus,
    User,
)


def _user(row: Any) -> User:
    return User(row.id, row.email, Role(row.role), row.merchant, row.password_hash, row.disabled,
                row.failed_sign_ins, row.locked_until, row.created_at)


class PortalRepository:
    """Reads and writes the portal's tables, each call in a transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _read(self) -> Any:
        return self._engine.connect().execution_options(**{READONLY: True})

    # users
    def add_user(self, email: str, role: Role, merchant: str | None, password_hash: str,
                 now: datetime) -> User | None:
        """Create an account; None when the email already has one."""
        with self._engine.begin() as conn:
            if conn.execute(select(users_t.c.id).where(users_t.c.email == email)).first():
                return None
            conn.execute(insert(users_t).values(
                email=email, role=role.value, merchant=merchant, password_hash=password_hash,
                disabled=False, failed_sign_ins=0, created_at=now, password_changed_at=now))
        return self.user_by_email(email)

    def user_by_email(self, email: str) -> User | None:
        """Return the account with this email."""
        with self._read() as conn, conn.begin():
            row = conn.execute(select(users_t).where(users_t.c.email == email)).first()
        return None if row is None else _user(row)

    def users(self) -> list[User]:
        """Return every account, by email."""
        with self._read() as conn, conn.begin():
            return [_user(r) for r in conn.execute(select(users_t).order_by(users_t.c.email))]

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        """Disable (or enable) an account; disabling ends its sessions."""
        with self._engine.begin() as conn:
            conn.execute(update(users_t).where(users_t.c.id == user_id).values(disabled=disabled))
            if disabled:
                conn.execute(delete(sessions_t).where(sessions_t.c.user_id == user_id))

    def set_password(self, user_id: int, password_hash: str, now: datetime, *, ends_sessions: bool) -> None:
        """Store a new password hash, clear any lockout, and (on a reset) end the sessions."""
        with self._engine.begin() as conn:
            conn.execute(update(users_t).where(users_t.c.id == user_id).values(
                password_hash=password_hash, password_changed_at=now, failed_sign_ins=0,
                locked_until=None))
            if ends_sessions:
                conn.execute(delete(sessions_t).where(sessions_t.c.user_id == user_id))

    def record_failure(self, user_id: int, failures: int, locked_until: datetime | None) -> None:
        """Store the failure count and lockout after a failed sign-in."""
        with self._engine.begin() as conn:
            conn.execute(update(users_t).where(users_t.c.id == user_id).values(
                failed_sign_ins=failures, locked_until=locked_until))

    def count_failure(self, user_id: int) -> int:
        """Add one failed sign-in atomically and return the new count."""
        with self._engine.begin() as conn:
            conn.execute(update(users_t).where(users_t.c.id == user_id)
                         .values(failed_sign_ins=users_t.c.failed_sign_ins + 1))
            count = conn.execute(select(users_t.c.failed_sign_ins).where(users_t.c.id == user_id)).scalar()
        return int(count or 0)

    # sessions
    def start_session(self, id_hash: str, user_id: int, csrf_token: str, now: datetime,
                      *, replaces: str | None = None) -> None:
        """Record a new session (ending the one it replaces) and clear the failure count."""
        with self._engine.begin() as conn:
            if replaces:
                conn.execute(delete(sessions_t).where(sessions_t.c.id_hash == replaces))
            conn.execute(insert(sessions_t).values(id_hash=id_hash, user_id=user_id, csrf_token=csrf_token,
                                                   created_at=now, last_seen_at=now))
            conn.execute(update(users_t).where(users_t.c.id == user_id)
                         .values(failed_sign_ins=0, locked_until=None))

    def session(self, id_hash: str) -> Session | None:
        """Return the session with this id hash, with its user."""
        with self._read() as conn, conn.begin():
            row = conn.execute(
                select(sessions_t.c.id_hash, sessions_t.c.csrf_token,
                       sessions_t.c.created_at.label("s_created"), sessions_t.c.last_seen_at, users_t)
                .join(users_t, users_t.c.id == sessions_t.c.user_id)
                .where(sessions_t.c.id_hash == id_hash)).first()
        if row is None:
            return None
        return Session(row.id_hash, _user(row), row.csrf_token, row.s_created, row.last_seen_at)

    def touch_session(self, id_hash: str, now: datetime) -> None:
        """Note that the session was used at ``now`` (the idle timeout counts from here)."""
        with self._engine.begin() as conn:
            conn.execute(update(sessions_t).where(sessions_t.c.id_hash == id_hash).values(last_seen_at=now))

    def end_session(self, id_hash: str) -> None:
        """End a session on the server (sign-out, expiry)."""
        with self._engine.begin() as conn:
            conn.execute(delete(sessions_t).where(sessions_t.c.id_hash == id_hash))

    # audit log
    def audit(self, now: datetime, event: str, *, actor: str | None = None, detail: str = "",
              address: str | None = None) -> None:
        """Append an event; card numbers in the detail are masked whoever wrote it."""
        with self._engine.begin() as conn:
            conn.execute(insert(audit_t).values(at=now, actor=(actor or None) and actor[:254], event=event,
                                                detail=mask_card_numbers(detail)[:500],
                                                address=address and address[:64]))

    def audit_page(self, offset: int, limit: int) -> tuple[list[AuditEvent], int]:
        """Return a page of events, newest first, and how many there are."""
        with self._read() as conn, conn.begin():
            total = conn.execute(select(func.count()).select_from(audit_t)).scalar() or 0
            rows = conn.execute(select(audit_t).order_by(audit_t.c.id.desc()).offset(offset).limit(limit))
            return [AuditEvent(r.id, r.at, r.actor, r.event, r.detail, r.address) for r in rows], int(total)

    # campaign requests
    def add_submission(self, campaign_id: str, merchant: str, submitted_by: str, text: str,
                       now: datetime) -> int:
        """Store a checked campaign request as pending; return its id."""
        with self._engine.begin() as conn:
            result = conn.execute(insert(submissions_t).values(
                campaign_id=campaign_id, merchant=merchant, submitted_by=submitted_by, text=text,
                status=SubmissionStatus.PENDING.value, submitted_at=now).returning(submissions_t.c.id))
            return int(result.scalar_one())

    def decide_submission(self, submission_id: int, status: SubmissionStatus, note: str | None, by: str,
                          now: datetime, *, then: Callable[[], None] | None = None) -> bool:
        """Move a pending request to ``status``; False when it was no longer pending.

        ``then`` runs inside the same transaction (writing the campaign file), so a failure
        there leaves the request pending.
        """
        with self._engine.begin() as conn:
            changed = conn.execute(update(submissions_t).where(
                submissions_t.c.id == submission_id, submissions_t.c.status == SubmissionStatus.PENDING.value
            ).values(status=str(status), note=note, decided_by=by, decided_at=now)).rowcount
            if changed != 1:
                return False
            if then is not None:
                then()
        return True

    # uploads
    def add_upload(self, name: str, uploaded_by: str, now: datetime, *, size: int, lines: int,
                   sha256: str | None, status: UploadStatus, message: str = "") -> int:
        """Record an upload; return its id."""
        with self._engine.begin() as conn:
            result = conn.execute(insert(uploads_t).values(
                name=name[:255], sha256=sha256, size=size, lines=lines, uploaded_by=uploaded_by,
                uploaded_at=now, status=str(status), message=mask_card_numbers(message)[:2000])
                .returning(uploads_t.c.id))
            return int(result.scalar_one())

    def set_upload(self, upload_id: int, status: UploadStatus, message: str = "") -> None:
        """Record what became of an upload."""
        with self._engine.begin() as conn:
            conn.execute(update(uploads_t).where(uploads_t.c.id == upload_id).values(
                status=str(status), message=mask_card_numbers(message)[:2000]))
