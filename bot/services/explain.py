"""Why a member did or did not get a credit: the trail, from link to enrolment to each purchase."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from bot.domain.campaigns import Campaign
from bot.domain.enrolment import Enrolment
from bot.domain.members import CardLink, Member
from bot.domain.money import format_cents
from bot.domain.reconcile import Credit, TxnOutcome
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
    links: list[CardLink] = field(default_factory=list)  # the member's card links, oldest first
    tz: tzinfo = UTC  # the zone link days are read in (reconciliation's)

    def link_lines(self) -> list[str]:
        """Return one line per card link, e.g. 'card ending 0005, linked 2026-11-20, unlinked on ...'."""
        return [link.describe(self.tz) for link in self.links]

    def unlinked(self) -> str:
        """Return '; unlinked on DATE (REASON)' when the member's last link has ended, else ''."""
        last = self.links[-1] if self.links else None
        if last is None or last.unlinked_at is None or (self.member is not None and self.member.linked):
            return ""
        reason = f" ({last.ended_by.describe()})" if last.ended_by else ""
        return f"; unlinked on {last.unlinked_at.astimezone(self.tz):%Y-%m-%d}{reason}"

    def verdict(self) -> str:
        """Return the one-line answer: credited, or the first thing that stopped it (and any refund
        still waiting for its purchase, which may take a credit back when that purchase arrives)."""
        answer = self._answer()
        waiting = [t for t in self.transactions if t.outcome.startswith(TxnOutcome.REFUND_PENDING)]
        if waiting and not answer.startswith("no credit: refund pending"):
            answer += "; " + ", ".join(f"refund {t.transaction_id} ({t.amount}) waits for its purchase"
                                       for t in waiting)
        return answer

    def _answer(self) -> str:
        if self.campaign is None:
            return f"no campaign has the id {self.campaign_id!r}"
        if self.member is None or (self.member.linked_at is None and not self.member.linked):
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
            if self.unlinked():
                return ("enrolled, but no purchase at this merchant made while the card was linked has "
                        f"been seen in a transaction file{self.unlinked()}")
            return "enrolled, but no purchase at this merchant has been seen in a transaction file"
        return f"no credit: {self.transactions[-1].outcome}{self.unlinked()}"


def explain(uow: UnitOfWorkFactory, catalog: Catalog, member_id: str, campaign_id: str, *,
            tz: tzinfo = UTC) -> Explanation:
    """Gather the member's links, enrolment, transactions and credits for one campaign (link days
    read in ``tz``, the zone reconciliation decides them in)."""
    campaign = catalog.by_id.get(campaign_id)
    with uow(readonly=True) as tx:
        member = tx.members.get(member_id)
        links = tx.members.links_of(member_id)
        enrolment = tx.enrolments.get(member_id, campaign_id)
        kept = tx.ledger.transactions_of(member_id)
        credits = tx.ledger.credits_of(member_id, campaign_id)
    seen = []
    prefix = f"{campaign_id}="
    for row in kept:
        for part in row.outcomes.split(" | "):
            if part.startswith(prefix):
                amount = format_cents(row.cents, row.currency)
                seen.append(SeenTransaction(str(row.day), row.transaction_id, row.kind, amount,
                                            part.removeprefix(prefix)))
    return Explanation(member_id, campaign_id, member, campaign, enrolment, seen, credits, links, tz)
