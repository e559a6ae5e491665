"""Database tables (SQLModel). Only the repository module reads or writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no zone, so it is added on read)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use bot.clock.utc_now()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class MemberRow(SQLModel, table=True):
    """An X account and, while linked, its card's keyed fingerprint and last four digits."""

    __tablename__ = "members"
    user_id: str = Field(primary_key=True, max_length=20)
    handle: str = Field(max_length=15)
    card_fingerprint: str | None = Field(default=None, max_length=64, unique=True)
    card_last4: str | None = Field(default=None, max_length=4)
    linked_at: datetime | None = _when(nullable=True)
    unlinked_at: datetime | None = _when(nullable=True)


class CampaignRow(SQLModel, table=True):
    """A campaign's counters; its rules live in offers/*.toml."""

    __tablename__ = "campaigns"
    id: str = Field(primary_key=True, max_length=64)
    hashtag: str = Field(max_length=101)
    merchant: str = Field(max_length=60)
    max_enrolments: int | None = None
    enrolled: int = 0
    budget_cents: int | None = None
    spent_cents: int = 0
    updated_at: datetime = _when()


class EnrolmentRow(SQLModel, table=True):
    """One member enrolled in one campaign, by one post."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("member_id", "campaign_id"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(max_length=20)
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64, index=True)
    post_id: str = Field(max_length=20)
    enrolled_at: datetime = _when()


class PostRow(SQLModel, table=True):
    """A mention the bot has handled; its id is the once-only guard."""

    __tablename__ = "posts"
    post_id: str = Field(primary_key=True, max_length=20)
    author_id: str = Field(max_length=20)
    created_at: datetime | None = _when(nullable=True)
    processed_at: datetime = _when()
    outcome: str = Field(max_length=500)


class OutboxRow(SQLModel, table=True):
    """A reply to send once, written in the transaction that decided it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=100, unique=True)
    member_id: str = Field(max_length=20, index=True)
    in_reply_to: str = Field(max_length=20)
    template: str = Field(max_length=100)
    context: str
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    next_attempt_at: datetime = _when()
    claimed_at: datetime | None = _when(nullable=True)
    sent_post_id: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)


class CursorRow(SQLModel, table=True):
    """Where a poller got to (the since_id of the mentions timeline)."""

    __tablename__ = "cursors"
    name: str = Field(primary_key=True, max_length=50)
    value: str = Field(max_length=50)
    updated_at: datetime = _when()
