"""Repositories and the unit of work: domain objects in, domain objects out, SQL in between."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.adapters.database import READONLY
from bot.adapters.tables import (
    CampaignRow,
    CursorRow,
    EnrolmentRow,
    MemberRow,
    OutboxRow,
    PostRow,
)
from bot.domain.campaigns import Campaign
from bot.domain.cards import CardRef
from bot.domain.enrolment import Enrolment
from bot.domain.members import Member
from bot.domain.money import to_cents
from bot.domain.replies import Delivery, OutboxItem, ReplyIntent
from bot.ports import UnitOfWorkFactory

members_t: Table = MemberRow.__table__  # type: ignore[attr-defined]
campaigns_t: Table = CampaignRow.__table__  # type: ignore[attr-defined]
enrolments_t: Table = EnrolmentRow.__table__  # type: ignore[attr-defined]
posts_t: Table = PostRow.__table__  # type: ignore[attr-defined]
outbox_t: Table = OutboxRow.__table__  # type: ignore[attr-defined]
cursors_t: Table = CursorRow.__table__  # type: ignore[attr-defined]
_CHUNK = 500  # ids per IN (...) list, well under every driver's parameter limit


def _insert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """Return the dialect's INSERT, which knows ON CONFLICT."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


class MemberRepository:
    """Linked X accounts."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, user_id: str) -> Member | None:
        """Return the member with ``user_id``, linked or not."""
        return self.get_many([user_id]).get(user_id)

    def get_many(self, user_ids: Iterable[str]) -> dict[str, Member]:
        """Return the known members among ``user_ids``."""
        found: dict[str, Member] = {}
        for chunk in _chunks(list(dict.fromkeys(user_ids))):
            rows = self._conn.execute(select(members_t).where(members_t.c.user_id.in_(chunk)))
            for row in rows:
                card = CardRef(row.card_fingerprint, row.card_last4) if row.card_fingerprint else None
                found[row.user_id] = Member(row.user_id, row.handle, card, row.linked_at)
        return found

    def card_owners(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """Return the user id each of ``fingerprints`` is linked to, where it is linked."""
        found: dict[str, str] = {}
        for chunk in _chunks(fingerprints):
            rows = self._conn.execute(select(members_t.c.card_fingerprint, members_t.c.user_id)
                                      .where(members_t.c.card_fingerprint.in_(chunk)))
            found.update({row.card_fingerprint: row.user_id for row in rows})
        return found

    def link_many(self, links: Sequence[tuple[str, str, CardRef]], now: datetime) -> None:
        """Link each (user id, handle, card), replacing a member's earlier card.

        Callers check ``card_owners`` first; a card linked to someone else still fails here,
        on the unique fingerprint, rather than being moved silently.
        """
        if not links:
            return
        rows = [{"user_id": uid, "handle": handle, "card_fingerprint": card.fingerprint,
                 "card_last4": card.last4, "linked_at": now, "unlinked_at": None}
                for uid, handle, card in links]
        stmt = _insert(self._conn, members_t)
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "user_id"}), rows)

    def unlink(self, user_id: str, now: datetime) -> bool:
        """Forget the card of ``user_id``; return False when it had none."""
        result = self._conn.execute(
            update(members_t)
            .where(members_t.c.user_id == user_id, members_t.c.card_fingerprint.is_not(None))
            .values(card_fingerprint=None, card_last4=None, unlinked_at=now))
        return result.rowcount == 1

    def linked_count(self) -> int:
        """Return how many members have a card linked."""
        return self._conn.execute(
            select(func.count()).where(members_t.c.card_fingerprint.is_not(None))).scalar_one()


class CampaignRepository:
    """Campaign counters: enrolments reserved, budget spent."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def sync(self, campaigns: Iterable[Campaign], now: datetime) -> None:
        """Create or update the row of each campaign, keeping its counters."""
        rows = [{"id": c.id, "hashtag": c.hashtag, "merchant": c.merchant,
                 "max_enrolments": c.max_enrolments,
                 "budget_cents": None if c.budget is None else to_cents(c.budget),
                 "updated_at": now} for c in campaigns]
        if not rows:
            return
        stmt = _insert(self._conn, campaigns_t)
        keep = ("hashtag", "merchant", "max_enrolments", "budget_cents", "updated_at")
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["id"], set_={k: stmt.excluded[k] for k in keep}), rows)

    def enrolment_counts(self, *, limited_only: bool = False) -> dict[str, int]:
        """Return enrolments so far per campaign id (only limited-quantity ones if asked)."""
        query = select(campaigns_t.c.id, campaigns_t.c.enrolled)
        if limited_only:
            query = query.where(campaigns_t.c.max_enrolments.is_not(None))
        return {row.id: row.enrolled for row in self._conn.execute(query)}

    def reserve(self, campaign_id: str) -> bool:
        """Take one place of a campaign's limited quantity; False when none is left.

        One conditional UPDATE, never read-then-write, so concurrent pollers cannot oversell.
        """
        return self._conn.execute(_RESERVE, {"campaign_id": campaign_id}).rowcount == 1

    def add_enrolled(self, counts: Mapping[str, int]) -> None:
        """Count enrolments in campaigns without a limited quantity (nothing to reserve)."""
        if counts:
            self._conn.execute(_ADD_ENROLLED, [{"campaign_id": c, "n": n} for c, n in counts.items()])


# Built once: constructing a SQL expression costs more than running it on SQLite.
_RESERVE = (update(campaigns_t)
            .where(campaigns_t.c.id == bindparam("campaign_id"),
                   or_(campaigns_t.c.max_enrolments.is_(None),
                       campaigns_t.c.enrolled < campaigns_t.c.max_enrolments))
            .values(enrolled=campaigns_t.c.enrolled + 1))
_ADD_ENROLLED = (update(campaigns_t).where(campaigns_t.c.id == bindparam("campaign_id"))
                 .values(enrolled=campaigns_t.c.enrolled + bindparam("n")))


class EnrolmentRepository:
    """Who is enrolled in what."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def campaigns_of(self, member_ids: Iterable[str]) -> dict[str, set[str]]:
        """Return the campaign ids each of ``member_ids`` is enrolled in."""
        found: dict[str, set[str]] = defaultdict(set)
        for chunk in _chunks(list(dict.fromkeys(member_ids))):
            rows = self._conn.execute(
                select(enrolments_t.c.member_id, enrolments_t.c.campaign_id)
                .where(enrolments_t.c.member_id.in_(chunk)))
            for row in rows:
                found[row.member_id].add(row.campaign_id)
        return found

    def add_many(self, enrolments: Sequence[Enrolment]) -> None:
        """Record new enrolments."""
        if enrolments:
            self._conn.execute(_insert(self._conn, enrolments_t), [
                {"member_id": e.member_id, "campaign_id": e.campaign_id, "post_id": e.post_id,
                 "enrolled_at": e.enrolled_at} for e in enrolments])

    def get(self, member_id: str, campaign_id: str) -> Enrolment | None:
        """Return the enrolment of ``member_id`` in ``campaign_id``, if any."""
        row = self._conn.execute(select(enrolments_t).where(
            enrolments_t.c.member_id == member_id, enrolments_t.c.campaign_id == campaign_id)).first()
        return None if row is None else Enrolment(
            row.member_id, row.campaign_id, row.post_id, row.enrolled_at)


class PostRepository:
    """Mentions already handled: the guard that makes polling idempotent."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def seen(self, post_ids: Sequence[str]) -> set[str]:
        """Return which of ``post_ids`` were handled before."""
        found: set[str] = set()
        for chunk in _chunks(post_ids):
            found.update(self._conn.execute(
                select(posts_t.c.post_id).where(posts_t.c.post_id.in_(chunk))).scalars())
        return found

    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record handled posts (post_id, author_id, created_at, processed_at, outcome)."""
        if rows:
            self._conn.execute(_insert(self._conn, posts_t), list(rows))


class OutboxRepository:
    """Replies waiting to be sent, each at most once."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_many(self, intents: Sequence[ReplyIntent], now: datetime) -> None:
        """Queue replies; one already queued under the same key is left as it is."""
        if not intents:
            return
        rows = [{"dedupe_key": i.dedupe_key, "member_id": i.member_id, "in_reply_to": i.in_reply_to,
                 "template": i.template, "context": json.dumps(i.context, separators=(",", ":")),
                 "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
                for i in intents]
        self._conn.execute(
            _insert(self._conn, outbox_t).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows)

    def claim(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxItem]:
        """Mark up to ``limit`` due replies as sending and return them.

        A row left 'sending' longer than ``lease`` belonged to a sender that died; it is due again
        (X's duplicate-content check stops a second copy if the first one did go out).
        """
        due = or_(and_(outbox_t.c.status == "pending", outbox_t.c.next_attempt_at <= now),
                  and_(outbox_t.c.status == "sending", outbox_t.c.claimed_at < now - lease))
        rows = self._conn.execute(
            select(outbox_t).where(due).order_by(outbox_t.c.id).limit(limit)
            .with_for_update(skip_locked=True)).all()
        if not rows:
            return []
        self._conn.execute(
            update(outbox_t).where(outbox_t.c.id.in_([r.id for r in rows]))
            .values(status="sending", claimed_at=now, attempts=outbox_t.c.attempts + 1))
        return [OutboxItem(r.id, r.dedupe_key, r.member_id, r.in_reply_to, r.template,
                           json.loads(r.context), r.attempts + 1) for r in rows]

    def record(self, item_id: int, delivery: Delivery, now: datetime) -> None:
        """Store the result of sending a claimed reply."""
        values: dict[str, Any] = {"status": delivery.status, "last_error": (delivery.note or None)
                                  and delivery.note[:500]}
        if delivery.status == "sent":
            values.update(sent_post_id=delivery.post_id, sent_at=now)
        elif delivery.status == "pending":
            values.update(next_attempt_at=delivery.retry_at or now, claimed_at=None)
        self._conn.execute(update(outbox_t).where(outbox_t.c.id == item_id).values(**values))

    def cancel_for_member(self, member_id: str, reason: str) -> int:
        """Cancel every unsent reply to ``member_id``; return how many."""
        result = self._conn.execute(
            update(outbox_t)
            .where(outbox_t.c.member_id == member_id, outbox_t.c.status == "pending")
            .values(status="cancelled", last_error=reason))
        return result.rowcount

    def sent_post_id(self, dedupe_key: str) -> str | None:
        """Return the id of the post sent for ``dedupe_key``, if it was sent and X gave one."""
        return self._conn.execute(select(outbox_t.c.sent_post_id).where(
            outbox_t.c.dedupe_key == dedupe_key, outbox_t.c.status == "sent")).scalar()

    def counts(self) -> dict[str, int]:
        """Return the number of replies in each status."""
        rows = self._conn.execute(select(outbox_t.c.status, func.count()).group_by(outbox_t.c.status))
        return {status: count for status, count in rows}


class CursorRepository:
    """Named positions, such as the mentions timeline's since_id."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, name: str) -> str | None:
        """Return the cursor ``name``, or None before the first poll."""
        return self._conn.execute(select(cursors_t.c.value).where(cursors_t.c.name == name)).scalar()

    def set(self, name: str, value: str, now: datetime) -> None:
        """Move cursor ``name`` to ``value``."""
        stmt = _insert(self._conn, cursors_t).values(name=name, value=value, updated_at=now)
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "updated_at": now}))


class SqlUnitOfWork:
    """One database transaction: rolled back on leaving unless ``commit()`` was called."""

    members: MemberRepository
    campaigns: CampaignRepository
    enrolments: EnrolmentRepository
    posts: PostRepository
    outbox: OutboxRepository
    cursors: CursorRepository

    def __init__(self, engine: Engine, *, readonly: bool = False) -> None:
        self._engine = engine
        self._readonly = readonly

    def __enter__(self) -> Self:
        conn = self._engine.connect()
        if self._readonly:
            conn = conn.execution_options(**{READONLY: True})
        self._conn = conn
        self._tx = conn.begin()
        self.members = MemberRepository(conn)
        self.campaigns = CampaignRepository(conn)
        self.enrolments = EnrolmentRepository(conn)
        self.posts = PostRepository(conn)
        self.outbox = OutboxRepository(conn)
        self.cursors = CursorRepository(conn)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self._conn.close()

    def commit(self) -> None:
        """Make the transaction's writes permanent."""
        self._tx.commit()


def unit_of_work_factory(engine: Engine) -> UnitOfWorkFactory:
    """Return a callable that opens a new unit of work (``readonly=True`` for reads)."""

    def start(*, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, readonly=readonly)

    return start
