"""Send queued replies and DMs: claim, render, post, record; each goes out at most once."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.domain.members import Member
from bot.domain.replies import DM, OPT_OUT_TEMPLATE, Delivery, OutboxItem, ReplyStatus, ThreadReply
from bot.errors import (
    AuthError,
    DmNotAllowed,
    DuplicateContent,
    PermanentApiError,
    RateLimited,
    ReplyTooLong,
    TransientApiError,
)
from bot.ports import Renderer, SocialApi, UnitOfWorkFactory

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8


@dataclass
class SendReport:
    """What one sending run did."""

    results: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        """Return a one-line summary for the log."""
        return ", ".join(f"{k} {v}" for k, v in sorted(self.results.items())) or "nothing due"


def retry_delay(attempts: int) -> timedelta:
    """Return how long to wait after ``attempts`` failures: 30 s, doubling, at most an hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def send_replies(uow: UnitOfWorkFactory, api: SocialApi, renderer: Renderer, clock: Clock,
                 *, batch: int = 20, me: str = "this-instance",
                 gone: Callable[[str], bool] = lambda _sender: False) -> SendReport:
    """Send up to ``batch`` due replies and DMs; every result is recorded, nothing is lost.

    Claiming commits before any network call, and each result commits on its own, so no
    transaction is held open across a request to X. A rate limit puts the rest of the batch on
    that channel (replies or DMs: X limits each endpoint on its own) back in the queue until
    X's reset; an auth failure puts back the whole rest. ``me`` names this sender; ``gone``
    tells whether another sender has died, so that what it claimed is sent now rather than
    after the lease.
    """
    report = SendReport()
    with uow() as tx:
        items = tx.outbox.claim(clock(), batch, LEASE, me, gone)
        tx.commit()
    if not items:
        return report
    with uow(readonly=True) as tx:
        members = tx.members.get_many(i.member_id for i in items)
    limited: dict[str, RateLimited] = {}  # channel -> the 429 that holds it for this batch
    for position, item in enumerate(items):
        try:
            if item.channel in limited:
                raise limited[item.channel]
            delivery = _attempt(uow, item, members.get(item.member_id), api, renderer, clock)
        except RateLimited as exc:
            limited[item.channel] = exc
            _postpone(uow, [item], exc.reset_at, str(exc), clock)
            report.results["postponed"] += 1
            continue
        except AuthError as exc:
            _postpone(uow, items[position:], clock() + LEASE, str(exc), clock)
            raise
        _save(uow, item, delivery, clock)
        report.results[delivery.status if delivery.status != ReplyStatus.PENDING else "retrying"] += 1
    return report


def _attempt(uow: UnitOfWorkFactory, item: OutboxItem, member: Member | None, api: SocialApi,
             renderer: Renderer, clock: Clock) -> Delivery:
    """Send one message on its channel: a DM to the member, or a reply in its thread."""
    if item.channel == DM:
        # In the order queued: a member reads of a credit before its reversal.
        with uow(readonly=True) as tx:
            if tx.outbox.earlier_dm_unsent(item.member_id, item.id):
                return Delivery(ReplyStatus.PENDING, note="waiting for the DM before it to this member",
                                retry_at=clock() + timedelta(minutes=1))
        return _deliver(item, member, lambda text: _direct_message(api, item, text), renderer, clock)
    # Asked per reply, after the one before it was recorded: a batch may hold a thread.
    with uow(readonly=True) as tx:
        earlier = tx.outbox.earlier_in_thread(item.thread, item.id) if item.thread else []
    target = _target(item, earlier, clock)
    if isinstance(target, Delivery):
        return target
    return _deliver(item, member, lambda text: api.reply(text, target), renderer, clock)


def _direct_message(api: SocialApi, item: OutboxItem, text: str) -> str:
    """Send a DM, unless an earlier attempt whose outcome is unknown (a timeout, a crash) got it
    out already: X has no duplicate check on DMs to rely on, so the sender looks first."""
    if item.attempts > 1:
        found = api.find_direct_message(item.member_id, text)
        if found is not None:
            logger.info("DM %s had gone out already (DM event %s)", item.dedupe_key, found)
            return found
    return api.direct_message(item.member_id, text)


def _target(item: OutboxItem, earlier: list[ThreadReply], clock: Clock) -> str | Delivery:
    """Return the post a reply goes under, or what to do instead.

    Replies of one thread form a chain under the member's post: each goes under the latest
    earlier reply of the thread that went out. Only when none did may it answer the member's
    post itself, so that post has one reply from the bot, as X's rules ask. It waits while an
    earlier reply is still on its way, and is dropped if the latest one went out under an id X
    did not give (called a duplicate): no safe place is left for it.
    """
    for status, post_id in earlier:  # latest first
        if status in (ReplyStatus.PENDING, ReplyStatus.SENDING):
            return Delivery(ReplyStatus.PENDING, note="waiting for the reply before it in its thread",
                            retry_at=clock() + timedelta(minutes=1))
        if status == ReplyStatus.SENT:
            if post_id:
                return post_id
            return Delivery(ReplyStatus.CANCELLED, note="the reply before it went out but X gave no id "
                            "for it; a second reply to the member's post is not allowed")
    return item.in_reply_to


def _deliver(item: OutboxItem, member: Member | None, send: Callable[[str], str],
             renderer: Renderer, clock: Clock) -> Delivery:
    """Try to send one message with ``send`` (text -> X's id) and say what became of it."""
    # An opt-out's confirmation is the one message a member who is no longer linked may get.
    if (member is None or not member.linked) and item.template != OPT_OUT_TEMPLATE:
        return Delivery(ReplyStatus.CANCELLED, note="member is no longer linked")
    try:
        text = renderer.render(item.template, item.context)
    except ReplyTooLong as exc:
        logger.error("reply %s not sent: %s", item.dedupe_key, exc)
        return Delivery(ReplyStatus.FAILED, note=str(exc))
    try:
        return Delivery(ReplyStatus.SENT, post_id=send(text))
    except DuplicateContent as exc:
        # X has this exact text already: an earlier attempt got through before a crash.
        return Delivery(ReplyStatus.SENT, note=str(exc))
    except DmNotAllowed as exc:
        # Final: the member does not take DMs from the bot. Never a public post instead, which
        # would tell everyone about their purchases; `offerbot replies retry` may try again.
        logger.warning("DM %s undeliverable: %s", item.dedupe_key, exc)
        return Delivery(ReplyStatus.UNDELIVERABLE, note=str(exc))
    except TransientApiError as exc:
        if item.attempts >= MAX_ATTEMPTS:
            logger.error("reply %s failed %d times, giving up: %s", item.dedupe_key, item.attempts, exc)
            return Delivery(ReplyStatus.FAILED, note=str(exc))
        return Delivery(ReplyStatus.PENDING, note=str(exc), retry_at=clock() + retry_delay(item.attempts))
    except (RateLimited, AuthError):
        raise
    except PermanentApiError as exc:
        logger.error("reply %s refused by X: %s", item.dedupe_key, exc)
        return Delivery(ReplyStatus.FAILED, note=str(exc))


def _save(uow: UnitOfWorkFactory, item: OutboxItem, delivery: Delivery, clock: Clock) -> None:
    with uow() as tx:
        tx.outbox.record(item.id, delivery, clock())
        tx.commit()


def _postpone(uow: UnitOfWorkFactory, items: Sequence[OutboxItem], until: datetime, why: str,
              clock: Clock) -> None:
    with uow() as tx:
        for item in items:
            tx.outbox.record(item.id, Delivery(ReplyStatus.PENDING, note=why, retry_at=until), clock())
        tx.commit()
