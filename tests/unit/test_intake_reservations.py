"""Batched reservation of limited places is proven equal to the one-place-per-enrolment reference.

The reference is intake's handling as it was before issue 13: each enrolment in a limited
campaign took its place with one conditional ``reserve`` as the post was decided. The batched
path decides first and takes each campaign's places in one ``reserve_many``. Both run on the
fakes with the same posts, batches and places taken by a concurrent poller just before this
poll's first reservation; everything they write and report must be the same.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import datetime
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.cards import Fingerprinter, mask_card_numbers
from bot.domain.enrolment import Enrolment, EnrolmentOutcome, decide, summarise
from bot.domain.members import LinkEnd
from bot.domain.mentions import Command, HandledPost, Mention
from bot.domain.replies import ReplyIntent, enrolment_reply, opt_out_reply
from bot.ports import UnitOfWork
from bot.services import intake
from bot.services.campaigns import Catalog
from bot.services.intake import PollReport, poll_mentions
from bot.services.members import link_member
from tests.fakes import (
    ALICE_CARD,
    BOB_CARD,
    BOT_ID,
    CAROL_CARD,
    FakeCampaigns,
    FakeSocialApi,
    FakeStore,
    FixedClock,
    campaign,
    mention,
)

AUTHORS = ("1001", "1002", "1003", "4242")  # three linked members and one stranger
TEXTS = ("@offerbot #AmexA", "@offerbot #AmexB", "@offerbot #AmexA #AmexB", "@offerbot #AmexA #AmexMcDonalds",
         "@offerbot #AmexMcDonalds", "@offerbot STOP", "@offerbot #AmexB #AmexA #AmexMcDonalds")


def reference_handle_posts(tx: UnitOfWork, mentions: list[Mention], catalog: Catalog, now: datetime,
                           bot_user_id: str, report: PollReport) -> None:
    """Intake's batch handling before issue 13: one ``reserve`` per limited enrolment, in turn."""
    report.posts += len(mentions)
    unique = {m.post_id: m for m in mentions}
    relevant = [m for m in unique.values() if not m.is_retweet and m.author_id != bot_user_id]
    report.ignored += len(mentions) - len(relevant)
    versions = tx.posts.versions([m.interaction for m in relevant])
    fresh = sorted((m for m in relevant if not intake._handled(m, versions)), key=lambda m: int(m.post_id))
    report.already_handled += len(relevant) - len(fresh)
    if not fresh:
        return
    members = tx.members.get_many(m.author_id for m in fresh)
    linked = {uid for uid, member in members.items() if member.linked}
    enrolled_in = tx.enrolments.campaigns_of(linked)
    counts = tx.campaigns.enrolment_counts(limited_only=True)
    spent = tx.campaigns.spent_cents()
    enrolments: list[Enrolment] = []
    unlimited: Counter[str] = Counter()
    replies: list[ReplyIntent] = []
    posts: list[HandledPost] = []
    for m in fresh:
        command = m.command()
        outcome = command.value
        earlier = versions.get(m.interaction)
        if command is Command.STOP:
            if m.author_id in linked:
                replies = [r for r in replies if r.member_id != m.author_id]
                replies.append(opt_out_reply(m.post_id, m.author_id, m.interaction))
            tx.members.opt_out(m.author_id, m.author_handle, m.acted_at(now))
            if m.author_id in linked:
                tx.members.unlink(m.author_id, m.acted_at(now), ended_by=LinkEnd.STOP)
                tx.outbox.cancel_for_member(m.author_id, "member sent STOP")
                linked.discard(m.author_id)
                report.unlinked += 1
                outcome = "stop: unlinked"
            else:
                outcome = "stop: not linked"
        elif command is Command.ENROL:
            author_linked = m.author_id in linked
            decisions = decide(m, linked=author_linked, campaigns=catalog.by_key,
                               enrolled_in=enrolled_in[m.author_id], enrolment_counts=counts,
                               spent_cents=spent, now=now)
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
                    enrolments.append(Enrolment(m.author_id, campaign_id, m.post_id, m.acted_at(now)))
                    enrolled_in[m.author_id].add(campaign_id)
                    counts[campaign_id] = counts.get(campaign_id, 0) + 1
                report.outcomes[decision.outcome.value] += 1
            if author_linked:
                intent = enrolment_reply(
                    m.post_id, m.author_id, decisions, catalog.suggest, interaction_id=m.interaction,
                    earlier=None if earlier is None else {k for keys in earlier.values() for k in keys})
                if intent is not None:
                    replies.append(intent)
            outcome = summarise(decisions, command.value)
        if earlier is not None:
            outcome = f"edit of {m.interaction}: {outcome}"[:500]
        versions.setdefault(m.interaction, {})[m.post_id] = m.hashtags
        posts.append(HandledPost(m.post_id, m.author_id, m.created_at, now, outcome,
                                 interaction_id=m.interaction,
                                 hashtags=mask_card_numbers(" ".join(m.hashtags))))
    tx.enrolments.add_many(enrolments)
    tx.campaigns.add_enrolled(unlimited)
    unique_replies: dict[str, ReplyIntent] = {}
    for intent in replies:
        unique_replies.setdefault(intent.dedupe_key, intent)
    tx.outbox.add_many(list(unique_replies.values()), now)
    tx.posts.add_many(posts)
    report.handled += len(fresh)
    report.replies_queued += len(unique_replies)


def run(posts: list[tuple[str, str]], caps: tuple[int, int], stolen: tuple[int, int], batch: int,
        *, reference: bool) -> tuple[Any, ...]:
    """Poll ``posts`` on fresh fakes; return everything the poll wrote and reported."""
    store, clock = FakeStore(), FixedClock()
    for user_id, handle, card in (("1001", "alice", ALICE_CARD), ("1002", "bob", BOB_CARD),
                                  ("1003", "carol", CAROL_CARD)):
        link_member(store, Fingerprinter(b"k" * 32), clock, user_id, handle, card)
    campaigns = (campaign(id="a", hashtag="#AmexA", max_enrolments=caps[0]),
                 campaign(id="b", hashtag="#AmexB", max_enrolments=caps[1]), campaign())
    with store() as tx:
        tx.campaigns.sync(campaigns, clock())
        tx.commit()
    api = FakeSocialApi(page_size=2)
    api.post(*(mention(10 + n, author, text) for n, (author, text) in enumerate(posts)))
    stealing = {"a": stolen[0], "b": stolen[1]}

    def steal_first(tx_campaigns: FakeCampaigns) -> None:
        """Another poller commits places just before this poll's first reservation."""
        for campaign_id, n in list(stealing.items()):
            row = tx_campaigns._s.campaigns[campaign_id]
            assert row.max_enrolments is not None
            row.enrolled = min(row.max_enrolments, row.enrolled + n)
            stealing[campaign_id] = 0

    reserve, reserve_many = FakeCampaigns.reserve, FakeCampaigns.reserve_many

    def reserving(self: FakeCampaigns, campaign_id: str) -> bool:
        steal_first(self)
        return reserve(self, campaign_id)

    def reserving_many(self: FakeCampaigns, wanted: Any) -> dict[str, int]:
        if any(wanted.values()):  # the reference's first reserve() is made for a place wanted
            steal_first(self)
        return reserve_many(self, wanted)

    handling = (mock.patch.object(intake, "_handle_posts", reference_handle_posts) if reference
                else contextlib.nullcontext())
    with mock.patch.object(FakeCampaigns, "reserve", reserving), \
            mock.patch.object(FakeCampaigns, "reserve_many", reserving_many), handling:
        report = poll_mentions(store, api, Catalog(campaigns), clock, bot_user_id=BOT_ID, batch_posts=batch)
    state = store.state
    return (list(state.enrolments.items()),
            sorted((r.dedupe_key, r.in_reply_to, r.context, r.status) for r in state.outbox.values()),
            sorted((p.post_id, p.outcome) for p in state.posts.values()),
            {c: r.enrolled for c, r in state.campaigns.items()},
            (report.handled, report.replies_queued, report.unlinked, dict(report.outcomes)))


@settings(max_examples=100, deadline=None)
@given(posts=st.lists(st.tuples(st.sampled_from(AUTHORS), st.sampled_from(TEXTS)), min_size=1, max_size=12),
       caps=st.tuples(st.integers(0, 4), st.integers(0, 4)),
       stolen=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       batch=st.integers(1, 6))
def test_batched_reservation_writes_and_reports_what_one_place_at_a_time_did(posts, caps, stolen, batch):
    """Whatever the posts, limits, batches and places a concurrent poller takes meanwhile, the
    batched reservation enrols the same members, queues the same replies, records the same
    outcomes and counts as reserving one place per enrolment in post order."""
    assert run(posts, caps, stolen, batch, reference=False) == run(posts, caps, stolen, batch, reference=True)
