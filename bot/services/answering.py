"""One poll job: read the mentions, then send at once the replies that poll queued.

A member's reply no longer waits for the next reply tick: it goes out right after the poll that
queued it commits, through the same outbox claims as every send (so each still goes out at most
once, whichever sender claims it). The reply tick stays, for retries and what one run leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.ports import Renderer, SocialApi, UnitOfWorkFactory
from bot.services.campaigns import Catalog
from bot.services.intake import PollReport, poll_mentions
from bot.services.replies import SendReport, send_replies


@dataclass(frozen=True)
class AnswerReport:
    """What one poll job did: the poll, and the sending run it made (None when nothing was queued)."""

    poll: PollReport
    sent: SendReport | None


def poll_and_answer(uow: UnitOfWorkFactory, api: SocialApi, catalog: Catalog, renderer: Renderer,
                    clock: Clock, *, bot_user_id: str, batch: int = 20, me: str = "this-instance",
                    gone: Callable[[str], bool] = lambda _sender: False) -> AnswerReport:
    """Poll mentions, then send up to ``batch`` due replies when the poll queued any.

    The poll's transactions have committed before the first claim, so the sender sees every
    reply it queued; a send that fails is left to the reply tick's retries (its backoff, or a
    rate limit's reset), exactly as when the tick sent it.
    """
    report = poll_mentions(uow, api, catalog, clock, bot_user_id=bot_user_id)
    if not report.replies_queued:
        return AnswerReport(report, None)
    return AnswerReport(report, send_replies(uow, api, renderer, clock, batch=batch, me=me, gone=gone))
