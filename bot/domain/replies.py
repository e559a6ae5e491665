"""What the bot says back: reply intents built from decisions, rendered later by templates."""

from __future__ import annotations

import base64
import difflib
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from bot.domain.campaigns import Campaign
from bot.domain.cards import find_card_numbers
from bot.domain.edits import edit_key, news_in_edit
from bot.domain.enrolment import Decision, EnrolmentOutcome
from bot.domain.money import format_cents
from bot.domain.reconcile import Credit, CreditKind

REPLY_TEMPLATE = "reply.j2"
CREDIT_TEMPLATE = "credit.j2"
OPT_OUT_TEMPLATE = "stopped.j2"  # the one message a member who has just opted out still gets
# Outcomes worth a reply, in the order the reply names them.
_GROUPS = {
    EnrolmentOutcome.ENROLLED: "enrolled",
    EnrolmentOutcome.ALREADY_ENROLLED: "already_enrolled",
    EnrolmentOutcome.SOLD_OUT: "sold_out",
    EnrolmentOutcome.NOT_STARTED: "not_started",
    EnrolmentOutcome.OPENED_AFTER_POST: "opened_after_post",
    EnrolmentOutcome.ENDED: "ended",
    EnrolmentOutcome.BUDGET_SPENT: "budget_spent",
    EnrolmentOutcome.RETIRED: "retired",
}
# The lists a reply may name, and how many items of each it names before saying "and N more":
# every list is capped, so that a post with many hashtags still gets a reply that fits.
LISTED = 5
_LIMITS = {"suggestions": 3, "unknown": 3}
QUOTED = 30  # characters of a member's own hashtag quoted back, at most
_WORD = re.compile(r"[^\W]", re.UNICODE)


REPLY, DM = "reply", "dm"  # the channels a message goes out on: a public reply, a direct message


@dataclass(frozen=True)
class ReplyIntent:
    """A message to send once: which post, which template, with what (JSON-safe) context.

    A public reply (``channel`` reply) answers ``in_reply_to``; replies sharing a ``thread`` (a
    member's post, its edits and its opt-out confirmation) form one chain under the member's
    post, so the post itself is answered once. A direct message (``channel`` dm) goes to the
    member privately; ``in_reply_to`` then names the post it is about, and it has no thread.
    """

    dedupe_key: str
    member_id: str
    in_reply_to: str
    template: str
    context: dict[str, Any] = field(hash=False)
    thread: str | None = None
    channel: str = REPLY


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


def quote_hashtag(typed: str) -> str | None:
    """Return a member's hashtag safe to quote back: '#' and its word characters, at most 30 of
    them (then '…'); None when it holds what looks like a card number."""
    word = "".join(_WORD.findall(typed.removeprefix("#")))
    if not word or (sum(c.isdigit() for c in word) >= 13 and find_card_numbers(word)):
        return None
    return "#" + (word if len(word) <= QUOTED else word[:QUOTED] + "…")


def cap_lists(context: dict[str, Any]) -> dict[str, Any]:
    """Name at most a few items of each list in ``context`` and count the rest in ``more``.

    ``more`` maps a list's name to the items left out ("and 3 more"), for the lists that left
    some out (templates read 0 for the others); the renderer may leave out more items, the last
    lists first, until the reply fits.
    """
    more: dict[str, int] = {}
    for name, items in context.items():
        if type(items) is list and len(items) > (limit := _LIMITS.get(name, LISTED)):
            more[name] = len(items) - limit
    for name, extra in more.items():
        context[name] = context[name][:-extra]
    context["more"] = more
    return context


def enrolment_reply(
    mention_id: str,
    member_id: str,
    decisions: Iterable[Decision],
    suggest: Callable[[str], Campaign | None],
    *,
    interaction_id: str | None = None,
    earlier: Set[str] | None = None,
) -> ReplyIntent | None:
    """Return the one reply a linked member's mention deserves, or None when it needs none.

    An unknown hashtag that looks like a typo of a campaign's gets a suggestion. Unknown
    hashtags like no campaign's are named ("We found no offer called #yum") only when the post
    names nothing else, so that a member who got no offer hears why. The reply is in the thread
    of the interaction (the original post, for an edit). An edit of a handled interaction (the
    ``earlier`` versions named those hashtag keys) gets its one further reply, under its own
    key, about what is new only.
    """
    context: dict[str, Any] = {name: [] for name in _GROUPS.values()}
    context["suggestions"] = []
    unknown = []
    decisions = list(decisions)
    named_a_campaign = any(d.campaign is not None for d in decisions)
    if earlier is not None:
        decisions = news_in_edit(decisions, earlier=earlier)
    for decision in decisions:
        group = _GROUPS.get(decision.outcome)
        if group is not None and decision.campaign is not None:
            context[group].append(decision.campaign.summary())
        elif (decision.outcome is EnrolmentOutcome.UNKNOWN_HASHTAG
              and (typed := quote_hashtag(decision.typed or decision.hashtag)) is not None):
            suggestion = suggest(decision.hashtag)
            if suggestion is not None:
                context["suggestions"].append({"typed": typed, **suggestion.summary()})
            else:
                unknown.append({"typed": typed})
    named_anything = any(context.values())
    if not named_anything and (named_a_campaign or not unknown):
        return None
    context["unknown"] = [] if named_anything or named_a_campaign else unknown
    context = cap_lists(context)
    context["ref"] = ref_code(mention_id)
    interaction = interaction_id or mention_id
    key = f"post:{mention_id}" if earlier is None else edit_key(interaction)
    return ReplyIntent(key, member_id, mention_id, REPLY_TEMPLATE, context, thread_of(interaction))


def opt_out_reply(post_id: str, member_id: str, interaction_id: str | None = None) -> ReplyIntent:
    """Return the one confirmation an opt-out gets, in the thread of its interaction."""
    interaction = interaction_id or post_id
    return ReplyIntent(f"stop:{interaction}", member_id, post_id, OPT_OUT_TEMPLATE,
                       {"ref": ref_code(post_id)}, thread_of(interaction))


@dataclass(frozen=True)
class OutboxItem:
    """A message claimed from the outbox for sending."""

    id: int
    dedupe_key: str
    member_id: str
    in_reply_to: str
    template: str
    context: dict[str, Any]
    attempts: int
    thread: str | None = None
    channel: str = REPLY


class ReplyStatus(StrEnum):
    """Where a message of the outbox stands."""

    PENDING = "pending"  # due at its next attempt time
    SENDING = "sending"  # claimed by a sender
    SENT = "sent"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"  # X refused the DM: final, never a public post instead
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Delivery:
    """What became of one attempt to send a message."""

    # sent | failed | undeliverable (never retried by itself) | cancelled | pending (retry at retry_at)
    status: ReplyStatus
    post_id: str | None = None
    note: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True)
class OutboxRecord:
    """A message of the outbox as an operator sees it (`offerbot replies`)."""

    id: int
    dedupe_key: str
    channel: str
    member_id: str
    template: str
    status: ReplyStatus
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    sent_at: datetime | None
    reason: str | None

    @property
    def when(self) -> datetime:
        """Return the moment that matters for its status: sent, due, or last tried (or queued)."""
        if self.status == ReplyStatus.SENT and self.sent_at is not None:
            return self.sent_at
        if self.status == ReplyStatus.PENDING:
            return self.next_attempt_at
        return self.last_attempt_at or self.created_at


class ThreadReply(NamedTuple):
    """A reply queued earlier in a thread: where it stands, and X's id for it once sent."""

    status: ReplyStatus
    sent_post_id: str | None


def credit_ref(credit_id: str) -> str:
    """Return the reference a member reads for a credit (the credit id is a hash; its start names it)."""
    return credit_id[2:8]


def credit_notice(credit: Credit, campaign: Campaign, enrolment_post_id: str,
                  reversed_credit: Credit | None = None) -> ReplyIntent:
    """Return the direct message telling a member of a credit, or of a clawback of one.

    Notices are private: a public reply would tell everyone where and when the member shopped.
    A clawback names the credit it reverses (``reversed_credit``, or at least its ref) and how
    much of it went: "$2.50 of your $5.00 McDonald's credit (ref ABC123) was reversed".
    """
    context: dict[str, Any] = {
        "kind": credit.kind,
        "amount": format_cents(abs(credit.cents), credit.currency),
        "merchant": campaign.merchant,
        "hashtag": campaign.hashtag,
        "ref": credit_ref(credit.credit_id),
    }
    if credit.kind == CreditKind.CLAWBACK and credit.reverses:
        context["reversed_ref"] = credit_ref(credit.reverses)
        context["reversed_amount"] = (None if reversed_credit is None else
                                      format_cents(reversed_credit.cents, reversed_credit.currency))
        context["whole"] = reversed_credit is not None and -credit.cents >= reversed_credit.cents
    return ReplyIntent(f"credit:{credit.credit_id}", credit.member_id, enrolment_post_id,
                       CREDIT_TEMPLATE, context, channel=DM)
