"""Why a member did or did not get a credit: the trail, from link to enrolment to each purchase."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.campaigns import Campaign
from bot.domain.enrolment import Enrolment
from bot.domain.members import Member
from bot.domain.money import format_cents
from bot.domain.reconcile import Credit, Outcome
from bot.ports import UnitOfWorkFactory
from bot.services.campaigns import Catalog


@dataclass(frozen=True)
class SeenTransaction:
    """A transaction of the member at one of the campaign's merchants, and what it meant."""

    day: str
    transaction_id: str
    kind: str
    amount: str
    outcome: str


@dataclass(frozen=True)
class Explanation:
    """Everything `offerbot explain` prints."""

    member_id: str
    campaign_id: str
    member: Member | None
    campaign: Campaign | None
    enrolment: Enrolment | None
    transactions: list[SeenTransaction]
    credits: list[Credit]

    def verdict(self) -> str:
        """Return the one-line answer: credited, or the first thing that stopped it (and any refund
        still waiting for its purchase, which may take a credit back when that purchase arrives)."""
        answer = self._answer()
        waiting = [t for t in self.transactions if t.outcome.startswith(Outcome.REFUND_PENDING)]
        if waiting and not answer.startswith("no credit: refund pending"):
            answer += "; " + ", ".join(f"refund {t.transaction_id} ({t.amount}) waits for its purchase"
                                       for t in waiting)
        return answer

    def _answer(self) -> str:
        if self.campaign is None:
            return f"no campaign has the id {self.campaign_id!r}"
        if self.member is None:
            return f"X user {self.member_id} has never been linked to a card"
        net = sum(c.cents for c in self.credits)
        if net > 0:
            return f"credited {format_cents(net, self.campaign.currency)} net"
        if self.credits:
            return "credited, then reversed after a refund"
        if self.enrolment is None:
            return (f"not enrolled: the member never posted {self.campaign.hashtag} to the bot"
                    + ("" if self.member.linked else " (and is not linked now)"))
        if not self.transactions:
            return "enrolled, but no purchase at this merchant has been seen in a transaction file"
        return f"no credit: {self.transactions[-1].outcome}"


def explain(uow: UnitOfWorkFactory, catalog: Catalog, member_id: str, campaign_id: str) -> Explanation:
    """Gather the member's link, enrolment, transactions and credits for one campaign."""
    campaign = catalog.by_id.get(campaign_id)
    with uow(readonly=True) as tx:
        member = tx.members.get(member_id)
        enrolment = tx.enrolments.get(member_id, campaign_id)
        kept = tx.ledger.transactions_of(member_id)
        credits = tx.ledger.credits_of(member_id, campaign_id)
    seen = []
    prefix = f"{campaign_id}="
    for row in kept:
        for part in row["outcomes"].split(" | "):
            if part.startswith(prefix):
                amount = format_cents(row["cents"], row["currency"])
                seen.append(SeenTransaction(str(row["day"]), row["transaction_id"], row["kind"], amount,
                                            part.removeprefix(prefix)))
    return Explanation(member_id, campaign_id, member, campaign, enrolment, seen, credits)
