"""Enrolment decisions: one per hashtag of a mention, judged at the time the member posted."""

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from bot.domain.campaigns import Campaign
from bot.domain.enrolment import Decision, EnrolmentOutcome, decide
from bot.domain.mentions import Mention
from tests.fakes import START, campaign, mention

MCDONALDS = campaign(max_enrolments=100)
ZAPPOS = campaign(id="amex-zappos", hashtag="#AmexZappos", merchant="Zappos.com")
UPCOMING = campaign(id="amex-fedex", hashtag="#AmexFedEx", enrol_from=date(2026, 12, 1))
ENDED = campaign(id="amex-old", hashtag="#AmexOld", enrol_from=date(2026, 10, 1),
                 enrol_until=date(2026, 11, 22))
CAMPAIGNS: dict[str, Campaign] = {c.key: c for c in (MCDONALDS, ZAPPOS, UPCOMING, ENDED)}


def decide_for(post: Mention, *, linked: bool = True, enrolled_in: frozenset[str] = frozenset(),
               counts: Mapping[str, int] | None = None, spent: Mapping[str, int] | None = None,
               now: datetime = START, campaigns: Mapping[str, Campaign] = CAMPAIGNS) -> list[Decision]:
    """Run decide() with readable defaults: a linked member, nothing enrolled or spent yet, at START."""
    return decide(post, linked=linked, campaigns=campaigns, enrolled_in=enrolled_in,
                  enrolment_counts=counts or {}, spent_cents=spent or {}, now=now)


def test_live_campaign_enrols() -> None:
    """A linked member naming a live campaign is enrolled in it."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    assert decisions == [Decision("amexmcdonalds", EnrolmentOutcome.ENROLLED, MCDONALDS)]


def test_already_enrolled_member_is_told_so() -> None:
    """A member already enrolled in the campaign gets ALREADY_ENROLLED."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexMcDonalds"),
                           enrolled_in=frozenset({"amex-mcdonalds"}))
    assert decisions == [Decision("amexmcdonalds", EnrolmentOutcome.ALREADY_ENROLLED, MCDONALDS)]


@pytest.mark.parametrize(("count", "outcome"), [
    (0, EnrolmentOutcome.ENROLLED), (99, EnrolmentOutcome.ENROLLED),
    (100, EnrolmentOutcome.SOLD_OUT), (150, EnrolmentOutcome.SOLD_OUT)])
def test_campaign_at_cap_is_sold_out(count: int, outcome: EnrolmentOutcome) -> None:
    """Once enrolment_counts reaches max_enrolments the campaign is sold out."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexMcDonalds"),
                           counts={"amex-mcdonalds": count})
    assert [d.outcome for d in decisions] == [outcome]


def test_counts_of_other_campaigns_do_not_sell_out() -> None:
    """Only the campaign's own enrolment count is compared with its cap."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexMcDonalds"),
                           counts={"amex-zappos": 10_000})
    assert [d.outcome for d in decisions] == [EnrolmentOutcome.ENROLLED]


BUDGETED = campaign(id="amex-budget", hashtag="#AmexBudget", budget=Decimal("100.00"))
PERCENT = campaign(id="amex-percent", hashtag="#AmexPercent", credit=None, percent=Decimal("10"),
                   max_credit=Decimal("50.00"), budget=Decimal("1000.00"))
RETIRED = campaign(id="amex-retired", hashtag="#AmexRetired", retired=True)
MORE: dict[str, Campaign] = CAMPAIGNS | {c.key: c for c in (BUDGETED, PERCENT, RETIRED)}


@pytest.mark.parametrize(("spent", "outcome"), [(0, EnrolmentOutcome.ENROLLED),
                                                (9_500, EnrolmentOutcome.ENROLLED),
                                                (9_501, EnrolmentOutcome.BUDGET_SPENT),
                                                (10_000, EnrolmentOutcome.BUDGET_SPENT)])
def test_spent_budget_closes_enrolment(spent: int, outcome: EnrolmentOutcome) -> None:
    """Once less than one $5 credit of a $100 budget is left, members are told the budget is spent."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexBudget"), spent={"amex-budget": spent},
                           campaigns=MORE)
    assert [d.outcome for d in decisions] == [outcome]


def test_percent_offer_closes_when_one_max_credit_does_not_fit() -> None:
    """A 10%-up-to-$50 offer closes once less than $50 of its budget is left."""
    post = mention(1, "1001", "@offerbot #AmexPercent")
    assert [d.outcome for d in decide_for(post, spent={"amex-percent": 95_000}, campaigns=MORE)] == \
        [EnrolmentOutcome.ENROLLED]
    assert [d.outcome for d in decide_for(post, spent={"amex-percent": 95_001}, campaigns=MORE)] == \
        [EnrolmentOutcome.BUDGET_SPENT]


def test_spent_of_other_campaigns_does_not_close_enrolment() -> None:
    """Only the campaign's own spent budget is compared with its budget."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexBudget"), spent={"amex-percent": 10**9},
                           campaigns=MORE)
    assert [d.outcome for d in decisions] == [EnrolmentOutcome.ENROLLED]


def test_retired_campaign_takes_no_enrolments() -> None:
    """Naming a retired campaign gives RETIRED, even inside its enrolment window."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexRetired"), campaigns=MORE)
    assert decisions == [Decision("amexretired", EnrolmentOutcome.RETIRED, RETIRED)]


def test_already_enrolled_member_of_a_closed_campaign_is_told_so() -> None:
    """A member already enrolled is told so, whether the budget is spent or the campaign retired."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexBudget #AmexRetired"), campaigns=MORE,
                           enrolled_in=frozenset({"amex-budget", "amex-retired"}),
                           spent={"amex-budget": 10_000})
    assert [d.outcome for d in decisions] == [EnrolmentOutcome.ALREADY_ENROLLED] * 2


def test_campaign_not_yet_open_is_not_started() -> None:
    """Naming a campaign before enrol_from gives NOT_STARTED."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexFedEx"))
    assert decisions == [Decision("amexfedex", EnrolmentOutcome.NOT_STARTED, UPCOMING)]


def test_campaign_past_enrol_until_has_ended() -> None:
    """Naming a campaign after its enrol_until day gives ENDED."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexOld"))
    assert decisions == [Decision("amexold", EnrolmentOutcome.ENDED, ENDED)]


def test_unlinked_member_is_not_linked() -> None:
    """A member without a linked card gets NOT_LINKED, with the campaign attached."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexMcDonalds"), linked=False)
    assert decisions == [Decision("amexmcdonalds", EnrolmentOutcome.NOT_LINKED, MCDONALDS)]


def test_unknown_hashtag_has_no_campaign() -> None:
    """A hashtag that no campaign uses is UNKNOWN_HASHTAG without a campaign."""
    decisions = decide_for(mention(1, "1001", "@offerbot #FridayVibes"))
    assert decisions == [Decision("fridayvibes", EnrolmentOutcome.UNKNOWN_HASHTAG, None)]


def test_unknown_hashtag_is_unknown_even_when_not_linked() -> None:
    """An unknown hashtag is reported as unknown whether or not the member is linked."""
    decisions = decide_for(mention(1, "1001", "@offerbot #FridayVibes"), linked=False)
    assert [d.outcome for d in decisions] == [EnrolmentOutcome.UNKNOWN_HASHTAG]


def test_two_campaigns_give_two_decisions_in_order() -> None:
    """A post naming two campaigns gets one decision each, in the order written."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexZappos and #AmexMcDonalds please"),
                           enrolled_in=frozenset({"amex-mcdonalds"}))
    assert decisions == [Decision("amexzappos", EnrolmentOutcome.ENROLLED, ZAPPOS),
                         Decision("amexmcdonalds", EnrolmentOutcome.ALREADY_ENROLLED, MCDONALDS)]


def test_mixed_hashtags_keep_their_order() -> None:
    """Every hashtag gets a decision, known or not, in first-seen order."""
    decisions = decide_for(mention(1, "1001", "@offerbot #AmexOld #yum #AmexFedEx #AmexZappos"))
    assert [(d.hashtag, d.outcome) for d in decisions] == [
        ("amexold", EnrolmentOutcome.ENDED), ("yum", EnrolmentOutcome.UNKNOWN_HASHTAG),
        ("amexfedex", EnrolmentOutcome.NOT_STARTED), ("amexzappos", EnrolmentOutcome.ENROLLED)]


def test_no_hashtags_gives_no_decisions() -> None:
    """A post without hashtags decides nothing."""
    assert decide_for(mention(1, "1001", "@offerbot hello")) == []


def test_post_time_not_processing_time_decides_window() -> None:
    """A post written before the window closed enrols even when processed after it closed."""
    written = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    post = mention(1, "1001", "@offerbot #AmexOld", at=written)
    assert [d.outcome for d in decide_for(post, now=START)] == [EnrolmentOutcome.ENROLLED]


def test_post_written_before_opening_does_not_enrol_even_when_processed_after_opening() -> None:
    """A post written before enrol_from enrols in nothing when processed after opening: it is
    'opened after post' (issue 13: not 'not started', which would tell the member it opens later)."""
    opening = campaign(enrol_from=date(2026, 11, 23))
    post = mention(1, "1001", "@offerbot #AmexMcDonalds", at=datetime(2026, 11, 22, 23, 0, tzinfo=UTC))
    decisions = decide_for(post, now=START, campaigns={opening.key: opening})
    assert [d.outcome for d in decisions] == [EnrolmentOutcome.OPENED_AFTER_POST]


@pytest.mark.parametrize(("now", "counts", "outcome"), [
    (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), {}, EnrolmentOutcome.NOT_STARTED),
    (START, {"amex-mcdonalds": 1}, EnrolmentOutcome.SOLD_OUT),
    (datetime(2026, 12, 2, 9, 0, tzinfo=UTC), {}, EnrolmentOutcome.ENDED),
], ids=["still-upcoming", "sold-out-since", "ended-since"])
def test_a_post_made_before_opening_is_told_where_the_campaign_stands_now(
        now: datetime, counts: dict[str, int], outcome: EnrolmentOutcome) -> None:
    """Before opening, a post is 'not started'; once the campaign has sold out or ended since, it says so."""
    opening = campaign(enrol_from=date(2026, 11, 23), enrol_until=date(2026, 12, 1), max_enrolments=1)
    post = mention(1, "1001", "@offerbot #AmexMcDonalds", at=datetime(2026, 11, 22, 23, 0, tzinfo=UTC))
    decisions = decide_for(post, now=now, counts=counts, campaigns={opening.key: opening})
    assert [d.outcome for d in decisions] == [outcome]


def test_post_time_in_the_future_is_capped_at_now() -> None:
    """A created_at after now (clock skew) counts as now, so a window open now still enrols."""
    closing_today = campaign(enrol_until=date(2026, 11, 23))
    post = mention(1, "1001", "@offerbot #AmexMcDonalds", at=START + timedelta(days=2))
    decisions = decide_for(post, now=START, campaigns={closing_today.key: closing_today})
    assert [d.outcome for d in decisions] == [EnrolmentOutcome.ENROLLED]


def test_post_without_time_is_judged_at_now() -> None:
    """A mention without created_at is judged at now."""
    post = mention(1, "1001", "@offerbot #AmexOld", at=None)
    assert [d.outcome for d in decide_for(post, now=datetime(2026, 11, 20, tzinfo=UTC))] == [
        EnrolmentOutcome.ENROLLED]
    assert [d.outcome for d in decide_for(post, now=START)] == [EnrolmentOutcome.ENDED]


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        (None, START),
        (START - timedelta(hours=3), START - timedelta(hours=3)),
        (START, START),
        (START + timedelta(seconds=1), START),
    ],
)
def test_acted_at_is_post_time_never_after_now(created_at: datetime | None, expected: datetime) -> None:
    """Mention.acted_at is the post's time, or now when missing or later than now."""
    post = mention(1, "1001", "@offerbot #AmexMcDonalds", at=created_at)
    assert post.acted_at(START) == expected


def test_sold_out_turns_decision_sold_out() -> None:
    """Decision.sold_out() returns a SOLD_OUT copy and leaves the original alone."""
    enrolled = Decision("amexmcdonalds", EnrolmentOutcome.ENROLLED, MCDONALDS)
    sold_out = enrolled.sold_out()
    assert sold_out == Decision("amexmcdonalds", EnrolmentOutcome.SOLD_OUT, MCDONALDS)
    assert enrolled.outcome is EnrolmentOutcome.ENROLLED
