"""The portal's tables (SQLModel): users, sessions, the audit log, campaign requests, uploads.

Only bot.adapters.portal_repository and bot.adapters.read_models read or write them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Integer
from sqlmodel import Field, SQLModel

from bot.adapters.tables import _when


class WebUserRow(SQLModel, table=True):
    """A person who signs in to the portal: ops, or one merchant's staff."""

    __tablename__ = "web_users"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    role: str = Field(max_length=10)  # ops | merchant
    merchant: str | None = Field(default=None, max_length=60)  # a campaign's merchant, exactly
    password_hash: str = Field(max_length=200)  # Argon2id, with its own salt and parameters
    disabled: bool = False
    failed_sign_ins: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    locked_until: datetime | None = _when(nullable=True)
    created_at: datetime = _when()
    password_changed_at: datetime = _when()


class WebSessionRow(SQLModel, table=True):
    """A signed-in session. Only a SHA-256 of the cookie's random id is kept."""

    __tablename__ = "web_sessions"
    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="web_users.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _when()
    last_seen_at: datetime = _when()


class AuditRow(SQLModel, table=True):
    """One event of the append-only audit log (never a password, a session id or a card number)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when()
    actor: str | None = Field(default=None, max_length=254)  # the email given or signed in
    event: str = Field(max_length=40)
    detail: str = Field(default="", max_length=500)
    address: str | None = Field(default=None, max_length=64)  # the client's IP address


class SubmissionRow(SQLModel, table=True):
    """A campaign file a merchant submitted, waiting for ops (a request) or decided."""

    __tablename__ = "campaign_submissions"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    merchant: str = Field(max_length=60, index=True)
    submitted_by: str = Field(max_length=254)
    text: str  # the TOML as submitted (checked: no card number in it)
    status: str = Field(max_length=10)  # pending | approved | rejected
    note: str | None = Field(default=None, max_length=500)
    submitted_at: datetime = _when()
    decided_by: str | None = Field(default=None, max_length=254)
    decided_at: datetime | None = _when(nullable=True)


class UploadRow(SQLModel, table=True):
    """A transaction file uploaded in the portal, and what became of it."""

    __tablename__ = "web_uploads"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255)
    sha256: str | None = Field(default=None, max_length=64, index=True)
    size: int = 0
    lines: int = 0
    uploaded_by: str = Field(max_length=254)
    uploaded_at: datetime = _when()
    status: str = Field(max_length=20)  # refused | already reconciled | queued | waiting | done | failed
    message: str = Field(default="", max_length=2000)
