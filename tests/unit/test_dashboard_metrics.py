"""The dashboard's numbers, each checked on a small case worked out by hand (in the docstring)."""

from datetime import date

import pytest

from bot.domain.dashboard.definitions import ESTIMATED, NOT_CAUSAL
from bot.domain.dashboard.facts import CampaignFacts, Credit, Enrolment, History, Purchase
from bot.domain.dashboard.metrics import Computed, bucket_of, compute
from bot.domain.dashboard.periods import Grain
from bot.domain.dashboard.tables import Table
from tests.dashboard_fakes import crowd, day, facts, redeemed


def three_members() -> CampaignFacts:
    """m1 enrols 2 Nov, bought $12 on 1 Oct (returning), earns $5 on $20 on 5 Nov, buys $8 on 12 Nov;
    m2 enrols 3 Nov, bought only on 1 Jul (new), earns $5 on $40 on 3 Nov, $10 refunded, $1.25 clawed
    back on 9 Nov; m3 enrols 10 Nov and buys nothing (new). Data from 1 Jun to 29 Nov: 28 days, daily."""
    m1, c1 = redeemed("m1", day(3), 2000)
    m2, c2 = redeemed("m2", day(1), 4000, refunded=1000)
    return facts(
        enrolments=[Enrolment("m1", day(0)), Enrolment("m2", day(1)), Enrolment("m3", day(8))],
        purchases=[Purchase("m1", date(2026, 10, 1), 1200), m1, Purchase("m1", day(10), 800),
                   Purchase("m2", date(2026, 7, 1), 900), m2],
        credits=[c1, c2, Credit("m2", day(7), -125)],
    )


def values(table: Table, row: str) -> dict[str, object]:
    """Return one row's values by column key."""
    return {c.key: table.cell(row, c.key).value for c in table.columns}


@pytest.fixture
def computed() -> Computed:
    """The three-member campaign, computed."""
    return compute(three_members(), k=10)


def test_range_and_grain(computed: Computed) -> None:
    """2 Nov to 29 Nov is 28 days: 28 daily periods, the first 2 Nov."""
    assert computed.grain is Grain.DAY
    assert len(computed.periods) == 28
    assert computed.periods[0].key == "2026-11-02"


def test_summary_use_numbers(computed: Computed) -> None:
    """3 enrolled, 2 redeemed (m1, m2): rate 2/3; 2 credits, 1 clawback; 100 - 3 = 97 remaining;
    days to first purchase 3 (m1) and 0 (m2): median 1.5."""
    row = values(computed.table("summary"), "to_date")
    assert (row["enrolments"], row["redeemers"], row["redemptions"], row["clawbacks"]) == (3, 2, 2, 1)
    assert row["redemption_rate"] == pytest.approx(2 / 3)
    assert row["remaining"] == 97
    assert row["median_days_to_first"] == 1.5


def test_summary_spend_numbers(computed: Computed) -> None:
    """Spend $20 + $40 = $60, $10 refunded, $50 net; ticket $60 / 2 = $30; $30 per redeemer; credits
    $10, clawed back -$1.25, net $8.75; $60 / $8.75 = 6.857 -> 6.86 per dollar; budget $100, $8.75
    used, $91.25 left; m1's next purchase 7 days after its first: median 7."""
    row = values(computed.table("summary"), "to_date")
    assert (row["spend"], row["refunds"], row["net_spend"]) == (6000, 1000, 5000)
    assert (row["average_ticket"], row["spend_per_redeemer"]) == (3000, 3000)
    assert (row["credits_paid"], row["clawed_back"], row["net_credits"]) == (1000, -125, 875)
    assert row["spend_per_credit"] == 6.86
    assert (row["budget"], row["budget_used"], row["budget_left"]) == (10_000, 875, 9125)
    assert row["median_days_to_next"] == 7.0


def test_unlimited_campaign_has_no_remaining_quantity_nor_budget() -> None:
    """Without a maximum or a budget, remaining, budget, used and left are blank (None)."""
    row = values(compute(facts(enrolments=[Enrolment("m1", day(0))], max_enrolments=None,
                               budget_cents=None), k=10).table("summary"), "to_date")
    assert [row[k] for k in ("remaining", "budget", "budget_used", "budget_left")] == [None] * 4


def test_use_over_time_per_day(computed: Computed) -> None:
    """Enrolments on 2, 3 and 10 Nov; first redemptions 3 Nov (m2) and 5 Nov (m1); the clawback on
    9 Nov; every other day zero; totals 3, 2, 2, 1."""
    table = computed.table("use_over_time")
    assert values(table, "2026-11-02") == {"enrolments": 1, "first_redeemers": 0, "redemptions": 0,
                                           "clawbacks": 0}
    assert values(table, "2026-11-03") == {"enrolments": 1, "first_redeemers": 1, "redemptions": 1,
                                           "clawbacks": 0}
    assert values(table, "2026-11-05")["redemptions"] == 1
    assert values(table, "2026-11-09")["clawbacks"] == 1
    assert values(table, "2026-11-10")["enrolments"] == 1
    assert values(table, "total") == {"enrolments": 3, "first_redeemers": 2, "redemptions": 2, "clawbacks": 1}
    assert values(table, "2026-11-20") == {"enrolments": 0, "first_redeemers": 0, "redemptions": 0,
                                           "clawbacks": 0}


def test_spend_over_time_per_day(computed: Computed) -> None:
    """3 Nov: $40 spend, $10 refunded, $30 net, ticket $40, $5 credit; 5 Nov: $20, ticket $20, $5;
    9 Nov: the -$1.25 clawback only, no ticket; totals $60, $10, $50, $30, $10, -$1.25, $8.75."""
    table = computed.table("spend_over_time")
    assert values(table, "2026-11-03") == {"spend": 4000, "refunds": 1000, "net_spend": 3000,
                                           "average_ticket": 4000, "credits_paid": 500, "clawed_back": 0,
                                           "net_credits": 500}
    assert values(table, "2026-11-05")["average_ticket"] == 2000
    assert values(table, "2026-11-09") == {"spend": 0, "refunds": 0, "net_spend": 0, "average_ticket": None,
                                           "credits_paid": 0, "clawed_back": -125, "net_credits": -125}
    assert values(table, "total") == {"spend": 6000, "refunds": 1000, "net_spend": 5000,
                                      "average_ticket": 3000, "credits_paid": 1000, "clawed_back": -125,
                                      "net_credits": 875}


def test_days_to_first_purchase_histogram(computed: Computed) -> None:
    """m1 took 3 days, m2 0 days: both in 0-7 days, 100%; every other bucket empty."""
    table = computed.table("days_to_first")
    assert values(table, "d0_7") == {"redeemers": 2, "share_of_redeemers": 1.0}
    assert [table.cell(r, "redeemers").value for r in table.rows] == [2, 0, 0, 0, 0, 0, 2]


def test_coming_back_histogram_and_shares(computed: Computed) -> None:
    """m1 came back after 7 days (0-7), m2 not yet (over 90 or not yet): 1 and 1 of 2, 50% each;
    within 30, 60 and 90 days: 1 of 2."""
    table = computed.table("coming_back")
    assert values(table, "d0_7") == {"redeemers": 1, "share_of_redeemers": 0.5}
    assert values(table, "over_90") == {"redeemers": 1, "share_of_redeemers": 0.5}
    for row in ("within_30", "within_60", "within_90"):
        assert values(table, row) == {"redeemers": 1, "share_of_redeemers": 0.5}


@pytest.mark.parametrize(("days", "bucket"), [(0, 0), (7, 0), (8, 1), (14, 1), (15, 2), (30, 2), (31, 3),
                                               (60, 3), (61, 4), (90, 4), (91, 5), (400, 5), (None, 5)])
def test_bucket_boundaries(days: int | None, bucket: int) -> None:
    """Buckets 0-7, 8-14, 15-30, 31-60, 61-90 include both ends; later, or never, is the last bucket."""
    assert bucket_of(days) == bucket


def test_next_purchase_rules() -> None:
    """First qualifying purchase on day 5. m1: another purchase the same day counts, 0 days. m2: a
    purchase before day 5 and one refunded in full on day 6 do not count; day 40 does: 35 days (31-60).
    m3: its second qualifying purchase, day 20, is a purchase too: 15 days (15-30)."""
    p1, c1 = redeemed("m1", day(5), 2000)
    p2, c2 = redeemed("m2", day(5), 2000)
    p3, c3 = redeemed("m3", day(5), 2000)
    p3b, c3b = redeemed("m3", day(20), 900)
    result = compute(facts(
        enrolments=crowd("m", 4, day(0))[1:],
        purchases=[p1, Purchase("m1", day(5), 300), p2, Purchase("m2", day(2), 300),
                   Purchase("m2", day(6), 300, False, 300), Purchase("m2", day(40), 300), p3, p3b],
        credits=[c1, c2, c3, c3b], last_day=day(45)), k=10)
    table = result.table("coming_back")
    assert [table.cell(r, "redeemers").value for r in ("d0_7", "d15_30", "d31_60", "over_90")] == [1, 1, 1, 0]


def test_new_returning_and_not_enough_history() -> None:
    """All enrol on day 0 (2 Nov; 90 days before is 4 Aug). r1 bought 4 Aug (day -90): returning; n1
    bought 3 Aug (day -91): new; n2 bought on day 0 itself: new; n3 bought 5 Sep but was refunded in
    full: new; h1's card was linked on 5 Aug (-89): not enough history; h2 linked 4 Aug: new."""
    start = day(0)
    result = compute(facts(
        enrolments=[Enrolment(m, start) for m in ("r1", "n1", "n2", "n3", "h1", "h2")],
        purchases=[Purchase("r1", date(2026, 8, 4), 100), Purchase("n1", date(2026, 8, 3), 100),
                   Purchase("n2", start, 100), Purchase("n3", date(2026, 9, 5), 100, False, 100)],
        histories=[History("h1", date(2026, 8, 5)), History("h2", date(2026, 8, 4))]), k=10)
    classes = {s.member: s.kind for s in result.stories}
    assert classes == {"r1": "returning", "n1": "new", "n2": "new", "n3": "new", "h1": "no_history",
                       "h2": "new"}
    table = result.table("new_returning_over_time")
    assert values(table, "2026-11-02") == {"new": 4, "returning": 1, "no_history": 1, "enrolments": 6}


def test_new_returning_split(computed: Computed) -> None:
    """New: m2, m3 (2 of 3), m2 redeemed (1 of 2) with $40; returning: m1 (1 of 3), redeemed with
    $20; no history: none; all: 3, 2 redeemed (2/3), $60, $30 per redeemer."""
    table = computed.table("new_returning")
    new, returning = values(table, "new"), values(table, "returning")
    assert (new["enrolments"], new["redeemers"]) == (2, 1)
    assert (new["spend"], new["spend_per_redeemer"]) == (4000, 4000)
    assert new["share_of_enrolments"] == pytest.approx(2 / 3)
    assert new["redemption_rate"] == 0.5
    assert (returning["enrolments"], returning["redeemers"], returning["redemption_rate"]) == (1, 1, 1.0)
    assert values(table, "no_history")["enrolments"] == 0
    everyone = values(table, "total")
    assert (everyone["enrolments"], everyone["redeemers"], everyone["spend"]) == (3, 2, 6000)


def test_history_note_when_the_data_starts_too_late() -> None:
    """Data from 1 Sep: enrolments before 30 Nov (1 Sep + 90 days) have no full look-back, and the
    table says so."""
    table = compute(facts(enrolments=[Enrolment("m1", day(0))], first_day=date(2026, 9, 1)),
                    k=10).table("new_returning_over_time")
    assert table.cell("total", "no_history").value == 1
    assert table.notes[0].startswith("The data holds purchases from 1 Sep 2026: members who enrolled "
                                     "before 30 Nov 2026")


def test_weekly_grain_for_a_41_day_range() -> None:
    """Data to day 40 (12 Dec): 41 days, weekly; the weeks of 2, 9, 16, 23, 30 Nov and 7 Dec."""
    result = compute(facts(enrolments=[Enrolment("a", day(0)), Enrolment("b", day(8))], last_day=day(40)),
                     k=10)
    assert result.grain is Grain.WEEK
    table = result.table("use_over_time")
    assert table.rows == ("2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30",
                          "2026-12-07", "total")
    assert [table.cell(r, "enrolments").value for r in table.rows] == [1, 1, 0, 0, 0, 0, 2]


def before_after_facts() -> CampaignFacts:
    """b1 enrols on day 30 (2 Dec) and spends $10 90 days before, $20 31 days before, $5 the day
    before, $7 on the day, $3 89 days after; b3 enrols on day 29 and spends nothing; b2's history
    starts 89 days before its enrolment (not all six windows). Data to day 119."""
    return facts(
        enrolments=[Enrolment("b1", day(30)), Enrolment("b2", day(30)), Enrolment("b3", day(29))],
        purchases=[Purchase("b1", day(-60), 1000), Purchase("b1", day(-1), 2000),
                   Purchase("b1", day(29), 500), Purchase("b1", day(30), 700), Purchase("b1", day(119), 300)],
        histories=[History("b2", day(-59))], last_day=day(119))


def test_before_after_windows() -> None:
    """b1 and b3 have all six windows (2 members): spend per window $10, $20, $5 | $7, $0, $3, per
    member half of it: $5, $10, $2.50 | $3.50, $0, $1.50; b2 is without."""
    result = compute(before_after_facts(), k=10)
    members = result.table("before_after_members")
    assert [members.cell(r, "members").value for r in members.rows] == [2, 0, 2, 1, 3]
    table = result.table("before_after")
    assert [table.cell(r, "spend_in_window").value for r in table.rows] == [1000, 2000, 500, 700, 0, 300]
    assert [table.cell(r, "spend_per_member").value for r in table.rows] == [500, 1000, 250, 350, 0, 150]
    assert table.notes == (NOT_CAUSAL,)


def lift_facts() -> CampaignFacts:
    """e0-e4 enrol on day 30 (2 Dec), spent nothing in the 90 days before, $10 each on day 40 after;
    e5-e7 enrol the same day after spending $30 each on day 10 (band 25.00-99.99). Never enrolled:
    c0-c4 spend $4 each on day 35 and c5 nothing (band none, 6 members, after $20 / 6 = $3.33 each);
    c6 also, but linked on day 0 (no 90 days before 1 Dec); c7 spent $30 on day 0 (the other band)."""
    enrolled = crowd("e", 8, day(30))
    purchases = [Purchase(f"e{n}", day(40), 1000) for n in range(5)]
    purchases += [Purchase(f"e{n}", day(10), 3000) for n in range(5, 8)]
    purchases += [Purchase(f"c{n}", day(35), 400) for n in range(5)]
    purchases += [Purchase("c6", day(35), 10_000), Purchase("c7", day(0), 3000)]
    histories = [History(f"c{n}", date(2026, 6, 1)) for n in range(6)]
    histories += [History("c6", day(0)), History("c7", date(2026, 6, 1))]
    return facts(enrolments=enrolled, purchases=purchases, histories=histories, last_day=day(119))


def test_lift_against_a_matched_comparison_group() -> None:
    """With k = 5: the cell (December, no spend before) has e0-e4 and c0-c5, both at least 5; the
    band-two cell has 3 enrolled and 1 comparison member and drops out. Enrolled: $0 before, $10
    after, +$10; comparison: $0 before, $20 / 6 = $3.33 after, +$3.33; lift $10 - $3.33 = $6.67."""
    result = compute(lift_facts(), k=5)
    members = result.table("before_after_members")
    assert [members.cell(r, "members").value for r in members.rows] == [8, 5, 3, 0, 8]
    table = result.table("lift")
    assert values(table, "enrolled") == {"members": 5, "before_per_member": 0, "after_per_member": 1000,
                                         "change_per_member": 1000}
    assert values(table, "comparison") == {"members": 6, "before_per_member": 0, "after_per_member": 333,
                                           "change_per_member": 333}
    assert values(table, "difference") == {"members": None, "before_per_member": 0, "after_per_member": 667,
                                           "change_per_member": 667}
    assert table.notes == (ESTIMATED,)


def test_no_lift_without_a_comparison_group_large_enough() -> None:
    """With k = 10 no cell has 10 members on both sides: no lift, and the table says why."""
    table = compute(lift_facts(), k=10).table("lift")
    assert values(table, "difference")["change_per_member"] is None
    assert table.cell("enrolled", "members").value == 0
    assert table.notes[0].startswith("No comparison group large enough")


def test_numbers_do_not_depend_on_the_order_of_the_facts() -> None:
    """The three-member campaign and the same facts in reverse order give the same tables."""
    forward = three_members()
    backward = CampaignFacts(forward.terms, forward.span, forward.as_of, forward.enrolments[::-1],
                             forward.purchases[::-1], forward.credits[::-1], forward.histories[::-1])
    assert compute(forward, k=10).tables == compute(backward, k=10).tables
