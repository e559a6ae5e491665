"""Send queued replies: claim, render, post, record; each reply goes out at most once."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.domain.members import Member
from bot.domain.replies import OPT_OUT_TEMPLATE, Delivery, OutboxItem
from bot.errors import (
    AuthError,
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
    """Send up to ``batch`` due replies; every result is recorded, nothing is lost.

    Claiming commits before any network call, and each result commits on its own, so no
    transaction is held open across a request to X. A rate limit or an auth failure puts the
    rest of the batch back in the queue. ``me`` names this sender; ``gone`` tells whether another
    sender has died, so that what it claimed is sent now rather than after the lease.
    """
    report = SendReport()
    with uow() as tx:
        items = tx.outbox.claim(clock(), batch, LEASE, me, gone)
        tx.commit()
    if not items:
        return report
    with uow(readonly=True) as tx:
        members = tx.members.get_many(i.member_id for i in items)
    for position, item in enumerate(items):
        try:
            # Asked per reply, after the one before it was recorded: a batch may hold a thread.
            with uow(readonly=True) as tx:
                earlier = tx.outbox.earlier_in_thread(item.thread, item.id) if item.thread else []
            target = _target(item, earlier, clock)
            delivery = (target if isinstance(target, Delivery) else
                        _deliver(item, members.get(item.member_id), target, api, renderer, clock))
        except RateLimited as exc:
            _postpone(uow, items[position:], exc.reset_at, str(exc), clock)
            report.results["postponed"] += len(items) - position
            return report
        except AuthError as exc:
            _postpone(uow, items[position:], clock() + LEASE, str(exc), clock)
            raise
        _save(uow, item, delivery, clock)
        report.results[delivery.status if delivery.status != "pending" else "retrying"] += 1
    return report


def _target(item: OutboxItem, earlier: list[tuple[str, str | None]], clock: Clock) -> str | Delivery:
    """Return the post a reply goes under, or what to do instead.

    Replies of one thread form a chain under the member's post: each goes under the latest
    earlier reply of the thread that went out. Only when none did may it answer the member's
    post itself, so that post has one reply from the bot, as X's rules ask. It waits while an
    earlier reply is still on its way, and is dropped if the latest one went out under an id X
    did not give (called a duplicate): no safe place is left for it.
    """
    for status, post_id in earlier:  # latest first
        if status in ("pending", "sending"):
            return Delivery("pending", note="waiting for the reply before it in its thread",
                            retry_at=clock() + timedelta(minutes=1))
        if status == "sent":
            if post_id:
                return post_id
            return Delivery("cancelled", note="the reply before it went out but X gave no id for "
                                              "it; a second reply to the member's post is not allowed")
    return item.in_reply_to


def _deliver(item: OutboxItem, member: Member | None, thread: str, api: SocialApi,
             renderer: Renderer, clock: Clock) -> Delivery:
    """Try to send one reply and say what became of it."""
    # An opt-out's confirmation is the one message a member who is no longer linked may get.
    if (member is None or not member.linked) and item.template != OPT_OUT_TEMPLATE:
        return Delivery("cancelled", note="member is no longer linked")
    try:
        text = renderer.render(item.template, item.context)
    except ReplyTooLong as exc:
        logger.error("reply %s not sent: %s", item.dedupe_key, exc)
        return Delivery("failed", note=str(exc))
    try:
        return Delivery("sent", post_id=api.reply(text, thread))
    except DuplicateContent as exc:
        # X has this exact text already: an earlier attempt got through before a crash.
        return Delivery("sent", note=str(exc))
    except TransientApiError as exc:
        if item.attempts >= MAX_ATTEMPTS:
            logger.error("reply %s failed %d times, giving up: %s", item.dedupe_key, item.attempts, exc)
            return Delivery("failed", note=str(exc))
        return Delivery("pending", note=str(exc), retry_at=clock() + retry_delay(item.attempts))
    except (RateLimited, AuthError):
        raise
    except PermanentApiError as exc:
        logger.error("reply %s refused by X: %s", item.dedupe_key, exc)
        return Delivery("failed", note=str(exc))


def _save(uow: UnitOfWorkFactory, item: OutboxItem, delivery: Delivery, clock: Clock) -> None:
    with uow() as tx:
        tx.outbox.record(item.id, delivery, clock())
        tx.commit()


def _postpone(uow: UnitOfWorkFactory, items: Sequence[OutboxItem], until: datetime, why: str,
              clock: Clock) -> None:
    with uow() as tx:
        for item in items:
            tx.outbox.record(item.id, Delivery("pending", note=why, retry_at=until), clock())
        tx.commit()
