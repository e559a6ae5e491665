"""Poll mentions: each post becomes enrolments and at most one queued reply, exactly once; an
edit of a post is the same interaction, answered at most once more."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.clock import Clock
from bot.domain.cards import mask_card_numbers
from bot.domain.enrolment import Enrolment, EnrolmentOutcome, decide, summarise
from bot.domain.members import LinkEnd
from bot.domain.mentions import Command, HandledPost, Mention, MentionPage
from bot.domain.replies import ReplyIntent, enrolment_reply, opt_out_reply
from bot.ports import SocialApi, UnitOfWork, UnitOfWorkFactory
from bot.services.campaigns import Catalog

logger = logging.getLogger(__name__)
CURSOR = "mentions"
POLLED = "mentions-polled"
BATCH_POSTS = 1000  # posts per transaction: a few short write locks rather than one per page


@dataclass
class PollReport:
    """What one poll did."""

    pages: int = 0
    posts: int = 0
    handled: int = 0
    already_handled: int = 0
    ignored: int = 0  # retweets and the bot's own posts
    replies_queued: int = 0
    unlinked: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    cursor: str | None = None

    def describe(self) -> str:
        """Return a one-line summary for the log."""
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "none"
        return (f"{self.posts} posts in {self.pages} pages: {self.handled} new, "
                f"{self.already_handled} seen before, {self.ignored} ignored; outcomes: {outcomes}; "
                f"{self.replies_queued} replies queued; cursor {self.cursor}")


def poll_mentions(uow: UnitOfWorkFactory, api: SocialApi, catalog: Catalog, clock: Clock,
                  *, bot_user_id: str, batch_posts: int = BATCH_POSTS) -> PollReport:
    """Fetch mentions since the cursor and handle them, oldest page first.

    Consecutive pages are handled in transactions of about ``batch_posts`` posts, each
    committing the cursor at its newest post: a crash loses nothing (unhandled pages are
    fetched again) and repeats nothing (handled post ids are kept). Oldest first also makes
    limited quantity first come, first served.
    """
    with uow(readonly=True) as tx:
        since_id = tx.cursors.get(CURSOR)
    pages = api.mentions_since(since_id)  # network I/O stays outside every transaction
    report = PollReport(pages=len(pages), cursor=since_id)
    for batch in _batches(reversed(pages), batch_posts):
        with uow() as tx:
            _handle_posts(tx, [m for page in batch for m in page.mentions], catalog, clock(),
                          bot_user_id, report)
            newest = max((p.newest_id for p in batch if p.newest_id), key=int, default=None)
            if newest and _newer(newest, report.cursor):
                tx.cursors.set(CURSOR, newest, clock())
                report.cursor = newest
            tx.commit()
    with uow() as tx:  # the heartbeat `offerbot health` reads, written even when nothing came
        tx.cursors.set(POLLED, clock().isoformat(), clock())
        tx.commit()
    return report


def _batches(pages: Iterable[MentionPage], size: int) -> Iterator[list[MentionPage]]:
    """Group consecutive pages into lists of about ``size`` posts (whole pages only)."""
    batch: list[MentionPage] = []
    posts = 0
    for page in pages:
        batch.append(page)
        posts += len(page.mentions)
        if posts >= size:
            yield batch
            batch, posts = [], 0
    if batch:
        yield batch


def _newer(post_id: str, than: str | None) -> bool:
    return than is None or int(post_id) > int(than)


def _handle_posts(tx: UnitOfWork, mentions: list[Mention], catalog: Catalog, now: datetime,
                  bot_user_id: str, report: PollReport) -> None:
    report.posts += len(mentions)
    unique = {m.post_id: m for m in mentions}
    relevant = [m for m in unique.values() if not m.is_retweet and m.author_id != bot_user_id]
    report.ignored += len(mentions) - len(relevant)
    # Every handled version of these posts' interactions (an original is its own interaction):
    # a post is handled once, and an older version served after a newer one is not handled at all.
    versions = tx.posts.versions([m.interaction for m in relevant])
    fresh = sorted((m for m in relevant if not _handled(m, versions)), key=lambda m: int(m.post_id))
    report.already_handled += len(relevant) - len(fresh)
    if not fresh:
        return
    members = tx.members.get_many(m.author_id for m in fresh)
    linked = {uid for uid, member in members.items() if member.linked}
    enrolled_in = tx.enrolments.campaigns_of(linked)
    counts = tx.campaigns.enrolment_counts(limited_only=True)
    spent = tx.campaigns.spent_cents()  # a spent budget closes enrolment

    enrolments: list[Enrolment] = []
    unlimited: Counter[str] = Counter()  # enrolments in campaigns with no quantity to reserve
    replies: list[ReplyIntent] = []
    posts: list[HandledPost] = []
    for mention in fresh:
        command = mention.command()
        outcome = command.value
        # Hashtags of the versions of this interaction handled before: this post is an edit of them.
        earlier = versions.get(mention.interaction)
        if command is Command.STOP:
            if mention.author_id in linked:
                # Replies decided earlier in this page are not queued yet; they must not go out
                # either. The one message left for them is the confirmation.
                replies = [r for r in replies if r.member_id != mention.author_id]
                replies.append(opt_out_reply(mention.post_id, mention.author_id, mention.interaction))
            outcome = _stop(tx, mention, linked, now, report)
        elif command is Command.ENROL:
            author_linked = mention.author_id in linked
            decisions = decide(mention, linked=author_linked, campaigns=catalog.by_key,
                               enrolled_in=enrolled_in[mention.author_id],
                               enrolment_counts=counts, spent_cents=spent, now=now)
            for index, decision in enumerate(decisions):
                if decision.outcome is EnrolmentOutcome.ENROLLED:
                    assert decision.campaign is not None
                    campaign_id = decision.campaign.id
                    if decision.campaign.max_enrolments is None:
                        unlimited[campaign_id] += 1
                    elif not tx.campaigns.reserve(campaign_id):
                        decisions[index] = decision.sold_out()
                        report.outcomes[EnrolmentOutcome.SOLD_OUT.value] += 1
                        continue
                    enrolments.append(Enrolment(mention.author_id, campaign_id,
                                                mention.post_id, mention.acted_at(now)))
                    enrolled_in[mention.author_id].add(campaign_id)
                    counts[campaign_id] = counts.get(campaign_id, 0) + 1
                report.outcomes[decision.outcome.value] += 1
            if author_linked:
                # An edit of a handled interaction reports only what is new, under its own key.
                intent = enrolment_reply(
                    mention.post_id, mention.author_id, decisions, catalog.suggest,
                    interaction_id=mention.interaction,
                    earlier=None if earlier is None else {k for keys in earlier.values() for k in keys})
                if intent is not None:
                    replies.append(intent)
            outcome = summarise(decisions, command.value)
        if earlier is not None:
            outcome = f"edit of {mention.interaction}: {outcome}"[:500]
        versions.setdefault(mention.interaction, {})[mention.post_id] = mention.hashtags
        posts.append(HandledPost(mention.post_id, mention.author_id, mention.created_at, now, outcome,
                                 interaction_id=mention.interaction,
                                 hashtags=mask_card_numbers(" ".join(mention.hashtags))))

    tx.enrolments.add_many(enrolments)
    tx.campaigns.add_enrolled(unlimited)
    unique_replies: dict[str, ReplyIntent] = {}  # two edits in one batch share the one edit reply
    for intent in replies:
        unique_replies.setdefault(intent.dedupe_key, intent)
    replies = list(unique_replies.values())
    tx.outbox.add_many(replies, now)
    tx.posts.add_many(posts)
    report.handled += len(fresh)
    report.replies_queued += len(replies)


def _handled(mention: Mention, versions: Mapping[str, Mapping[str, object]]) -> bool:
    """Return True when this post, or a newer version of it, was handled before."""
    return any(int(post_id) >= int(mention.post_id) for post_id in versions.get(mention.interaction, ()))


def _stop(tx: UnitOfWork, mention: Mention, linked: set[str], now: datetime,
          report: PollReport) -> str:
    """Honour STOP: unlink the author and cancel their unsent replies."""
    # Recorded even when not linked: only the member's renewed consent may link them again.
    tx.members.opt_out(mention.author_id, mention.author_handle, mention.acted_at(now))
    if mention.author_id not in linked:
        return "stop: not linked"
    tx.members.unlink(mention.author_id, mention.acted_at(now), ended_by=LinkEnd.STOP)
    cancelled = tx.outbox.cancel_for_member(mention.author_id, "member sent STOP")
    linked.discard(mention.author_id)
    report.unlinked += 1
    logger.info("member %s sent STOP: unlinked, %d pending replies cancelled",
                mention.author_id, cancelled)
    return "stop: unlinked"

