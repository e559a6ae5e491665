"""Enrolment rules: which campaigns a mention enrols its author in, and what to tell them."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.domain.campaigns import Campaign, Status
from bot.domain.mentions import Mention


class Outcome(StrEnum):
    """The result of one hashtag in one mention."""

    ENROLLED = "enrolled"
    ALREADY_ENROLLED = "already enrolled"
    SOLD_OUT = "sold out"
    BUDGET_SPENT = "budget spent"
    RETIRED = "retired"
    NOT_STARTED = "not started"
    ENDED = "ended"
    NOT_LINKED = "not linked"
    UNKNOWN_HASHTAG = "unknown hashtag"


@dataclass(frozen=True)
class Decision:
    """What happened to one hashtag of a mention."""

    hashtag: str
    outcome: Outcome
    campaign: Campaign | None = None

    def sold_out(self) -> Decision:
        """Return this decision turned into SOLD_OUT (the quantity ran out at reservation)."""
        return replace(self, outcome=Outcome.SOLD_OUT)


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
    limited-quantity reservation to succeed.
    """
    at = mention.acted_at(now)
    decisions = []
    for key in mention.hashtags:
        campaign = campaigns.get(key)
        if campaign is None:
            decisions.append(Decision(key, Outcome.UNKNOWN_HASHTAG))
        elif not linked:
            decisions.append(Decision(key, Outcome.NOT_LINKED, campaign))
        elif campaign.id in enrolled_in:
            decisions.append(Decision(key, Outcome.ALREADY_ENROLLED, campaign))
        else:
            status = campaign.status(at, enrolment_counts.get(campaign.id, 0),
                                     spent_cents.get(campaign.id, 0))
            decisions.append(Decision(key, _STATUS_OUTCOME[status], campaign))
    return decisions


_STATUS_OUTCOME = {
    Status.UPCOMING: Outcome.NOT_STARTED,
    Status.ENDED: Outcome.ENDED,
    Status.SOLD_OUT: Outcome.SOLD_OUT,
    Status.BUDGET_SPENT: Outcome.BUDGET_SPENT,
    Status.RETIRED: Outcome.RETIRED,
    Status.LIVE: Outcome.ENROLLED,
}


@dataclass(frozen=True)
class Enrolment:
    """A member's enrolment in a campaign, made by a post."""

    member_id: str
    campaign_id: str
    post_id: str
    enrolled_at: datetime


def summarise(decisions: list[Decision], command: str) -> str:
    """Return a short record of what a mention did, for the posts table."""
    if not decisions:
        return command
    return "; ".join(f"{d.hashtag}: {d.outcome.value}" for d in decisions)[:500]
