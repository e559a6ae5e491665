"""What the bot says back: reply intents built from decisions, rendered later by templates."""

from __future__ import annotations

import base64
import difflib
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.campaigns import Campaign
from bot.domain.enrolment import Decision, Outcome
from bot.domain.money import format_cents
from bot.domain.reconcile import Credit

REPLY_TEMPLATE = "reply.j2"
CREDIT_TEMPLATE = "credit.j2"
OPT_OUT_TEMPLATE = "stopped.j2"  # the one message a member who has just opted out still gets
# Outcomes worth a reply, in the order the reply names them.
_GROUPS = {
    Outcome.ENROLLED: "enrolled",
    Outcome.ALREADY_ENROLLED: "already_enrolled",
    Outcome.SOLD_OUT: "sold_out",
    Outcome.NOT_STARTED: "not_started",
    Outcome.ENDED: "ended",
}


@dataclass(frozen=True)
class ReplyIntent:
    """A reply to send once: which post, which template, with what (JSON-safe) context.

    Replies sharing a ``thread`` (the confirmation of a member's post and the credit notices of
    that enrolment) form one chain under the member's post, so the post itself is answered once.
    """

    dedupe_key: str
    member_id: str
    in_reply_to: str
    template: str
    context: dict[str, Any] = field(hash=False)
    thread: str | None = None


def thread_of(post_id: str) -> str:
    """Return the thread key of the replies a member's post draws."""
    return f"post:{post_id}"


def ref_code(seed: str) -> str:
    """Return a short reference for a post or credit; it also keeps reply texts distinct."""
    digest = hashlib.sha256(seed.encode()).digest()
    return base64.b32encode(digest[:5])[:6].decode()


def suggest_campaign(hashtag: str, campaigns: Mapping[str, Campaign]) -> Campaign | None:
    """Return the campaign whose hashtag ``hashtag`` looks like a typo of, if any."""
    match = difflib.get_close_matches(hashtag, list(campaigns), n=1, cutoff=0.8)
    return campaigns[match[0]] if match else None


def enrolment_reply(
    mention_id: str,
    member_id: str,
    decisions: Iterable[Decision],
    suggest: Callable[[str], Campaign | None],
) -> ReplyIntent | None:
    """Return the one reply a linked member's mention deserves, or None when it needs none.

    Unknown hashtags are answered only when ``suggest`` finds a campaign they look like a typo
    of, so banter such as "#fridayvibes" does not draw a reply.
    """
    context: dict[str, Any] = {name: [] for name in _GROUPS.values()}
    context["suggestions"] = []
    for decision in decisions:
        group = _GROUPS.get(decision.outcome)
        if group is not None and decision.campaign is not None:
            context[group].append(decision.campaign.summary())
        elif decision.outcome is Outcome.UNKNOWN_HASHTAG:
            suggestion = suggest(decision.hashtag)
            if suggestion is not None:
                context["suggestions"].append({"typed": "#" + decision.hashtag, **suggestion.summary()})
    if not any(context.values()):
        return None
    context["ref"] = ref_code(mention_id)
    return ReplyIntent(f"post:{mention_id}", member_id, mention_id, REPLY_TEMPLATE, context,
                       thread_of(mention_id))


def opt_out_reply(post_id: str, member_id: str) -> ReplyIntent:
    """Return the one confirmation an opt-out post gets, in the thread of that post."""
    return ReplyIntent(f"stop:{post_id}", member_id, post_id, OPT_OUT_TEMPLATE,
                       {"ref": ref_code(post_id)}, thread_of(post_id))


@dataclass(frozen=True)
class OutboxItem:
    """A reply claimed from the outbox for sending."""

    id: int
    dedupe_key: str
    member_id: str
    in_reply_to: str
    template: str
    context: dict[str, Any]
    attempts: int
    thread: str | None = None


@dataclass(frozen=True)
class Delivery:
    """What became of one attempt to send a reply."""

    status: str  # sent | failed | cancelled | pending (retry at retry_at)
    post_id: str | None = None
    note: str | None = None
    retry_at: datetime | None = None


def credit_notice(credit: Credit, campaign: Campaign, enrolment_post_id: str) -> ReplyIntent:
    """Return the notice of a credit (or its reversal), threaded under the enrolment reply."""
    context = {
        "kind": credit.kind,
        "amount": format_cents(abs(credit.cents), credit.currency),
        "merchant": campaign.merchant,
        "hashtag": campaign.hashtag,
        "ref": credit.credit_id[2:8],  # the credit id is a hash already; its start names it
    }
    # In the enrolment's thread: under the bot's confirmation (or the notice before it), so the
    # member's post still has one reply from the bot.
    return ReplyIntent(f"credit:{credit.credit_id}", credit.member_id, enrolment_post_id,
                       CREDIT_TEMPLATE, context, thread_of(enrolment_post_id))
