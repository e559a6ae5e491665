"""The merchant dashboard's stored reports: recomputed when the ledger moved, read back for pages.

A report is a pure function of the ledger (and k, and the report code), so it is kept as a
snapshot: ``refresh_dashboards`` rebuilds each campaign's report whose stamp changed, each in a
transaction of its own, after reconciliation runs and polls that enrolled someone. A page reads
one row (``StoredDashboards.latest``); a report that is missing or stale is recomputed first, so
what is served always equals a recomputation from the ledger as it is. ``prune_kept_purchases``
applies the retention rule to the purchases kept for the dashboard.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from bot.clock import Clock
from bot.domain.dashboard.facts import FactsInvalid
from bot.domain.dashboard.report import Report, build_report, report_data, report_from_data
from bot.domain.dashboard.retention import prune_before
from bot.domain.dashboard.snapshots import StoredReport
from bot.ports import DashboardFacts, DashboardStore, UnitOfWorkFactory
from bot.services.campaigns import Catalog

logger = logging.getLogger(__name__)


@dataclass
class Refreshed:
    """What one refresh did, per campaign id."""

    computed: list[str] = field(default_factory=list)  # recomputed: the ledger had moved
    current: list[str] = field(default_factory=list)  # already up to date
    failed: dict[str, str] = field(default_factory=dict)  # campaign id -> why (logged; the rest carry on)

    def describe(self) -> str:
        """Return one line for the log."""
        text = f"{len(self.computed)} dashboard(s) recomputed, {len(self.current)} current"
        return text + (f", {len(self.failed)} failed" if self.failed else "")


def compute_report(facts: DashboardFacts, campaign_id: str, *, min_members: int, clock: Clock,
                   stamp: str | None = None) -> StoredReport:
    """Return the campaign's report computed from the ledger now, ready to store."""
    stamp = stamp if stamp is not None else facts.stamp_of(campaign_id)
    report = build_report(facts.facts_for(campaign_id, clock()), min_members=min_members)
    return StoredReport(campaign_id, stamp, report.as_of, min_members, report_data(report))


def refresh_dashboards(facts: DashboardFacts, store: DashboardStore, campaign_ids: Iterable[str], *,
                       min_members: int, clock: Clock) -> Refreshed:
    """Recompute and store the report of each campaign whose ledger stamp changed since it was stored.

    Each report is read and stored in a transaction of its own: a crash loses at most the one
    being computed, and the next refresh (or page) recomputes it. The stamp is taken before the
    facts are read, so a change while they are read makes the next refresh compute again.
    """
    done = Refreshed()
    stored = store.stamps()
    for campaign_id in campaign_ids:
        stamp = facts.stamp_of(campaign_id)
        if stored.get(campaign_id) == stamp:
            done.current.append(campaign_id)
            continue
        try:
            store.save(compute_report(facts, campaign_id, min_members=min_members, clock=clock, stamp=stamp),
                       clock())
        except FactsInvalid as exc:  # a bug in what the ledger holds: say which, keep the others going
            logger.error("dashboard of %s not computed: %s", campaign_id, exc)
            done.failed[campaign_id] = str(exc)
            continue
        done.computed.append(campaign_id)
    return done


class StoredDashboards:
    """The DashboardReports port: each campaign's stored report (computed when missing; a stale
    one is served as of when it was computed until refresh_dashboards replaces it)."""

    def __init__(self, facts: DashboardFacts, store: DashboardStore, *, min_members: int,
                 clock: Clock) -> None:
        self._facts, self._store, self._k, self._clock = facts, store, min_members, clock

    def latest(self, campaign_id: str) -> Report | None:
        """Return the campaign's report as of the last poll and reconciliation (None: no such
        campaign in force). A stored report whose stamp still matches is served as stored, its
        "as of" moved to now's; a stale one is served with the "as of" it was computed at; a
        missing one is computed and stored first."""
        try:
            stamp = self._facts.stamp_of(campaign_id)
        except KeyError:
            return None
        stored = self._store.stored(campaign_id)
        if stored is None:
            stored = compute_report(self._facts, campaign_id, min_members=self._k, clock=self._clock,
                                    stamp=stamp)
            self._store.save(stored, self._clock())
        report = report_from_data(stored.data)
        if stored.stamp != stamp:
            # Stale: served as it was computed, saying when. Recomputing here would make a viewer
            # wait for the whole ledger (seconds to a minute at a million purchases) and let
            # concurrent views each hold a copy of it; refresh_dashboards (the job after each
            # poll interval, and `offerbot reconcile`) brings it up to date.
            return report
        # Same stamp, same facts: only "as of" differs from a recomputation, and it is cheap to read.
        return dataclasses.replace(report, as_of=self._facts.as_of(self._clock()))


def prune_kept_purchases(uow: UnitOfWorkFactory, catalog: Catalog, store: DashboardStore, *,
                         today: date) -> int:
    """Delete the dashboard's kept purchases the retention rule no longer keeps; return how many.

    A merchant id's purchases are kept until 90 days after the last ``redeem_by`` of its campaigns,
    and each for at least 13 months. Reports of campaigns at pruned ids are recomputed when next
    asked for.
    """
    last_redeem: dict[str, date] = {}
    for campaign in catalog.campaigns:
        for mid in campaign.merchant_ids:
            last_redeem[mid] = max(last_redeem.get(mid, campaign.redeem_by), campaign.redeem_by)
    with uow() as tx:
        before = prune_before(last_redeem, tx.ledger.kept_merchant_ids(), today=today)
        gone = tx.ledger.prune_purchases(before) if before else 0
        tx.commit()
    if gone:
        touched = sorted({c.id for c in catalog.campaigns if set(c.merchant_ids) & set(before)})
        store.forget(touched)
        logger.info("dashboard: %d kept purchase(s) past their retention deleted", gone)
    return gone
