"""Poll mentions: each post becomes enrolments and at most one queued reply, exactly once; an
edit of a post is the same interaction, answered at most once more."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
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
    batches = list(_batches(reversed(pages), batch_posts))
    for number, batch in enumerate(batches, 1):
        with uow() as tx:
            _handle_posts(tx, [m for page in batch for m in page.mentions], catalog, clock(),
                          bot_user_id, report)
            newest = max((p.newest_id for p in batch if p.newest_id), key=int, default=None)
            if newest and _newer(newest, report.cursor):
                tx.cursors.set(CURSOR, newest, clock())
                report.cursor = newest
            if number == len(batches):  # the heartbeat rides on the last batch: one commit fewer
                tx.cursors.set(POLLED, clock().isoformat(), clock())
            tx.commit()
    if not batches:
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
    seen = _Seen(linked, tx.enrolments.campaigns_of(linked), tx.campaigns.enrolment_counts(limited_only=True),
                 versions)
    spent = tx.campaigns.spent_cents()  # a spent budget closes enrolment

    # Decided first as if every limited place wanted were there, then the places are taken in
    # one conditional statement per campaign. Only when fewer were granted (a sell-out, or a
    # concurrent poller) is the batch decided again, from the same start, with the places
    # granted: oldest post first, exactly as if each place had been reserved in turn.
    decided = _decide(fresh, catalog, now, seen.copy(), spent, places=None)
    granted = tx.campaigns.reserve_many(decided.wanted)
    if any(granted.get(c, 0) < n for c, n in decided.wanted.items()):
        decided = _decide(fresh, catalog, now, seen, spent, places=dict(granted))

    for mention, was_linked in decided.stops:
        _stop(tx, mention, was_linked, now, report)
    unique_replies: dict[str, ReplyIntent] = {}  # two edits in one batch share the one edit reply
    for intent in decided.replies:
        unique_replies.setdefault(intent.dedupe_key, intent)
    replies = list(unique_replies.values())
    # Sent ahead (pipeline mode on PostgreSQL): the server inserts one while the next is built.
    with tx.sending_ahead():
        tx.enrolments.add_many(decided.enrolments)
        tx.campaigns.add_enrolled(decided.unlimited)
        tx.outbox.add_many(replies, now)
        tx.posts.add_many(decided.posts)
    report.outcomes.update(decided.outcomes)
    report.handled += len(fresh)
    report.replies_queued += len(replies)


@dataclass
class _Seen:
    """What a batch's decisions start from, and move as they go."""

    linked: set[str]
    enrolled_in: dict[str, set[str]]
    counts: dict[str, int]  # enrolments so far in limited-quantity campaigns
    versions: dict[str, dict[str, tuple[str, ...]]]

    def copy(self) -> _Seen:
        """Return a copy whose moves leave this one as it is."""
        enrolled_in: dict[str, set[str]] = defaultdict(set)
        enrolled_in.update((member, set(ids)) for member, ids in self.enrolled_in.items())
        return _Seen(set(self.linked), enrolled_in, dict(self.counts),
                     {key: dict(posts) for key, posts in self.versions.items()})


@dataclass
class _Decided:
    """A batch decided: what to write, and the limited places it wanted."""

    enrolments: list[Enrolment] = field(default_factory=list)
    unlimited: Counter[str] = field(default_factory=Counter)  # enrolments with no quantity to reserve
    wanted: Counter[str] = field(default_factory=Counter)  # limited places taken, per campaign
    replies: list[ReplyIntent] = field(default_factory=list)
    posts: list[HandledPost] = field(default_factory=list)
    stops: list[tuple[Mention, bool]] = field(default_factory=list)  # and whether the author was linked
    outcomes: Counter[str] = field(default_factory=Counter)


def _decide(fresh: list[Mention], catalog: Catalog, now: datetime, seen: _Seen, spent: Mapping[str, int],
            *, places: dict[str, int] | None) -> _Decided:
    """Decide each post in turn, oldest first, writing nothing.

    ``places`` are the limited places there are to take per campaign (None: as many as wanted);
    an enrolment finding none left is sold out, as a failed reservation is.
    """
    out = _Decided()
    linked, enrolled_in, counts, versions = seen.linked, seen.enrolled_in, seen.counts, seen.versions
    for mention in fresh:
        command = mention.command()
        outcome = command.value
        # Hashtags of the versions of this interaction handled before: this post is an edit of them.
        earlier = versions.get(mention.interaction)
        if command is Command.STOP:
            was_linked = mention.author_id in linked
            if was_linked:
                # Replies decided earlier in this batch are not queued yet; they must not go out
                # either. The one message left for them is the confirmation.
                out.replies = [r for r in out.replies if r.member_id != mention.author_id]
                out.replies.append(opt_out_reply(mention.post_id, mention.author_id, mention.interaction))
            out.stops.append((mention, was_linked))
            linked.discard(mention.author_id)
            outcome = "stop: unlinked" if was_linked else "stop: not linked"
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
                        out.unlimited[campaign_id] += 1
                    elif places is not None and places.get(campaign_id, 0) <= 0:
                        decisions[index] = decision.sold_out()
                        out.outcomes[EnrolmentOutcome.SOLD_OUT.value] += 1
                        continue
                    else:
                        out.wanted[campaign_id] += 1
                        if places is not None:
                            places[campaign_id] -= 1
                    out.enrolments.append(Enrolment(mention.author_id, campaign_id,
                                                    mention.post_id, mention.acted_at(now)))
                    enrolled_in[mention.author_id].add(campaign_id)
                    counts[campaign_id] = counts.get(campaign_id, 0) + 1
                out.outcomes[decision.outcome.value] += 1
            if author_linked:
                # An edit of a handled interaction reports only what is new, under its own key.
                intent = enrolment_reply(
                    mention.post_id, mention.author_id, decisions, catalog.suggest,
                    interaction_id=mention.interaction,
                    earlier=None if earlier is None else {k for keys in earlier.values() for k in keys})
                if intent is not None:
                    out.replies.append(intent)
            outcome = summarise(decisions, command.value)
        if earlier is not None:
            outcome = f"edit of {mention.interaction}: {outcome}"[:500]
        versions.setdefault(mention.interaction, {})[mention.post_id] = mention.hashtags
        out.posts.append(HandledPost(mention.post_id, mention.author_id, mention.created_at, now, outcome,
                                     interaction_id=mention.interaction,
                                     hashtags=mask_card_numbers(" ".join(mention.hashtags))))
    return out


def _handled(mention: Mention, versions: Mapping[str, Mapping[str, object]]) -> bool:
    """Return True when this post, or a newer version of it, was handled before."""
    return any(int(post_id) >= int(mention.post_id) for post_id in versions.get(mention.interaction, ()))


def _stop(tx: UnitOfWork, mention: Mention, was_linked: bool, now: datetime, report: PollReport) -> None:
    """Honour STOP: unlink the author and cancel their unsent replies."""
    # Recorded even when not linked: only the member's renewed consent may link them again.
    tx.members.opt_out(mention.author_id, mention.author_handle, mention.acted_at(now))
    if not was_linked:
        return
    tx.members.unlink(mention.author_id, mention.acted_at(now), ended_by=LinkEnd.STOP)
    cancelled = tx.outbox.cancel_for_member(mention.author_id, "member sent STOP")
    report.unlinked += 1
    logger.info("member %s sent STOP: unlinked, %d pending replies cancelled",
                mention.author_id, cancelled)
