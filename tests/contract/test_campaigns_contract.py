"""Campaigns: counters (enrolments, budget spent) and the last good version of each."""

from __future__ import annotations

from decimal import Decimal

from bot.domain.campaign_versions import CampaignRecord
from tests.fakes import campaign

LIMITED = campaign(id="limited", hashtag="#AmexLimited", max_enrolments=2)
BUDGETED = campaign(id="budgeted", hashtag="#AmexBudget", budget=Decimal("100.00"))


def test_sync_creates_rows_with_zero_counters_and_keeps_them_after(uow, clock):
    """A synced campaign starts at zero enrolments and spend; syncing it again keeps its counters."""
    with uow() as tx:
        tx.campaigns.sync([LIMITED, campaign()], clock())
        assert tx.campaigns.reserve("limited")
        tx.campaigns.sync([campaign(id="limited", hashtag="#AmexLimitedToo", max_enrolments=2)], clock())
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.campaigns.records() == [
            CampaignRecord("amex-mcdonalds", "#AmexMcDonalds", None, None, None, 0, 0),
            CampaignRecord("limited", "#AmexLimitedToo", None, None, None, 1, 0)]


def test_install_keeps_the_version_and_forget_drops_it_but_not_the_counters(uow, clock):
    """install saves the definition, file and time; forget clears them; ensure leaves a known row alone."""
    with uow() as tx:
        tx.campaigns.install([(LIMITED, "limited.toml")], clock())
        tx.campaigns.reserve("limited")
        tx.campaigns.ensure([campaign(id="limited", hashtag="#Other"), campaign()], clock())
        tx.commit()
    with uow(readonly=True) as tx:
        [kept, _] = sorted(tx.campaigns.records(), key=lambda r: r.id != "limited")
    assert (kept.source, kept.loaded_at, kept.hashtag) == ("limited.toml", clock(), "#AmexLimited")
    assert kept.enrolled == 1
    assert kept.definition == LIMITED.definition()

    with uow() as tx:
        tx.campaigns.forget(["limited"])
        tx.commit()
    with uow(readonly=True) as tx:
        forgotten = next(r for r in tx.campaigns.records() if r.id == "limited")
    assert (forgotten.source, forgotten.definition, forgotten.loaded_at) == (None, None, None)
    assert forgotten.enrolled == 1


def test_reserve_never_passes_the_limited_quantity(uow, clock):
    """Places are taken one by one until none is left; a campaign without a limit counts via add_enrolled."""
    with uow() as tx:
        tx.campaigns.sync([LIMITED, campaign()], clock())
        taken = [tx.campaigns.reserve("limited") for _ in range(3)]
        tx.campaigns.add_enrolled({"amex-mcdonalds": 4})
        tx.commit()

    assert taken == [True, True, False]
    with uow(readonly=True) as tx:
        assert tx.campaigns.enrolment_counts() == {"limited": 2, "amex-mcdonalds": 4}
        assert tx.campaigns.enrolment_counts(limited_only=True) == {"limited": 2}
        assert not tx.campaigns.reserve("unknown")


def test_spending_stops_at_the_budget_and_clawbacks_give_back(uow, clock):
    """add_spent refuses what would pass a budget (leaving it as it was); a negative delta always goes in."""
    with uow() as tx:
        tx.campaigns.sync([BUDGETED, campaign()], clock())
        spent = tx.campaigns.add_spent({"budgeted": 9_600, "amex-mcdonalds": 500, "unknown": 100})
        assert spent == ["unknown"]
        assert tx.campaigns.add_spent({"budgeted": 500, "amex-mcdonalds": 0}) == ["budgeted"]
        assert tx.campaigns.add_spent({"budgeted": -1_000}) == []
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.campaigns.spent_cents() == {"budgeted": 8_600}
        assert tx.campaigns.spent_totals() == {"budgeted": 8_600, "amex-mcdonalds": 500}


def test_reserve_many_takes_a_whole_ask_or_what_is_left_and_never_more(uow, clock):
    """reserve_many grants every place wanted while that many are left, then only the rest, then
    none; a campaign without a limit takes all it asks, an unknown one none."""
    limited = campaign(id="limited", hashtag="#AmexLimited", max_enrolments=5)
    with uow() as tx:
        tx.campaigns.sync([limited, campaign()], clock())
        granted = [tx.campaigns.reserve_many({"limited": 2, "amex-mcdonalds": 3, "unknown": 1}),
                   tx.campaigns.reserve_many({"limited": 2}),
                   tx.campaigns.reserve_many({"limited": 2, "amex-mcdonalds": 0}),
                   tx.campaigns.reserve_many({"limited": 1}),
                   tx.campaigns.reserve_many({})]
        tx.commit()

    assert granted == [{"limited": 2, "amex-mcdonalds": 3, "unknown": 0}, {"limited": 2}, {"limited": 1},
                       {"limited": 0}, {}]
    with uow(readonly=True) as tx:
        assert tx.campaigns.enrolment_counts() == {"limited": 5, "amex-mcdonalds": 3}
