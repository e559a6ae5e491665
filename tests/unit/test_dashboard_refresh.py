"""Refreshing the stored dashboards, on fakes: recomputed when the stamp moved, served as stored when
it did not, a broken campaign logged and skipped; and the retention rule's days."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest

from bot.domain.dashboard.facts import CampaignFacts, FactsInvalid
from bot.domain.dashboard.report import build_report, report_data
from bot.domain.dashboard.retention import months_before, prune_before
from bot.domain.dashboard.snapshots import LedgerState, StoredReport, stamp
from bot.services.dashboards import StoredDashboards, refresh_dashboards
from tests.dashboard_fakes import AS_OF, crowd, day, facts, redeemed, terms
from tests.fakes import FixedClock


def busy_facts() -> CampaignFacts:
    """Twelve members enrolled on the first day, each redeeming on the third."""
    pairs = [redeemed(f"m{n}", day(2), 1000) for n in range(12)]
    return facts(enrolments=crowd("m", 12, day(0)), purchases=[p for p, _ in pairs],
                 credits=[c for _, c in pairs])


@dataclass
class FakeFacts:
    """The DashboardFacts port over facts held in memory; counts what it was asked."""

    by_id: dict[str, CampaignFacts]
    stamps: dict[str, str]
    reads: list[str] = field(default_factory=list)
    as_of_now: datetime = AS_OF

    def facts_for(self, campaign_id: str, now: datetime) -> CampaignFacts:
        """Return the campaign's facts (raising what they raise)."""
        self.reads.append(campaign_id)
        found = self.by_id[campaign_id]
        if isinstance(found, Exception):
            raise found
        return found

    def stamp_of(self, campaign_id: str) -> str:
        """Return the campaign's current stamp (KeyError: not in force)."""
        return self.stamps[campaign_id]

    def as_of(self, now: datetime) -> datetime:
        """Return when the ledger was last brought up to date."""
        return self.as_of_now


@dataclass
class FakeStore:
    """The DashboardStore port in memory."""

    rows: dict[str, StoredReport] = field(default_factory=dict)
    saves: int = 0

    def stored(self, campaign_id: str) -> StoredReport | None:
        """Return the stored report."""
        return self.rows.get(campaign_id)

    def stamps(self) -> dict[str, str]:
        """Return every stored stamp."""
        return {k: v.stamp for k, v in self.rows.items()}

    def save(self, report: StoredReport, now: datetime) -> None:
        """Store a report."""
        self.saves += 1
        self.rows[report.campaign_id] = report

    def forget(self, campaign_ids: list[str]) -> None:
        """Drop reports."""
        for campaign_id in campaign_ids:
            self.rows.pop(campaign_id, None)


def test_a_refresh_computes_missing_reports_and_skips_current_ones() -> None:
    """The first refresh stores report_data(build_report(facts)); a second with the same stamps
    reads no facts; a moved stamp recomputes only that campaign."""
    source = FakeFacts({"a": busy_facts(), "b": busy_facts()}, {"a": "s1", "b": "s1"})
    store, clock = FakeStore(), FixedClock()

    first = refresh_dashboards(source, store, ["a", "b"], min_members=10, clock=clock)

    assert first.computed == ["a", "b"]
    assert store.rows["a"].data == report_data(build_report(busy_facts(), min_members=10))
    assert (store.rows["a"].stamp, store.rows["a"].min_members, store.rows["a"].as_of) == ("s1", 10, AS_OF)

    source.reads.clear()
    second = refresh_dashboards(source, store, ["a", "b"], min_members=10, clock=clock)
    assert (second.computed, second.current, source.reads) == ([], ["a", "b"], [])

    source.stamps["b"] = "s2"
    third = refresh_dashboards(source, store, ["a", "b"], min_members=10, clock=clock)
    assert (third.computed, source.reads) == (["b"], ["b"])
    assert store.rows["b"].stamp == "s2"


def test_a_campaign_whose_facts_are_broken_is_logged_and_the_others_refreshed(
        caplog: pytest.LogCaptureFixture) -> None:
    """FactsInvalid for one campaign names it in the log; the other campaigns are still stored."""
    source = FakeFacts({"bad": FactsInvalid("member 'x' is enrolled twice"), "good": busy_facts()},  # type: ignore[dict-item]
                       {"bad": "s", "good": "s"})
    store = FakeStore()

    with caplog.at_level(logging.ERROR):
        done = refresh_dashboards(source, store, ["bad", "good"], min_members=10, clock=FixedClock())

    assert done.failed == {"bad": "member 'x' is enrolled twice"}
    assert done.computed == ["good"]
    assert set(store.rows) == {"good"}
    assert "dashboard of bad not computed" in caplog.text
    assert "1 failed" in done.describe()


def test_latest_serves_a_current_report_with_a_fresh_as_of_and_a_stale_one_as_it_was() -> None:
    """A current stored report is read back unchanged but for "as of"; a missing one is computed
    and stored first; a stale one is served with the "as of" it was computed at, without reading
    the ledger, until a refresh; a campaign not in force has none."""
    source = FakeFacts({"a": busy_facts()}, {"a": "s1"})
    store, clock = FakeStore(), FixedClock()
    reports = StoredDashboards(source, store, min_members=10, clock=clock)

    report = reports.latest("a")
    assert report is not None
    assert report_data(report) == report_data(build_report(busy_facts(), min_members=10))
    assert store.saves == 1

    source.reads.clear()
    source.as_of_now = AS_OF + timedelta(minutes=3)
    again = reports.latest("a")
    assert again is not None
    assert (source.reads, store.saves, again.as_of) == ([], 1, AS_OF + timedelta(minutes=3))

    source.stamps["a"] = "s2"
    stale = reports.latest("a")
    assert stale is not None
    assert (source.reads, store.saves, stale.as_of) == ([], 1, AS_OF)
    refresh_dashboards(source, store, ["a"], min_members=10, clock=clock)
    assert (source.reads, store.saves) == (["a"], 2)
    assert reports.latest("gone") is None


def test_the_stamp_changes_with_k_the_terms_and_each_counter() -> None:
    """Any input a report depends on moves its stamp; the same inputs give the same stamp."""
    state = LedgerState(3, 4, 100, 612)
    base = stamp(terms(), state, min_members=10)
    assert stamp(terms(), state, min_members=10) == base
    changed = {stamp(terms(), state, min_members=11), stamp(terms(budget_cents=1), state, min_members=10),
               *(stamp(terms(), state._replace(**{f: getattr(state, f) + 1}), min_members=10)
                 for f in state._fields)}
    assert base not in changed
    assert len(changed) == 2 + len(state._fields)


@pytest.mark.parametrize(("today", "months", "expected"), [
    (date(2027, 12, 22), 13, date(2026, 11, 22)),
    (date(2027, 3, 31), 13, date(2026, 2, 28)),  # February has no 31st
    (date(2028, 3, 31), 1, date(2028, 2, 29)),
    (date(2027, 1, 15), 13, date(2025, 12, 15)),
])
def test_months_before_keeps_the_day_of_the_month_where_it_can(today: date, months: int,
                                                                expected: date) -> None:
    """13 months back is the same day of the month, or the month's last day when it is shorter."""
    assert months_before(today, months) == expected


def test_purchases_are_kept_until_90_days_after_the_last_redeem_by_and_13_months() -> None:
    """A merchant id still within 90 days of its campaigns' last redeem_by loses nothing; past it, or
    with no campaign, purchases older than 13 months go."""
    last = {"MID-A": date(2027, 7, 31), "MID-B": date(2026, 1, 31)}
    today = date(2027, 10, 29)  # MID-A's redeem_by + 90 days: still kept
    assert prune_before(last, ["MID-A", "MID-B", "MID-GONE"], today=today) == {
        "MID-B": date(2026, 9, 29), "MID-GONE": date(2026, 9, 29)}
    assert prune_before(last, ["MID-A"], today=today + timedelta(days=1)) == {"MID-A": date(2026, 9, 30)}
