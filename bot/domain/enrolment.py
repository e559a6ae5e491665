"""Enrolment rules: which campaigns a mention enrols its author in, and what to tell them."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from bot.domain.campaigns import Campaign, CampaignStatus
from bot.domain.cards import mask_card_numbers
from bot.domain.mentions import Mention


class EnrolmentOutcome(StrEnum):
    """The result of one hashtag in one mention."""

    ENROLLED = "enrolled"
    ALREADY_ENROLLED = "already enrolled"
    SOLD_OUT = "sold out"
    BUDGET_SPENT = "budget spent"
    RETIRED = "retired"
    NOT_STARTED = "not started"
    OPENED_AFTER_POST = "opened after post"  # upcoming when posted, open by the time it was read
    ENDED = "ended"
    NOT_LINKED = "not linked"
    UNKNOWN_HASHTAG = "unknown hashtag"


@dataclass(frozen=True)
class Decision:
    """What happened to one hashtag of a mention."""

    hashtag: str  # the key
    outcome: EnrolmentOutcome
    campaign: Campaign | None = None
    typed: str | None = field(default=None, compare=False)  # as typed, without '#' (for display)

    def sold_out(self) -> Decision:
        """Return this decision turned into SOLD_OUT (the quantity ran out at reservation)."""
        return replace(self, outcome=EnrolmentOutcome.SOLD_OUT)


def decide(
    mention: Mention,
    *,
    linked: bool,
    campaigns: Mapping[str, Campaign],
    enrolled_in: Set[str],
    enrolment_counts: Mapping[str, int],
    spent_cents: Mapping[str, int],
    now: datetime,
) -> list[Decision]:
    """Decide each hashtag of ``mention``: one decision per hashtag, in the order written.

    ``campaigns`` maps hashtag keys to campaigns, ``enrolled_in`` holds the campaign ids the
    author is already enrolled in, ``enrolment_counts`` the enrolments per campaign id so far
    and ``spent_cents`` the budget each has spent. An ENROLLED decision still needs its
    limited-quantity reservation to succeed. A campaign is judged at the post's time: a post made
    before it opened enrols in nothing, even when the campaign has opened by ``now``
    (OPENED_AFTER_POST: the member must post again).
    """
    at = mention.acted_at(now)
    decisions = []
    for key in mention.hashtags:
        campaign = campaigns.get(key)
        typed = mention.typed(key)
        if campaign is None:
            decisions.append(Decision(key, EnrolmentOutcome.UNKNOWN_HASHTAG, typed=typed))
        elif not linked:
            decisions.append(Decision(key, EnrolmentOutcome.NOT_LINKED, campaign, typed))
        elif campaign.id in enrolled_in:
            decisions.append(Decision(key, EnrolmentOutcome.ALREADY_ENROLLED, campaign, typed))
        else:
            count = enrolment_counts.get(campaign.id, 0)
            spent = spent_cents.get(campaign.id, 0)
            status = campaign.status(at, count, spent)
            outcome = _STATUS_OUTCOME[status]
            later = campaign.status(now, count, spent) if status is CampaignStatus.UPCOMING else status
            if later is not CampaignStatus.UPCOMING and status is CampaignStatus.UPCOMING:
                outcome = (EnrolmentOutcome.OPENED_AFTER_POST if later is CampaignStatus.LIVE
                           else _STATUS_OUTCOME[later])
            decisions.append(Decision(key, outcome, campaign, typed))
    return decisions


_STATUS_OUTCOME = {
    CampaignStatus.UPCOMING: EnrolmentOutcome.NOT_STARTED,
    CampaignStatus.ENDED: EnrolmentOutcome.ENDED,
    CampaignStatus.SOLD_OUT: EnrolmentOutcome.SOLD_OUT,
    CampaignStatus.BUDGET_SPENT: EnrolmentOutcome.BUDGET_SPENT,
    CampaignStatus.RETIRED: EnrolmentOutcome.RETIRED,
    CampaignStatus.LIVE: EnrolmentOutcome.ENROLLED,
}


@dataclass(frozen=True)
class Enrolment:
    """A member's enrolment in a campaign, made by a post."""

    member_id: str
    campaign_id: str
    post_id: str
    enrolled_at: datetime


def summarise(decisions: list[Decision], command: str) -> str:
    """Return a short record of what a mention did, for the posts table (card numbers masked)."""
    if not decisions:
        return command
    return mask_card_numbers("; ".join(f"{d.hashtag}: {d.outcome.value}" for d in decisions))[:500]
