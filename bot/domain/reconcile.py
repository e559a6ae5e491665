"""Reconciliation rules: which transactions earn a statement credit, and which refunds take one back.

Everything here is in cents and pure: the service primes the Reconciler with what the database
knows (enrolments, credits used, budget spent, earlier credits a refund may reverse, refunds still
waiting for their purchase) and writes what it decides. Transactions are fed in decision order
(``decision_key``: transaction date, then transaction id), whatever order the file had.
Over 300 lines on purpose: every money rule (credit, limit, budget, refund, clawback) in one
place, since each depends on the running totals the others keep.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import NamedTuple

from bot.domain.campaigns import Campaign
from bot.domain.money import to_cents

REFUND_MATCH_DAYS = 30


class TxnOutcome(StrEnum):
    """What one transaction meant for one campaign."""

    CREDITED = "credited"
    BELOW_MINIMUM = "below minimum"
    OUTSIDE_WINDOW = "outside window"
    NOT_ENROLLED = "not enrolled"
    CURRENCY_MISMATCH = "currency mismatch"
    LIMIT_REACHED = "member limit reached"
    BUDGET_EXHAUSTED = "budget exhausted"
    ALREADY_RECONCILED = "already reconciled"
    RETIRED = "campaign retired"
    ALREADY_CREDITED = "already credited"  # reconcile --again: this credit was issued before
    CLAWBACK = "clawback"
    REFUND_KEPT = "refund, credit kept"
    REFUND_UNMATCHED = "refund, nothing to reverse"
    REFUND_PENDING = "refund pending"  # waiting for its purchase to arrive
    REFUND_ALREADY_APPLIED = "refund already applied"  # sent again, or decided again (--again)
    REFUND_EXPIRED = "refund expired"  # its purchase did not arrive within the window


class RefundState(StrEnum):
    """What became of a refund: applied to its purchase's credit, waiting for the purchase, or not."""

    APPLIED = "applied"
    PENDING = "pending"  # waiting for its purchase (REFUND_MATCH_DAYS at most)
    UNMATCHED = "unmatched"  # nothing to reverse
    EXPIRED = "expired"  # its purchase did not arrive within the window


class CreditKind(StrEnum):
    """A statement credit, or a clawback of one."""

    CREDIT = "credit"
    CLAWBACK = "clawback"


CREDIT, CLAWBACK = CreditKind.CREDIT, CreditKind.CLAWBACK


class Txn(NamedTuple):
    """A transaction of a linked member at a campaign's merchant, amounts in cents.

    A named tuple: batches of these cross from the scanning process, and tuples pickle cheaply.
    """

    line: int
    transaction_id: str
    member_id: str
    last4: str
    merchant_id: str
    cents: int
    currency: str
    day: date
    kind: str  # purchase | refund
    original_id: str | None = None


Key = tuple[date, str]  # (transaction date, transaction id): the order transactions are decided in


def decision_key(txn: Txn) -> Key:
    """Return where a transaction is decided: by date, then id, whatever the file's row order."""
    return (txn.day, txn.transaction_id)


class Credit(NamedTuple):
    """A statement credit (positive) or a clawback (negative), in cents (a named tuple: made
    by the hundred thousand per file, and a frozen dataclass costs several times more)."""

    credit_id: str
    transaction_id: str
    campaign_id: str
    member_id: str
    kind: CreditKind
    cents: int
    currency: str
    last4: str
    basis_cents: int  # the purchase (or refund) amount it was worked out from
    merchant_id: str
    day: date
    reverses: str | None = None


@dataclass
class CreditedPurchase:
    """An issued credit that a later refund may reverse, with what was refunded so far."""

    credit: Credit
    refunded_cents: int = 0
    reversed_cents: int = 0

    @property
    def open_cents(self) -> int:
        """Return how much of the credit has not been clawed back."""
        return self.credit.cents - self.reversed_cents


class Verdict(NamedTuple):
    """One campaign's outcome for one transaction, with a reason people can read."""

    campaign_id: str
    outcome: TxnOutcome
    detail: str = ""
    credit: Credit | None = None


def enrolment_key(member_id: str, campaign_id: str) -> str:
    """Return the key enrolments are looked up by (one string: cheap to hash, to pass, to keep)."""
    return f"{member_id}\t{campaign_id}"


def enrolled_in_none(enrolled: Container[str], member_id: str, campaign_ids: tuple[str, ...]) -> bool:
    """Tell whether the member is enrolled in none of ``campaign_ids`` (``enrolled`` holds
    enrolment keys); such a purchase can never earn nor lose a credit."""
    if len(campaign_ids) == 1:  # the usual case, without a generator; keys as enrolment_key
        return f"{member_id}\t{campaign_ids[0]}" not in enrolled
    return not any(f"{member_id}\t{c}" in enrolled for c in campaign_ids)


def can_wait(day: date, today: date | None) -> bool:
    """Tell whether a refund of ``day`` may still wait for its purchase on ``today``."""
    return today is None or day + timedelta(days=REFUND_MATCH_DAYS) >= today


APPLIED = frozenset({TxnOutcome.CLAWBACK, TxnOutcome.REFUND_KEPT, TxnOutcome.REFUND_ALREADY_APPLIED})


def refund_state(verdicts: Iterable[Verdict]) -> RefundState:
    """Return what a refund's verdicts leave it: applied, pending, expired or unmatched."""
    outcomes = {v.outcome for v in verdicts}
    if outcomes & APPLIED:
        return RefundState.APPLIED
    if TxnOutcome.REFUND_PENDING in outcomes:
        return RefundState.PENDING
    if TxnOutcome.REFUND_EXPIRED in outcomes:
        return RefundState.EXPIRED
    return RefundState.UNMATCHED


def credit_id(kind: str, campaign_id: str, transaction_id: str) -> str:
    """Return a credit's id, derived from what it is for: a rerun derives the same id."""
    digest = hashlib.sha256(f"{kind}|{campaign_id}|{transaction_id}".encode()).hexdigest()
    return "CR" + digest[:18].upper()


@dataclass
class _Terms:
    """A campaign's money rules in cents, worked out once per run."""

    campaign: Campaign
    min_cents: int
    credit_cents: int | None
    max_cents: int | None
    budget_cents: int | None
    # percent / 100 as an exact fraction, so a percentage credit needs no Decimal per purchase
    rate_num: int = 0
    rate_den: int = 1
    below_minimum: str = ""  # reasons, written once per campaign rather than per transaction
    limit_reached: str = ""

    @classmethod
    def of(cls, c: Campaign) -> _Terms:
        terms = cls(c, to_cents(c.min_spend), None if c.credit is None else to_cents(c.credit),
                    None if c.max_credit is None else to_cents(c.max_credit),
                    None if c.budget is None else to_cents(c.budget))
        if c.percent is not None:
            num, den = (c.percent / 100).as_integer_ratio()
            terms.rate_num, terms.rate_den = num, den
        terms.below_minimum = f"under the {c.min_spend} minimum"
        terms.limit_reached = f"{c.per_member} credit(s) already given"
        return terms

    def credit_for(self, cents: int) -> int:
        """Return the credit for a purchase: fixed, or the percentage rounded half up, capped."""
        if self.credit_cents is not None:
            return self.credit_cents
        assert self.max_cents is not None
        whole, rest = divmod(cents * self.rate_num, self.rate_den)
        earned = whole + (2 * rest >= self.rate_den)  # half up, as Decimal ROUND_HALF_UP does
        return min(earned, self.max_cents)


@dataclass
class Reconciler:
    """Decides credits transaction by transaction, in decision order, keeping the running totals.

    A refund that finds no credited purchase waits (``pending``) while its purchase may still
    arrive; when that purchase is decided, the refund is applied right after its credit and
    listed in ``settled`` for the caller to store.
    """

    campaigns: Mapping[str, Campaign]  # by id
    campaigns_by_mid: Mapping[str, tuple[Campaign, ...]]
    enrolled_on: Mapping[str, date]  # enrolment day, by enrolment_key(member id, campaign id)
    used: dict[tuple[str, str], int]  # (member, campaign) -> credits held now
    spent: dict[str, int]  # campaign id -> cents credited net of clawbacks
    purchases: dict[str, list[CreditedPurchase]] = field(default_factory=dict)  # by purchase id
    by_member: dict[str, list[CreditedPurchase]] = field(default_factory=dict)
    touched: dict[str, CreditedPurchase] = field(default_factory=dict)  # refunded since last forget
    today: date | None = None  # refunds wait REFUND_MATCH_DAYS from their day for their purchase
    # Refunds waiting for their purchase, by member, in decision order.
    pending: dict[str, list[Txn]] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)  # purchase ids decided (here or in the ledger)
    held: set[tuple[str, str]] = field(default_factory=set)  # (purchase, campaign) credited before
    applied_before: dict[str, frozenset[str]] = field(default_factory=dict)  # refund -> campaigns
    settled: list[tuple[Txn, list[Verdict]]] = field(default_factory=list)  # waiting refunds applied
    _terms: dict[str, _Terms] = field(default_factory=dict)
    # A backtest: every linked member counts as enrolled in every campaign from its enrol_from,
    # whatever ``enrolled_on`` holds.
    everyone_enrolled: bool = False

    def __post_init__(self) -> None:
        self._terms = {cid: _Terms.of(c) for cid, c in self.campaigns.items()}

    def terms(self, campaign: Campaign) -> _Terms:
        """Return the campaign's rules in cents."""
        return self._terms[campaign.id]

    def remember(self, credited: Iterable[CreditedPurchase]) -> None:
        """Make earlier credits known, so refunds in this batch can reverse them."""
        for item in credited:
            known = self.purchases.setdefault(item.credit.transaction_id, [])
            if all(k.credit.credit_id != item.credit.credit_id for k in known):
                self._index(item)

    def wait(self, refunds: Iterable[Txn]) -> None:
        """Make refunds known that wait for their purchase (passed already, in decision order)."""
        for refund in refunds:
            waiting = self.pending.setdefault(refund.member_id, [])
            if all(w.transaction_id != refund.transaction_id for w in waiting):
                waiting.append(refund)

    def take_settled(self) -> list[tuple[Txn, list[Verdict]]]:
        """Return the waiting refunds applied since last asked, with their verdicts."""
        settled, self.settled = self.settled, []
        return settled

    def forget(self) -> None:
        """Drop what was kept for this batch once it is safely stored (keeps memory flat)."""
        self.purchases.clear()
        self.by_member.clear()
        self.touched.clear()
        self.pending.clear()
        self.known.clear()
        self.held.clear()
        self.applied_before.clear()
        self.settled.clear()

    def _index(self, item: CreditedPurchase) -> None:
        self.purchases.setdefault(item.credit.transaction_id, []).append(item)
        self.by_member.setdefault(item.credit.member_id, []).append(item)

    def evaluate(self, txn: Txn) -> list[Verdict]:
        """Return one verdict per campaign the transaction's merchant belongs to."""
        if txn.kind == "refund":
            return self._refund(txn)
        verdicts = [self._purchase(txn, c) for c in self.campaigns_by_mid.get(txn.merchant_id, ())]
        self.known.add(txn.transaction_id)
        if self.pending and txn.member_id in self.pending:
            self._settle(txn)
        return verdicts

    def _purchase(self, txn: Txn, campaign: Campaign) -> Verdict:
        cid = campaign.id
        if self.held and (txn.transaction_id, cid) in self.held:
            return Verdict(cid, TxnOutcome.ALREADY_CREDITED, "by an earlier run")
        since = self.enrolled_on.get(f"{txn.member_id}\t{cid}")  # enrolment_key, inline: per row
        if since is None:
            if not self.everyone_enrolled:
                return Verdict(cid, TxnOutcome.NOT_ENROLLED, "the member had not enrolled")
            since = campaign.enrol_from
        if campaign.retired:  # earns nothing new; refunds of its credits still claw back
            return Verdict(cid, TxnOutcome.RETIRED, "the campaign is retired")
        if txn.currency != campaign.currency:
            return Verdict(cid, TxnOutcome.CURRENCY_MISMATCH,
                           f"{txn.currency}, campaign is {campaign.currency}")
        if txn.day < since:
            return Verdict(cid, TxnOutcome.OUTSIDE_WINDOW, f"before enrolment on {since}")
        if txn.day > campaign.redeem_by:
            return Verdict(cid, TxnOutcome.OUTSIDE_WINDOW, f"after redeem_by {campaign.redeem_by}")
        terms = self._terms[cid]
        if txn.cents < terms.min_cents:
            return Verdict(cid, TxnOutcome.BELOW_MINIMUM, terms.below_minimum)
        key = (txn.member_id, cid)
        if self.used.get(key, 0) >= campaign.per_member:
            return Verdict(cid, TxnOutcome.LIMIT_REACHED, terms.limit_reached)
        amount = terms.credit_for(txn.cents)
        if amount <= 0:  # a percentage of a few cents: no $0.00 credit, and no slot used up
            return Verdict(cid, TxnOutcome.BELOW_MINIMUM, "earns less than a cent")
        spent = self.spent.get(cid, 0)
        if terms.budget_cents is not None and spent + amount > terms.budget_cents:
            return Verdict(cid, TxnOutcome.BUDGET_EXHAUSTED,
                           f"{(terms.budget_cents - spent) / 100:.2f} of the budget left")
        credit = Credit(credit_id(CREDIT, cid, txn.transaction_id), txn.transaction_id, cid,
                        txn.member_id, CREDIT, amount, txn.currency, txn.last4, txn.cents,
                        txn.merchant_id, txn.day)
        self.used[key] = self.used.get(key, 0) + 1
        self.spent[cid] = spent + amount
        self._index(CreditedPurchase(credit))
        return Verdict(cid, TxnOutcome.CREDITED, "", credit)

    def _refund(self, txn: Txn) -> list[Verdict]:
        credited = self._original(txn)
        done = self.applied_before.get(txn.transaction_id) if self.applied_before else None
        if done is not None:  # --again: what an earlier run applied stays; the rest is applied now
            before = [Verdict(c, TxnOutcome.REFUND_ALREADY_APPLIED, "by an earlier run")
                      for c in sorted(done)]
            return before + [self._reverse(txn, p) for p in credited if p.credit.campaign_id not in done]
        if credited:
            return [self._reverse(txn, item) for item in credited]
        campaigns = self.campaigns_by_mid.get(txn.merchant_id, ())
        named = txn.original_id
        if (named is None or named not in self.known) and self._may_wait(txn, campaigns):
            self.pending.setdefault(txn.member_id, []).append(txn)
            detail = f"waiting for purchase {named}" if named else "waiting for its purchase"
            return [Verdict(c.id, TxnOutcome.REFUND_PENDING, detail) for c in campaigns]
        return self._nothing_to_reverse(txn)

    def _nothing_to_reverse(self, txn: Txn) -> list[Verdict]:
        campaigns = self.campaigns_by_mid.get(txn.merchant_id, ())
        return [Verdict(c.id, TxnOutcome.REFUND_UNMATCHED, "no credited purchase found") for c in campaigns]

    def _may_wait(self, txn: Txn, campaigns: tuple[Campaign, ...]) -> bool:
        """Tell whether the refund's purchase could still arrive and earn a credit it would reverse."""
        if not campaigns or not can_wait(txn.day, self.today):
            return False
        return self.everyone_enrolled or not enrolled_in_none(self.enrolled_on, txn.member_id,
                                                              tuple(c.id for c in campaigns))

    def _settle(self, purchase: Txn) -> None:
        """Apply the waiting refunds that name or match the purchase just decided, right after it."""
        waiting = self.pending[purchase.member_id]
        tid = purchase.transaction_id
        credited = [p for p in self.purchases.get(tid, ()) if p.credit.member_id == purchase.member_id]
        latest = purchase.day + timedelta(days=REFUND_MATCH_DAYS)
        for refund in list(waiting):
            if refund.original_id == tid:
                verdicts = [self._reverse(refund, p) for p in credited] or self._nothing_to_reverse(refund)
            elif (refund.original_id is None and credited and refund.merchant_id == purchase.merchant_id
                  and refund.cents == purchase.cents and purchase.day <= refund.day <= latest
                  and all(p.refunded_cents == 0 for p in credited)):
                verdicts = [self._reverse(refund, p) for p in credited]
            else:
                continue
            waiting.remove(refund)
            self.settled.append((refund, verdicts))
        if not waiting:
            del self.pending[purchase.member_id]

    def _original(self, txn: Txn) -> list[CreditedPurchase]:
        """Return the credits on the purchase this refund undoes (by reference, else by match)."""
        if txn.original_id is not None:
            return [p for p in self.purchases.get(txn.original_id, ()) if p.credit.member_id == txn.member_id]
        earliest = txn.day - timedelta(days=REFUND_MATCH_DAYS)
        candidates = [p for p in self.by_member.get(txn.member_id, ())
                      if p.credit.merchant_id == txn.merchant_id and p.credit.basis_cents == txn.cents
                      and earliest <= p.credit.day <= txn.day and p.refunded_cents == 0]
        if not candidates:
            return []
        latest = max(candidates, key=lambda p: (p.credit.day, p.credit.transaction_id))
        return [p for p in self.purchases[latest.credit.transaction_id] if p.refunded_cents == 0]

    def _reverse(self, txn: Txn, item: CreditedPurchase) -> Verdict:
        """Claw back what the refund un-earns: all below the minimum, else (percent) the excess."""
        credit = item.credit
        cid = credit.campaign_id
        if item.open_cents <= 0:
            return Verdict(cid, TxnOutcome.REFUND_UNMATCHED, "the credit was already taken back")
        campaign = self.campaigns.get(cid)
        item.refunded_cents += txn.cents
        self.touched[credit.credit_id] = item
        net = credit.basis_cents - item.refunded_cents
        if campaign is None:
            return Verdict(cid, TxnOutcome.REFUND_KEPT, "the campaign is no longer configured")
        terms = self.terms(campaign)
        deserved = 0 if net < max(terms.min_cents, 1) else min(terms.credit_for(net), credit.cents)
        take = item.open_cents - deserved
        if take <= 0:
            return Verdict(cid, TxnOutcome.REFUND_KEPT, f"{net / 100:.2f} still qualifies")
        clawback = Credit(credit_id(CLAWBACK, cid, txn.transaction_id), txn.transaction_id, cid,
                          credit.member_id, CLAWBACK, -take, credit.currency, credit.last4, txn.cents,
                          credit.merchant_id, txn.day, reverses=credit.credit_id)
        item.reversed_cents += take
        self.spent[cid] = self.spent.get(cid, 0) - take
        if deserved == 0:  # the purchase no longer counts: the member may earn the credit again
            key = (credit.member_id, cid)
            self.used[key] = max(self.used.get(key, 0) - 1, 0)
        return Verdict(cid, TxnOutcome.CLAWBACK, f"refund leaves {max(net, 0) / 100:.2f}", clawback)
