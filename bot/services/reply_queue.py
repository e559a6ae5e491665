"""The outbox as ops see it: list messages that did not go out, with why, and retry one."""

from __future__ import annotations

from collections.abc import Sequence

from bot.clock import Clock
from bot.domain.replies import OPT_OUT_TEMPLATE, OutboxRecord, ReplyStatus
from bot.errors import NotRetryable
from bot.ports import UnitOfWorkFactory
from bot.services.replies import MAX_ATTEMPTS

STATUSES = (ReplyStatus.FAILED, ReplyStatus.UNDELIVERABLE, ReplyStatus.PENDING, ReplyStatus.SENDING,
            ReplyStatus.SENT, ReplyStatus.CANCELLED)
NEEDS_ATTENTION = (ReplyStatus.FAILED, ReplyStatus.UNDELIVERABLE)  # what `offerbot replies` lists by default
RETRYABLE = NEEDS_ATTENTION


def list_replies(uow: UnitOfWorkFactory, *, statuses: Sequence[str] = NEEDS_ATTENTION,
                 limit: int = 50) -> list[OutboxRecord]:
    """Return up to ``limit`` replies and DMs in ``statuses``, the latest first."""
    with uow(readonly=True) as tx:
        return tx.outbox.listing(statuses, limit)


def retry_reply(uow: UnitOfWorkFactory, clock: Clock, reply_id: int) -> OutboxRecord:
    """Queue failed or undeliverable message ``reply_id`` for exactly one more attempt.

    The exactly-once rules are those of any send: an answer of X's that it has the text already
    counts as sent, and a DM is looked up before it goes again. A message to a member no longer
    linked is refused (but for an opt-out's confirmation, the one message such a member gets).
    """
    with uow() as tx:
        record = tx.outbox.get(reply_id)
        if record is None:
            raise NotRetryable(f"there is no reply {reply_id}; `offerbot replies` lists them")
        if record.status not in RETRYABLE:
            raise NotRetryable(f"reply {reply_id} is {record.status}, not failed or undeliverable: only "
                               "those can be retried")
        member = tx.members.get(record.member_id)
        if (member is None or not member.linked) and record.template != OPT_OUT_TEMPLATE:
            raise NotRetryable(f"reply {reply_id} is for member {record.member_id}, who is no longer "
                               "linked (unlinked, or sent STOP): the bot sends nothing to unlinked members")
        # attempts one short of the limit: whatever X answers, this is the one more attempt.
        note = f"retry requested (was {record.status}: {record.reason or 'no reason recorded'})"
        if not tx.outbox.requeue(reply_id, clock(), attempts=max(record.attempts, MAX_ATTEMPTS - 1),
                                 note=note):
            raise NotRetryable(f"reply {reply_id} changed meanwhile; run `offerbot replies` again")
        tx.commit()
    return record
