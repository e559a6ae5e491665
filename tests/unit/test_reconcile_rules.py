"""Reconciliation rules: which purchases earn a credit, which refunds take one back, all in cents."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.domain.campaigns import Campaign
from bot.domain.money import from_cents, to_cents
from bot.domain.reconcile import (
    Credit,
    CreditedPurchase,
    Reconciler,
    Txn,
    TxnOutcome,
    Verdict,
    _Terms,
    credit_id,
    decision_key,
    enrolment_key,
    refund_state,
)
from tests.fakes import campaign

MCD = "MID-MCD-0001"
CID = "amex-mcdonalds"
ALICE, BOB = "1001", "1002"
ENROLLED = date(2026, 11, 20)
DAY = date(2026, 11, 23)
REDEEM_BY = date(2027, 1, 31)  # the campaign() builder's redeem_by


def percent_campaign(**overrides: Any) -> Campaign:
    """A McDonald's campaign paying 10% back, up to $50, on $5+ (any field overridden)."""
    values: dict[str, Any] = {"credit": None, "percent": Decimal("10"), "max_credit": Decimal("50.00")}
    values.update(overrides)
    return campaign(**values)


def reconciler(*campaigns: Campaign, enrolled: dict[str, date] | None = None,
               used: dict[tuple[str, str], int] | None = None,
               spent: dict[str, int] | None = None, today: date | None = None) -> Reconciler:
    """A Reconciler over the campaigns (default: the $5 McDonald's one), Alice enrolled in each on Nov 20."""
    campaigns = campaigns or (campaign(),)
    by_mid: dict[str, tuple[Campaign, ...]] = {}
    for c in campaigns:
        for mid in c.merchant_ids:
            by_mid[mid] = (*by_mid.get(mid, ()), c)
    if enrolled is None:
        enrolled = {enrolment_key(ALICE, c.id): ENROLLED for c in campaigns}
    return Reconciler({c.id: c for c in campaigns}, by_mid, enrolled,
                      {} if used is None else used, {} if spent is None else spent, today=today)


def purchase(tid: str = "T1", cents: int = 1200, *, day: date = DAY, member: str = ALICE, mid: str = MCD,
             currency: str = "USD", last4: str = "0005") -> Txn:
    """A purchase by a linked member (Alice, card ending 0005, $12.00 at McDonald's on Nov 23)."""
    return Txn(2, tid, member, last4, mid, cents, currency, day, "purchase")


def refund(tid: str = "R1", cents: int = 1200, *, original: str | None = None, day: date = DAY,
           member: str = ALICE, mid: str = MCD, last4: str = "0005") -> Txn:
    """A refund by a linked member, with or without a reference to the original purchase."""
    return Txn(3, tid, member, last4, mid, cents, "USD", day, "refund", original)


def only(verdicts: list[Verdict]) -> Verdict:
    """Return the single verdict of a transaction at a one-campaign merchant."""
    assert len(verdicts) == 1
    return verdicts[0]


def credited(r: Reconciler, txn: Txn) -> Credit:
    """Evaluate a purchase that must be credited and return its credit."""
    verdict = only(r.evaluate(txn))
    assert verdict.outcome is TxnOutcome.CREDITED, verdict
    assert verdict.credit is not None
    return verdict.credit


# --- purchases ----------------------------------------------------------------------------------


def test_qualifying_purchase_is_credited() -> None:
    """A qualifying purchase earns the fixed credit, with the card's last 4 and the purchase as basis."""
    r = reconciler()
    verdict = only(r.evaluate(purchase()))
    assert verdict == Verdict(CID, TxnOutcome.CREDITED, "", Credit(
        credit_id("credit", CID, "T1"), "T1", CID, ALICE, "credit", 500, "USD", "0005", 1200, MCD, DAY, None))
    assert r.used == {(ALICE, CID): 1}
    assert r.spent == {CID: 500}


def test_credit_id_is_derived_from_what_it_is_for() -> None:
    """A credit id is the same for the same kind, campaign and transaction, and differs otherwise."""
    first = credit_id("credit", CID, "T1")
    assert first == credit_id("credit", CID, "T1")
    assert first.startswith("CR")
    assert len(first) == 20
    assert first[2:] == first[2:].upper()
    others = {credit_id("clawback", CID, "T1"), credit_id("credit", "amex-zappos", "T1"),
              credit_id("credit", CID, "T2")}
    assert first not in others
    assert len(others) == 3


def test_rerun_derives_the_same_credit() -> None:
    """Two reconcilers deciding the same purchase issue credits with the same id."""
    assert credited(reconciler(), purchase()) == credited(reconciler(), purchase())


@pytest.mark.parametrize(
    ("day", "outcome", "detail"),
    [
        (ENROLLED - timedelta(days=1), TxnOutcome.OUTSIDE_WINDOW, "before enrolment on 2026-11-20"),
        (ENROLLED, TxnOutcome.CREDITED, ""),
        (REDEEM_BY, TxnOutcome.CREDITED, ""),
        (REDEEM_BY + timedelta(days=1), TxnOutcome.OUTSIDE_WINDOW, "after redeem_by 2027-01-31"),
    ],
)
def test_purchase_window_runs_from_enrolment_day_to_redeem_by(day: date, outcome: TxnOutcome,
                                                               detail: str) -> None:
    """Purchases count from the enrolment day through redeem_by, both days included."""
    verdict = only(reconciler().evaluate(purchase(day=day)))
    assert (verdict.outcome, verdict.detail) == (outcome, detail)
    assert (verdict.credit is not None) == (outcome is TxnOutcome.CREDITED)


@pytest.mark.parametrize(
    ("cents", "outcome"),
    [(1, TxnOutcome.BELOW_MINIMUM), (499, TxnOutcome.BELOW_MINIMUM), (500, TxnOutcome.CREDITED),
     (501, TxnOutcome.CREDITED)],
)
def test_minimum_spend_is_inclusive(cents: int, outcome: TxnOutcome) -> None:
    """A purchase of exactly min_spend qualifies; one cent less does not."""
    r = reconciler()
    verdict = only(r.evaluate(purchase(cents=cents)))
    assert verdict.outcome is outcome
    if outcome is TxnOutcome.BELOW_MINIMUM:
        assert verdict.detail == "under the 5.00 minimum"
        assert verdict.credit is None
        assert r.used == {}
        assert r.spent == {}


def test_purchase_in_other_currency_is_not_credited() -> None:
    """A purchase in another currency than the campaign's earns nothing and says which."""
    r = reconciler()
    verdict = only(r.evaluate(purchase(currency="EUR")))
    assert (verdict.outcome, verdict.detail, verdict.credit) == (
        TxnOutcome.CURRENCY_MISMATCH, "EUR, campaign is USD", None)
    assert r.used == {}


@pytest.mark.parametrize(
    "enrolled",
    [{}, {enrolment_key(BOB, CID): ENROLLED}, {enrolment_key(ALICE, "amex-zappos"): ENROLLED}],
    ids=["nobody", "another member", "another campaign"],
)
def test_purchase_by_member_not_enrolled_is_not_credited(enrolled: dict[str, date]) -> None:
    """A linked member who did not enrol in the campaign gets no credit for it."""
    r = reconciler(enrolled=enrolled)
    verdict = only(r.evaluate(purchase()))
    assert (verdict.outcome, verdict.credit) == (TxnOutcome.NOT_ENROLLED, None)
    assert r.used == {}


@pytest.mark.parametrize(
    ("per_member", "outcomes"),
    [
        (1, [TxnOutcome.CREDITED, TxnOutcome.LIMIT_REACHED, TxnOutcome.LIMIT_REACHED]),
        (2, [TxnOutcome.CREDITED, TxnOutcome.CREDITED, TxnOutcome.LIMIT_REACHED]),
        (3, [TxnOutcome.CREDITED, TxnOutcome.CREDITED, TxnOutcome.CREDITED]),
    ],
)
def test_member_earns_at_most_per_member_credits(per_member: int, outcomes: list[TxnOutcome]) -> None:
    """A member's credits per campaign stop at per_member; later purchases say the limit is reached."""
    r = reconciler(campaign(per_member=per_member))
    got = [only(r.evaluate(purchase(f"T{n}"))) for n in range(1, 4)]
    assert [v.outcome for v in got] == outcomes
    for verdict in got:
        if verdict.outcome is TxnOutcome.LIMIT_REACHED:
            assert verdict.detail == f"{per_member} credit(s) already given"
    assert r.used == {(ALICE, CID): min(per_member, 3)}


def test_credits_held_from_earlier_files_count_toward_the_limit() -> None:
    """Credits the ledger already holds (used) use up the member's allowance."""
    r = reconciler(used={(ALICE, CID): 1})
    assert only(r.evaluate(purchase())).outcome is TxnOutcome.LIMIT_REACHED
    assert only(r.evaluate(purchase(member=BOB))).outcome is TxnOutcome.NOT_ENROLLED


def test_limit_is_per_member() -> None:
    """One member's credit does not use up another member's allowance."""
    enrolled = {enrolment_key(ALICE, CID): ENROLLED, enrolment_key(BOB, CID): ENROLLED}
    r = reconciler(enrolled=enrolled)
    credited(r, purchase("T1"))
    credited(r, purchase("T2", member=BOB))
    assert r.used == {(ALICE, CID): 1, (BOB, CID): 1}
    assert r.spent == {CID: 1000}


def test_fixed_credit_budget_stops_at_the_credit_that_would_pass_it() -> None:
    """With $12 of a $20 budget spent, one $5 credit fits and the next would pass the budget."""
    enrolled = {enrolment_key(m, CID): ENROLLED for m in ("1001", "1002", "1003")}
    r = reconciler(campaign(budget=Decimal("20.00")), enrolled=enrolled, spent={CID: 1200})
    first = only(r.evaluate(purchase("T1", member="1001")))
    second = only(r.evaluate(purchase("T2", member="1002")))
    assert first.outcome is TxnOutcome.CREDITED
    assert (second.outcome, second.detail, second.credit) == (
        TxnOutcome.BUDGET_EXHAUSTED, "3.00 of the budget left", None)
    assert r.spent == {CID: 1700}
    assert r.used == {("1001", CID): 1}


def test_percent_budget_skips_a_credit_too_large_but_issues_a_later_one_that_fits() -> None:
    """A credit that would pass the budget is not issued; a later, smaller one that fits still is."""
    members = [f"10{n:02d}" for n in range(1, 7)]
    r = reconciler(percent_campaign(budget=Decimal("20.00")),
                   enrolled={enrolment_key(m, CID): ENROLLED for m in members})
    # (purchase cents, credit cents or None when the budget cannot take it)
    plan = [(10000, 1000), (15000, None), (8000, 800), (3000, None), (2000, 200), (100000, None)]
    for n, (cents, credit) in enumerate(plan):
        verdict = only(r.evaluate(purchase(f"T{n}", cents=cents, member=members[n])))
        if credit is None:
            assert verdict.outcome is TxnOutcome.BUDGET_EXHAUSTED
            assert verdict.credit is None
        else:
            assert verdict.outcome is TxnOutcome.CREDITED
            assert verdict.credit is not None
            assert verdict.credit.cents == credit
    assert r.spent == {CID: 2000}
    full = only(r.evaluate(purchase("T9", cents=500, member=members[5])))
    assert (full.outcome, full.detail) == (TxnOutcome.BUDGET_EXHAUSTED, "0.00 of the budget left")


@pytest.mark.parametrize(
    ("percent", "max_credit", "cents", "credit"),
    [
        ("10", "50.00", 1200, 120),
        ("10", "50.00", 12345, 1235),  # 1234.5 cents: half rounds up
        ("10", "50.00", 12344, 1234),
        ("10", "50.00", 12346, 1235),
        ("12.5", "50.00", 1004, 126),  # 125.5 -> 126
        ("12.5", "50.00", 1012, 127),  # 126.5 -> 127 (half up, not half even)
        ("12.5", "50.00", 1003, 125),  # 125.375
        ("33.33", "50.00", 1000, 333),  # 333.3
        ("33.33", "50.00", 1500, 500),  # 499.95 -> 500
        ("10", "50.00", 50000, 5000),  # exactly the cap
        ("10", "50.00", 50006, 5000),  # 5000.6 would round past the cap
        ("12.5", "50.00", 100000, 5000),  # capped
        ("100", "7.50", 600, 600),
        ("100", "7.50", 900, 750),
    ],
)
def test_percent_credit_is_rounded_half_up_and_capped(percent: str, max_credit: str, cents: int,
                                                      credit: int) -> None:
    """A percentage credit is the purchase times the rate, rounded half up to cents, at most max_credit."""
    c = percent_campaign(percent=Decimal(percent), max_credit=Decimal(max_credit))
    got = credited(reconciler(c), purchase(cents=cents))
    assert (got.cents, got.basis_cents) == (credit, cents)


def test_zero_cent_percent_credit_is_not_issued() -> None:
    """A percentage that rounds to $0.00 issues no credit and leaves the member's one credit unused."""
    r = reconciler(percent_campaign(min_spend=Decimal("0")))
    verdict = only(r.evaluate(purchase("T1", cents=4)))  # 10% of 4 cents is 0.4 cents
    cents = None if verdict.credit is None else verdict.credit.cents
    assert (verdict.outcome, cents) != (TxnOutcome.CREDITED, 0)
    assert verdict.credit is None
    assert r.used.get((ALICE, CID), 0) == 0
    assert credited(r, purchase("T2", cents=2000)).cents == 200


def test_merchant_in_two_campaigns_gets_a_verdict_from_each() -> None:
    """A merchant id shared by two campaigns gives one verdict (and credit) per campaign."""
    fixed = campaign()
    pct = percent_campaign(id="amex-mcd-percent", hashtag="#AmexMcdPercent")
    r = reconciler(fixed, pct)
    verdicts = r.evaluate(purchase(cents=2000))
    assert [(v.campaign_id, v.outcome) for v in verdicts] == [
        (CID, TxnOutcome.CREDITED), ("amex-mcd-percent", TxnOutcome.CREDITED)]
    assert [v.credit.cents for v in verdicts if v.credit] == [500, 200]
    assert [v.credit.credit_id for v in verdicts if v.credit] == [
        credit_id("credit", CID, "T1"), credit_id("credit", "amex-mcd-percent", "T1")]
    assert r.spent == {CID: 500, "amex-mcd-percent": 200}


def test_merchant_in_two_campaigns_judges_each_campaign_on_its_own() -> None:
    """Enrolled in one of two campaigns at the merchant: credited in that one, not enrolled in the other."""
    other = campaign(id="amex-mcd-two", hashtag="#AmexMcdTwo")
    r = reconciler(campaign(), other, enrolled={enrolment_key(ALICE, "amex-mcd-two"): ENROLLED})
    assert [(v.campaign_id, v.outcome) for v in r.evaluate(purchase())] == [
        (CID, TxnOutcome.NOT_ENROLLED), ("amex-mcd-two", TxnOutcome.CREDITED)]


def test_purchase_at_other_merchant_has_no_verdict() -> None:
    """A merchant no campaign names gives no verdict at all."""
    assert reconciler().evaluate(purchase(mid="MID-OTHER")) == []


def test_retired_campaign_earns_no_new_credit() -> None:
    """A purchase that would qualify earns nothing once the campaign is retired, and uses no slot."""
    r = reconciler(campaign(retired=True))
    assert r.evaluate(purchase("T1")) == [Verdict(CID, TxnOutcome.RETIRED, "the campaign is retired")]
    assert (r.spent, r.used) == ({}, {})


def test_retired_campaign_still_claws_back_a_refunded_credit() -> None:
    """A refund of a credit given before the campaign was retired still takes it back."""
    credit = credited(reconciler(), purchase("T1"))
    r = reconciler(campaign(retired=True), spent={CID: 500}, used={(ALICE, CID): 1})
    r.remember([CreditedPurchase(credit)])
    verdict = only(r.evaluate(refund("R1", original="T1", day=DAY + timedelta(days=2))))
    assert verdict.outcome is TxnOutcome.CLAWBACK
    assert verdict.credit is not None
    assert verdict.credit.cents == -500
    assert r.spent == {CID: 0}


# --- refunds ------------------------------------------------------------------------------------


def test_full_refund_by_reference_claws_back_the_credit() -> None:
    """A refund naming a credited purchase and leaving less than min_spend gives a negative credit."""
    r = reconciler()
    credit = credited(r, purchase("T1"))
    verdict = only(r.evaluate(refund("R1", original="T1", day=DAY + timedelta(days=2))))
    assert verdict.outcome is TxnOutcome.CLAWBACK
    assert verdict.detail == "refund leaves 0.00"
    assert verdict.credit == Credit(credit_id("clawback", CID, "R1"), "R1", CID, ALICE, "clawback", -500,
                                    "USD", "0005", 1200, MCD, DAY + timedelta(days=2),
                                    reverses=credit.credit_id)
    assert r.spent == {CID: 0}
    assert r.used == {(ALICE, CID): 0}


def test_clawback_frees_the_members_slot() -> None:
    """After a full clawback the purchase no longer counts, so a later purchase earns the credit again."""
    r = reconciler()
    credited(r, purchase("T1"))
    assert only(r.evaluate(purchase("T2"))).outcome is TxnOutcome.LIMIT_REACHED
    r.evaluate(refund("R1", original="T1"))
    again = credited(r, purchase("T3"))
    assert again.credit_id == credit_id("credit", CID, "T3")
    assert r.used == {(ALICE, CID): 1}
    assert r.spent == {CID: 500}


@pytest.mark.parametrize(
    ("refund_cents", "outcome", "detail", "clawed"),
    [
        (100, TxnOutcome.REFUND_KEPT, "11.00 still qualifies", 0),
        (700, TxnOutcome.REFUND_KEPT, "5.00 still qualifies", 0),  # leaves exactly min_spend
        (701, TxnOutcome.CLAWBACK, "refund leaves 4.99", 500),
        (1200, TxnOutcome.CLAWBACK, "refund leaves 0.00", 500),
        (1500, TxnOutcome.CLAWBACK, "refund leaves 0.00", 500),  # more than the purchase
    ],
)
def test_fixed_credit_is_kept_while_the_purchase_still_qualifies(refund_cents: int, outcome: TxnOutcome,
                                                                 detail: str, clawed: int) -> None:
    """A partial refund that leaves at least min_spend keeps a fixed credit; below it, all is clawed back."""
    r = reconciler()
    credited(r, purchase("T1", cents=1200))
    verdict = only(r.evaluate(refund("R1", refund_cents, original="T1")))
    assert (verdict.outcome, verdict.detail) == (outcome, detail)
    assert (0 if verdict.credit is None else -verdict.credit.cents) == clawed
    assert r.spent == {CID: 500 - clawed}
    assert r.used == {(ALICE, CID): 0 if clawed else 1}


def test_two_partial_refunds_accumulate_for_a_fixed_credit() -> None:
    """Two refunds each leaving enough keep nothing back until together they go below min_spend."""
    r = reconciler()
    credited(r, purchase("T1", cents=1200))
    first = only(r.evaluate(refund("R1", 400, original="T1")))
    second = only(r.evaluate(refund("R2", 400, original="T1")))
    assert first.outcome is TxnOutcome.REFUND_KEPT
    assert second.outcome is TxnOutcome.CLAWBACK
    assert second.detail == "refund leaves 4.00"
    assert second.credit is not None
    assert second.credit.cents == -500
    assert r.spent == {CID: 0}


def test_partial_refund_on_percent_campaign_claws_back_the_excess_only() -> None:
    """10% of $100 is $10; refunds of $40 then $30 take back $4 then $3, and the member keeps the slot."""
    r = reconciler(percent_campaign())
    credit = credited(r, purchase("T1", cents=10000))
    assert credit.cents == 1000
    first = only(r.evaluate(refund("R1", 4000, original="T1")))
    assert first.outcome is TxnOutcome.CLAWBACK
    assert first.credit is not None
    assert (first.credit.cents, first.credit.reverses, first.detail) == (-400, credit.credit_id,
                                                                         "refund leaves 60.00")
    assert r.spent == {CID: 600}
    assert r.used == {(ALICE, CID): 1}
    second = only(r.evaluate(refund("R2", 3000, original="T1")))
    assert second.credit is not None
    assert second.credit.cents == -300
    assert r.spent == {CID: 300}
    assert r.used == {(ALICE, CID): 1}
    rest = only(r.evaluate(refund("R3", 3000, original="T1")))
    assert rest.credit is not None
    assert rest.credit.cents == -300
    assert r.spent == {CID: 0}
    assert r.used == {(ALICE, CID): 0}


def test_partial_refund_on_capped_percent_credit_keeps_it_while_the_cap_still_applies() -> None:
    """10% of $1000 capped at $50: a $200 refund still leaves $80 of credit earned, so nothing is taken."""
    r = reconciler(percent_campaign())
    assert credited(r, purchase("T1", cents=100000)).cents == 5000
    verdict = only(r.evaluate(refund("R1", 20000, original="T1")))
    assert verdict.outcome is TxnOutcome.REFUND_KEPT
    claw = only(r.evaluate(refund("R2", 60000, original="T1")))  # leaves $200: $20 deserved
    assert claw.credit is not None
    assert claw.credit.cents == -3000
    assert r.spent == {CID: 2000}


def test_refund_of_a_purchase_credited_in_two_campaigns_reverses_both() -> None:
    """A refund of a purchase credited by two campaigns claws back each campaign's credit."""
    pct = percent_campaign(id="amex-mcd-percent", hashtag="#AmexMcdPercent")
    r = reconciler(campaign(), pct)
    r.evaluate(purchase("T1", cents=2000))
    verdicts = r.evaluate(refund("R1", 2000))
    assert [(v.campaign_id, v.outcome, v.credit.cents if v.credit else None) for v in verdicts] == [
        (CID, TxnOutcome.CLAWBACK, -500), ("amex-mcd-percent", TxnOutcome.CLAWBACK, -200)]
    assert r.spent == {CID: 0, "amex-mcd-percent": 0}


@pytest.mark.parametrize("days_later", [0, 1, 29, 30])
def test_unreferenced_refund_within_30_days_matches_by_card_merchant_and_amount(days_later: int) -> None:
    """A refund without a reference reverses a credited purchase of the same amount up to 30 days before."""
    r = reconciler(campaign(redeem_by=date(2027, 6, 30)))
    credit = credited(r, purchase("T1", cents=1200, day=DAY))
    verdict = only(r.evaluate(refund("R1", 1200, day=DAY + timedelta(days=days_later))))
    assert verdict.outcome is TxnOutcome.CLAWBACK
    assert verdict.credit is not None
    assert verdict.credit.reverses == credit.credit_id


WAITS = "waiting for its purchase"


@pytest.mark.parametrize(
    ("txn", "outcome", "detail"),
    [
        (refund("R1", 1200, day=DAY + timedelta(days=31)), TxnOutcome.REFUND_PENDING, WAITS),
        (refund("R1", 1100), TxnOutcome.REFUND_PENDING, WAITS),
        (refund("R1", 1200, member=BOB), TxnOutcome.REFUND_UNMATCHED, "no credited purchase found"),
        (refund("R1", 1200, day=DAY - timedelta(days=1)), TxnOutcome.REFUND_PENDING, WAITS),
    ],
    ids=["31 days later", "other amount", "other member", "before the purchase"],
)
def test_unreferenced_refund_that_matches_nothing_reverses_nothing(txn: Txn, outcome: TxnOutcome,
                                                                  detail: str) -> None:
    """A refund unlike any credited purchase of the card within 30 days reverses nothing: it waits
    for its purchase, unless the member is enrolled in none of the merchant's campaigns."""
    r = reconciler(campaign(redeem_by=date(2027, 6, 30)))
    credited(r, purchase("T1", cents=1200, day=DAY))
    verdict = only(r.evaluate(txn))
    assert (verdict.outcome, verdict.detail, verdict.credit) == (outcome, detail, None)
    assert r.spent == {CID: 500}
    assert r.used == {(ALICE, CID): 1}
    assert (ALICE in r.pending) == (outcome is TxnOutcome.REFUND_PENDING)


def test_unreferenced_refund_reverses_the_latest_matching_purchase_first() -> None:
    """Of two same-amount credited purchases, an unreferenced refund reverses the later, then the earlier."""
    r = reconciler(campaign(per_member=2))
    early = credited(r, purchase("T1", cents=1200, day=date(2026, 11, 21)))
    late = credited(r, purchase("T2", cents=1200, day=date(2026, 11, 23)))
    first = only(r.evaluate(refund("R1", 1200, day=date(2026, 12, 1))))
    second = only(r.evaluate(refund("R2", 1200, day=date(2026, 12, 1))))
    assert first.credit is not None
    assert second.credit is not None
    assert (first.credit.reverses, second.credit.reverses) == (late.credit_id, early.credit_id)
    third = only(r.evaluate(refund("R3", 1200, day=date(2026, 12, 1))))
    assert third.outcome is TxnOutcome.REFUND_PENDING  # nothing left to match: it waits
    assert r.spent == {CID: 0}
    assert r.used == {(ALICE, CID): 0}


@pytest.mark.parametrize(("original", "outcome"), [("T1", TxnOutcome.REFUND_UNMATCHED),
                                                    (None, TxnOutcome.REFUND_PENDING)],
                         ids=["by reference", "by match"])
def test_refund_of_an_uncredited_purchase_reverses_nothing(original: str | None, outcome: TxnOutcome) -> None:
    """A refund naming a purchase that earned nothing (below the minimum) has nothing to reverse, at once;
    one naming none matches only credited purchases, so it waits for one that may still come."""
    r = reconciler()
    assert only(r.evaluate(purchase("T1", cents=300))).outcome is TxnOutcome.BELOW_MINIMUM
    verdict = only(r.evaluate(refund("R1", 300, original=original)))
    assert verdict.outcome is outcome
    assert r.spent == {}


def test_refund_naming_another_members_purchase_is_unmatched() -> None:
    """A refund on one card cannot reverse a credit earned on another member's card."""
    enrolled = {enrolment_key(ALICE, CID): ENROLLED, enrolment_key(BOB, CID): ENROLLED}
    r = reconciler(enrolled=enrolled)
    credited(r, purchase("T1"))
    verdict = only(r.evaluate(refund("R1", original="T1", member=BOB)))
    assert verdict.outcome is TxnOutcome.REFUND_UNMATCHED
    assert r.spent == {CID: 500}


def test_refund_at_merchant_outside_campaigns_has_no_verdict() -> None:
    """A refund that reverses nothing at a merchant no campaign names gives no verdict."""
    assert reconciler().evaluate(refund("R1", mid="MID-OTHER")) == []


def test_remembered_credits_can_be_reversed() -> None:
    """Credits stored by an earlier batch, once remembered, are reversed by a refund in this one."""
    stored = Credit(credit_id("credit", CID, "T1"), "T1", CID, ALICE, "credit", 500, "USD", "0005", 1200,
                    MCD, DAY, None)
    r = reconciler(used={(ALICE, CID): 1}, spent={CID: 500})
    assert only(r.evaluate(refund("R1", original="T1"))).outcome is TxnOutcome.REFUND_PENDING  # T1 unknown
    item = CreditedPurchase(stored)
    r.remember([item])
    r.remember([CreditedPurchase(stored)])  # remembered twice: still one credit
    verdict = only(r.evaluate(refund("R2", original="T1")))
    assert verdict.outcome is TxnOutcome.CLAWBACK
    assert verdict.credit is not None
    assert (verdict.credit.cents, verdict.credit.reverses) == (-500, stored.credit_id)
    assert (item.refunded_cents, item.reversed_cents, item.open_cents) == (1200, 500, 0)
    assert r.touched == {stored.credit_id: item}
    assert r.spent == {CID: 0}
    assert r.used == {(ALICE, CID): 0}


def test_remembered_partial_refunds_carry_on() -> None:
    """A stored credit already partly refunded takes the earlier refunds into account."""
    stored = Credit(credit_id("credit", CID, "T1"), "T1", CID, ALICE, "credit", 500, "USD", "0005", 1200,
                    MCD, DAY, None)
    r = reconciler(used={(ALICE, CID): 1}, spent={CID: 500})
    r.remember([CreditedPurchase(stored, refunded_cents=400)])
    verdict = only(r.evaluate(refund("R2", 400, original="T1")))  # 12.00 - 4.00 - 4.00 < 5.00
    assert verdict.outcome is TxnOutcome.CLAWBACK


def test_forget_drops_the_credits_kept_for_refunds() -> None:
    """After forget() a refund no longer finds credits decided earlier (they are in the database by then)."""
    r = reconciler()
    credited(r, purchase("T1"))
    r.evaluate(refund("R0", 100, original="T1"))
    assert r.touched
    r.forget()
    assert (r.purchases, r.by_member, r.touched, r.known, r.pending) == ({}, {}, {}, set(), {})
    # T1 is unknown now
    assert only(r.evaluate(refund("R1", original="T1"))).outcome is TxnOutcome.REFUND_PENDING
    assert r.used == {(ALICE, CID): 1}  # the running totals stay
    assert r.spent == {CID: 500}


def test_spent_and_used_follow_credits_and_clawbacks() -> None:
    """spent is cents credited net of clawbacks, and used the credits each member holds now."""
    enrolled = {enrolment_key(ALICE, CID): ENROLLED, enrolment_key(BOB, CID): ENROLLED}
    r = reconciler(campaign(per_member=2), enrolled=enrolled, used={(BOB, CID): 1}, spent={CID: 500})
    credited(r, purchase("T1"))
    credited(r, purchase("T2", member=BOB))
    assert (r.spent, r.used) == ({CID: 1500}, {(ALICE, CID): 1, (BOB, CID): 2})
    r.evaluate(refund("R1", original="T2", member=BOB))
    assert (r.spent, r.used) == ({CID: 1000}, {(ALICE, CID): 1, (BOB, CID): 1})
    r.evaluate(refund("R2", original="T1"))
    assert (r.spent, r.used) == ({CID: 500}, {(ALICE, CID): 0, (BOB, CID): 1})


# --- the integer arithmetic equals the Decimal rule ---------------------------------------------


@pytest.mark.parametrize("percent", ["10", "12.5", "33.33", "99.99", "0.5", "7.25", "1", "100", "66.667"])
def test_integer_credit_equals_decimal_credit(percent: str) -> None:
    """_Terms.credit_for in integer cents equals Campaign.credit_for in Decimal for a sweep of amounts."""
    c = percent_campaign(percent=Decimal(percent), max_credit=Decimal("250.00"))
    terms = _Terms.of(c)
    amounts = [*range(1, 3001), *range(3001, 2_000_000, 997), 99_999_999_999_999]
    for cents in amounts:
        assert terms.credit_for(cents) == to_cents(c.credit_for(from_cents(cents))), cents


def test_fixed_terms_credit_is_the_fixed_amount() -> None:
    """A fixed-credit campaign's terms give the credit whatever the purchase."""
    terms = _Terms.of(campaign(credit=Decimal("7.50"), min_spend=Decimal("20.00"), budget=Decimal("100.00")))
    money = (terms.min_cents, terms.credit_cents, terms.max_cents, terms.budget_cents)
    assert money == (2000, 750, None, 10000)
    assert {terms.credit_for(c) for c in (1, 2000, 10**9)} == {750}


def test_refund_of_an_already_clawed_back_purchase_reverses_nothing() -> None:
    """A second refund of a purchase whose credit was taken back in full has nothing left to reverse."""
    r = reconciler()
    credited(r, purchase("T1"))
    assert only(r.evaluate(refund("R1", original="T1"))).outcome is TxnOutcome.CLAWBACK
    again = only(r.evaluate(refund("R2", original="T1")))
    assert (again.outcome, again.credit) == (TxnOutcome.REFUND_UNMATCHED, None)
    assert r.spent == {CID: 0}
    assert r.used == {(ALICE, CID): 0}


def test_refund_of_a_credit_from_a_campaign_no_longer_configured_keeps_it() -> None:
    """A remembered credit whose campaign has gone from the catalogue is kept, not clawed back."""
    stored = Credit(credit_id("credit", "amex-gone", "T1"), "T1", "amex-gone", ALICE, "credit", 500, "USD",
                    "0005", 1200, MCD, DAY, None)
    r = reconciler()
    r.remember([CreditedPurchase(stored)])
    verdict = only(r.evaluate(refund("R1", original="T1")))
    assert (verdict.campaign_id, verdict.outcome, verdict.credit) == (
        "amex-gone", TxnOutcome.REFUND_KEPT, None)
    assert verdict.detail == "the campaign is no longer configured"


# --- refunds that wait for their purchase -------------------------------------------------------


def settled_of(r: Reconciler) -> list[tuple[str, list[tuple[TxnOutcome, int | None]]]]:
    """The waiting refunds a purchase settled: (refund id, [(outcome, clawback cents)])."""
    return [(t.transaction_id, [(v.outcome, v.credit.cents if v.credit else None) for v in vs])
            for t, vs in r.take_settled()]


@pytest.mark.parametrize("original", ["T1", None], ids=["by reference", "by match"])
def test_a_refund_before_its_purchase_waits_and_is_applied_right_after_it(original: str | None) -> None:
    """A refund decided before its purchase waits; the purchase is credited, then the refund claws it back."""
    r = reconciler()
    waiting = only(r.evaluate(refund("R1", 1200, original=original)))
    assert (waiting.outcome, waiting.credit) == (TxnOutcome.REFUND_PENDING, None)
    assert waiting.detail == ("waiting for purchase T1" if original else "waiting for its purchase")

    credit = credited(r, purchase("T1", cents=1200, day=DAY - timedelta(days=2)))

    assert settled_of(r) == [("R1", [(TxnOutcome.CLAWBACK, -500)])]
    assert r.pending == {}
    assert (r.spent, r.used) == ({CID: 0}, {(ALICE, CID): 0})
    assert r.touched[credit.credit_id].reversed_cents == 500


def test_applying_a_waiting_refund_right_after_its_purchase_frees_the_members_slot() -> None:
    """One credit each: a purchase whose waiting refund took its credit back leaves room for another."""
    r = reconciler()
    r.evaluate(refund("R1", 1200, original="T1"))
    credited(r, purchase("T1", cents=1200))
    assert settled_of(r) == [("R1", [(TxnOutcome.CLAWBACK, -500)])]
    assert credited(r, purchase("T2", cents=900)).cents == 500


@pytest.mark.parametrize(("purchase_txn", "applies"), [
    (purchase("T1", cents=1200, day=DAY), True),
    (purchase("T1", cents=1200, day=DAY - timedelta(days=30)), True),
    (purchase("T1", cents=1200, day=DAY - timedelta(days=31)), False),
    (purchase("T1", cents=1200, day=DAY + timedelta(days=1)), False),
    (purchase("T1", cents=1100, day=DAY), False),
    (purchase("T1", cents=1200, day=DAY, mid="MID-MCD-0002"), False),
], ids=["same day", "30 days before", "31 days before", "after the refund", "other amount", "other merchant"])
def test_a_waiting_refund_without_a_reference_is_applied_to_a_matching_purchase_only(
        purchase_txn: Txn, applies: bool) -> None:
    """A waiting refund naming no purchase is applied to one of the same card, merchant and amount,
    dated at most 30 days before it; any other purchase leaves it waiting."""
    c = campaign(merchant_ids=("MID-MCD-0001", "MID-MCD-0002"), redeem_by=date(2027, 6, 30),
                 enrol_from=date(2026, 10, 1))
    r = reconciler(c, enrolled={enrolment_key(ALICE, CID): date(2026, 10, 1)})
    r.evaluate(refund("R1", 1200, day=DAY))
    assert only(r.evaluate(purchase_txn)).outcome is TxnOutcome.CREDITED
    assert [t for t, _ in settled_of(r)] == (["R1"] if applies else [])
    assert (ALICE in r.pending) is not applies


def test_a_waiting_refund_whose_named_purchase_earns_nothing_has_nothing_to_reverse() -> None:
    """When the purchase a waiting refund names is decided and earns no credit, the refund is settled so."""
    r = reconciler()
    r.evaluate(refund("R1", 300, original="T1"))
    assert only(r.evaluate(purchase("T1", cents=300))).outcome is TxnOutcome.BELOW_MINIMUM
    assert settled_of(r) == [("R1", [(TxnOutcome.REFUND_UNMATCHED, None)])]
    assert r.pending == {}


def test_only_the_first_of_two_waiting_refunds_matches_one_purchase() -> None:
    """Two waiting refunds of the same amount and no reference: the purchase takes back its credit once."""
    r = reconciler()
    r.evaluate(refund("R1", 1200))
    r.evaluate(refund("R2", 1200))
    credited(r, purchase("T1", cents=1200))
    assert settled_of(r) == [("R1", [(TxnOutcome.CLAWBACK, -500)])]
    assert [t.transaction_id for t in r.pending[ALICE]] == ["R2"]


def test_a_refund_waits_only_while_its_purchase_could_still_earn_a_credit() -> None:
    """No waiting for a member enrolled in none of the merchant's campaigns, nor past the 30-day window."""
    r = reconciler(today=DAY + timedelta(days=30))
    assert only(r.evaluate(refund("R1", member=BOB))).outcome is TxnOutcome.REFUND_UNMATCHED
    assert only(r.evaluate(refund("R2", day=DAY))).outcome is TxnOutcome.REFUND_PENDING
    late = only(r.evaluate(refund("R3", day=DAY - timedelta(days=1))))
    assert (late.outcome, late.detail) == (TxnOutcome.REFUND_UNMATCHED, "no credited purchase found")
    assert [t.transaction_id for t in r.pending[ALICE]] == ["R2"]


def test_refunds_known_to_wait_are_settled_by_their_purchase() -> None:
    """Waiting refunds from the ledger (wait()) are applied when their purchase is decided, each once."""
    r = reconciler()
    r.wait([refund("R1", 1200, original="T1")])
    r.wait([refund("R1", 1200, original="T1")])  # told twice: still one refund
    credited(r, purchase("T1", cents=1200))
    assert settled_of(r) == [("R1", [(TxnOutcome.CLAWBACK, -500)])]
    assert settled_of(r) == []


def test_a_purchase_credited_by_an_earlier_run_is_not_credited_or_counted_again() -> None:
    """--again: a purchase that holds its credit already says so, and uses no more of the limit or budget."""
    r = reconciler(campaign(per_member=2), used={(ALICE, CID): 1}, spent={CID: 500})
    r.held = {("T1", CID)}
    again = only(r.evaluate(purchase("T1")))
    assert (again.outcome, again.credit) == (TxnOutcome.ALREADY_CREDITED, None)
    assert (r.used, r.spent) == ({(ALICE, CID): 1}, {CID: 500})
    assert credited(r, purchase("T2")).cents == 500  # what was not issued before is issued now
    assert r.used == {(ALICE, CID): 2}


def test_decision_order_is_date_then_id() -> None:
    """Transactions are decided by date, then by transaction id, whatever the file's row order."""
    txns = [purchase("T2", day=DAY), refund("R9", day=DAY - timedelta(days=1)), purchase("T10", day=DAY),
            purchase("-1", day=DAY)]
    assert [t.transaction_id for t in sorted(txns, key=decision_key)] == ["R9", "-1", "T10", "T2"]


@pytest.mark.parametrize(("outcomes", "state"), [
    ([TxnOutcome.CLAWBACK], "applied"), ([TxnOutcome.REFUND_KEPT, TxnOutcome.REFUND_UNMATCHED], "applied"),
    ([TxnOutcome.REFUND_PENDING, TxnOutcome.REFUND_PENDING], "pending"),
    ([TxnOutcome.REFUND_UNMATCHED], "unmatched"),
    ([TxnOutcome.REFUND_EXPIRED], "expired"), ([], "unmatched"),
])
def test_a_refunds_state_follows_its_verdicts(outcomes: list[TxnOutcome], state: str) -> None:
    """A refund that reversed or kept a credit is applied; one waiting is pending; else nothing to reverse."""
    assert refund_state([Verdict(CID, o) for o in outcomes]) == state


# --- backtests ----------------------------------------------------------------------------------


def test_a_backtest_counts_every_member_as_enrolled_from_the_campaigns_start() -> None:
    """With everyone_enrolled, a member with no enrolment is credited, and judged from enrol_from."""
    c = campaign()
    r = Reconciler({c.id: c}, {MCD: (c,)}, {}, {}, {}, everyone_enrolled=True)

    assert only(r.evaluate(purchase("T1", member=BOB))).outcome is TxnOutcome.CREDITED
    early = only(r.evaluate(purchase("T0", member=ALICE, day=c.enrol_from - timedelta(days=1))))
    assert (early.outcome, early.detail) == (TxnOutcome.OUTSIDE_WINDOW, f"before enrolment on {c.enrol_from}")


def test_a_backtests_refund_may_wait_for_its_purchase_whoever_made_it() -> None:
    """With everyone_enrolled, a refund before its purchase waits as it would for an enrolled member."""
    c = campaign()
    r = Reconciler({c.id: c}, {MCD: (c,)}, {}, {}, {}, today=DAY, everyone_enrolled=True)

    assert only(r.evaluate(refund("R1", member=BOB))).outcome is TxnOutcome.REFUND_PENDING


def test_without_the_flag_an_empty_enrolment_map_enrols_nobody() -> None:
    """A backtest is a flag, not a map: with neither flag nor enrolments, nobody is enrolled."""
    c = campaign()
    r = Reconciler({c.id: c}, {MCD: (c,)}, {}, {}, {}, today=DAY)

    assert only(r.evaluate(purchase("T1"))).outcome is TxnOutcome.NOT_ENROLLED
    assert only(r.evaluate(refund("R1"))).outcome is TxnOutcome.REFUND_UNMATCHED
