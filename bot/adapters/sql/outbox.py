"""The outbox: replies and direct messages waiting to be sent, each at most once. The only
writer of the outbox table."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from bot.adapters.sql.bulk_insert import BulkInsert
from bot.adapters.sql.tables import outbox_t
from bot.adapters.sql.toolkit import native
from bot.adapters.x_ids import remember_x_ids
from bot.domain.replies import DM, Delivery, OutboxItem, OutboxRecord, ReplyIntent, ReplyStatus, ThreadReply

PENDING, SENDING, SENT = ReplyStatus.PENDING.value, ReplyStatus.SENDING.value, ReplyStatus.SENT.value


class OutboxRepository:
    """Replies and direct messages waiting to be sent, each at most once."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # Built once: constructing a SQL expression costs more than running it on SQLite.
    _ADD = BulkInsert(outbox_t, ("dedupe_key", "member_id", "in_reply_to", "template", "context", "status",
                                 "attempts", "next_attempt_at", "created_at", "thread", "channel"),
                      ignore_conflicts=["dedupe_key"])

    def add_many(self, intents: Sequence[ReplyIntent], now: datetime) -> None:
        """Queue replies; one already queued under the same key is left as it is."""
        if not intents:
            return
        when = native(self._conn)(now)
        self._ADD.run(self._conn, [
            (i.dedupe_key, i.member_id, i.in_reply_to, i.template,
             json.dumps(i.context, separators=(",", ":")), PENDING, 0, when, when, i.thread, i.channel)
            for i in intents])

    def claim(self, now: datetime, limit: int, lease: timedelta, me: str,
              gone: Callable[[str], bool]) -> list[OutboxItem]:
        """Mark up to ``limit`` due replies as being sent by ``me`` and return them.

        A row left 'sending' belonged to a sender that died: it is due again once its lease has
        run out, or at once when ``gone`` says its sender no longer runs. X's duplicate-content
        check stops a second copy if the first one did go out.
        """
        senders = self._conn.execute(select(outbox_t.c.claimed_by).distinct()
                                     .where(outbox_t.c.status == SENDING)).scalars().all()
        dead = [s for s in senders if s and s != me and gone(s)]
        due = or_(and_(outbox_t.c.status == PENDING, outbox_t.c.next_attempt_at <= now),
                  and_(outbox_t.c.status == SENDING,
                       or_(outbox_t.c.claimed_at < now - lease, outbox_t.c.claimed_by.in_(dead))))
        rows = self._conn.execute(
            select(outbox_t).where(due).order_by(outbox_t.c.id).limit(limit)
            .with_for_update(skip_locked=True)).all()
        if not rows:
            return []
        self._conn.execute(
            update(outbox_t).where(outbox_t.c.id.in_([r.id for r in rows]))
            .values(status=SENDING, claimed_at=now, claimed_by=me, attempts=outbox_t.c.attempts + 1))
        remember_x_ids(*(r.member_id for r in rows), *(r.in_reply_to for r in rows))
        return [OutboxItem(r.id, r.dedupe_key, r.member_id, r.in_reply_to, r.template,
                           json.loads(r.context), r.attempts + 1, r.thread, r.channel) for r in rows]

    def record(self, item_id: int, delivery: Delivery, now: datetime) -> None:
        """Store the result of sending a claimed reply."""
        values: dict[str, Any] = {"status": str(delivery.status), "last_error": (delivery.note or None)
                                  and delivery.note[:500]}
        if delivery.status == ReplyStatus.SENT:
            values.update(sent_post_id=delivery.post_id, sent_at=now)
        elif delivery.status == ReplyStatus.PENDING:
            values.update(next_attempt_at=delivery.retry_at or now, claimed_at=None, claimed_by=None)
        self._conn.execute(update(outbox_t).where(outbox_t.c.id == item_id).values(**values))

    def cancel_for_member(self, member_id: str, reason: str) -> int:
        """Cancel every unsent reply to ``member_id``; return how many."""
        result = self._conn.execute(
            update(outbox_t)
            .where(outbox_t.c.member_id == member_id, outbox_t.c.status == PENDING)
            .values(status=ReplyStatus.CANCELLED.value, last_error=reason))
        return result.rowcount

    def earlier_in_thread(self, thread: str, item_id: int) -> list[ThreadReply]:
        """Return the replies queued in ``thread`` before ``item_id``, latest first."""
        rows = self._conn.execute(
            select(outbox_t.c.status, outbox_t.c.sent_post_id)
            .where(outbox_t.c.thread == thread, outbox_t.c.id < item_id).order_by(outbox_t.c.id.desc()))
        return [ThreadReply(ReplyStatus(status), post_id) for status, post_id in rows]

    def earlier_dm_unsent(self, member_id: str, item_id: int) -> bool:
        """Return True while a DM queued for ``member_id`` before ``item_id`` is still on its way."""
        c = outbox_t.c
        found = self._conn.execute(
            select(c.id).where(c.member_id == member_id, c.channel == DM, c.id < item_id,
                               c.status.in_((PENDING, SENDING))).limit(1)).first()
        return found is not None

    def listing(self, statuses: Sequence[str], limit: int) -> list[OutboxRecord]:
        """Return up to ``limit`` messages in ``statuses``, the latest first."""
        rows = self._conn.execute(select(outbox_t).where(outbox_t.c.status.in_([str(s) for s in statuses]))
                                  .order_by(outbox_t.c.id.desc()).limit(limit))
        return [_outbox_record(r) for r in rows]

    def get(self, item_id: int) -> OutboxRecord | None:
        """Return message ``item_id``, if there is one."""
        row = self._conn.execute(select(outbox_t).where(outbox_t.c.id == item_id)).first()
        return None if row is None else _outbox_record(row)

    def requeue(self, item_id: int, now: datetime, *, attempts: int, note: str) -> bool:
        """Make a failed or undeliverable message due again, having made ``attempts`` attempts;
        False when it is in neither status (any more)."""
        result = self._conn.execute(
            update(outbox_t).where(outbox_t.c.id == item_id,
                                   outbox_t.c.status.in_((ReplyStatus.FAILED.value,
                                                          ReplyStatus.UNDELIVERABLE.value)))
            .values(status=PENDING, next_attempt_at=now, claimed_at=None, claimed_by=None,
                    attempts=attempts, last_error=note[:500]))
        return result.rowcount == 1

    def counts(self) -> dict[str, int]:
        """Return the number of replies in each status."""
        rows = self._conn.execute(select(outbox_t.c.status, func.count()).group_by(outbox_t.c.status))
        return {status: count for status, count in rows}


def _outbox_record(r: Any) -> OutboxRecord:
    return OutboxRecord(r.id, r.dedupe_key, r.channel, r.member_id, r.template, ReplyStatus(r.status),
                        r.attempts, r.created_at, r.claimed_at, r.next_attempt_at, r.sent_at, r.last_error)
