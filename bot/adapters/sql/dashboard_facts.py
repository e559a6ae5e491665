"""The dashboard's read model: one campaign's facts read from the ledger, and the counters they
change with (the stamp of a stored report). Reads only; straight from the driver's cursor where a
campaign has a million rows, as the reconciliation's own loads do.

- Enrolments: the campaign's, each on its calendar day in the campaign's time zone.
- Purchases: the kept purchases (merchant_purchases) at the campaign's merchant ids in its
  currency, each with the refunds naming it (capped at the purchase), qualifying when the
  campaign credited it.
- Credits: the campaign's credits and clawbacks (credits), dated by their transaction.
- Histories: every member who ever linked a card, held from the later of the data's first day and
  the day their latest link began, until the day it ended.
- The span: from the first day kept at the merchant ids (or, with nothing kept yet, the day the
  campaign's version was loaded) to the last day anything of the campaign is dated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select

from bot.adapters.sql.engine import READONLY
from bot.adapters.sql.tables import (
    campaigns_t,
    card_links_t,
    credits_t,
    cursors_t,
    enrolments_t,
    files_t,
    merchant_purchases_t,
)
from bot.adapters.sql.toolkit import day_reader
from bot.domain.campaigns import Campaign
from bot.domain.dashboard.facts import CampaignFacts, Credit, DataSpan, Enrolment, History, Purchase, Terms
from bot.domain.dashboard.snapshots import LedgerState, stamp
from bot.domain.ledger import FileStatus
from bot.domain.money import to_cents
from bot.domain.reconcile import CREDIT


def terms_of(campaign: Campaign) -> Terms:
    """Return the campaign's terms as the dashboard needs them."""
    budget = to_cents(campaign.budget) if campaign.budget is not None else None
    return Terms(campaign.id, campaign.merchant, campaign.currency, campaign.enrol_from, campaign.enrol_until,
                 campaign.redeem_by, campaign.max_enrolments, budget)


class SqlDashboardFacts:
    """Reads one campaign's facts, and the state of the ledger they depend on."""

    def __init__(self, engine: Engine, campaigns: Callable[[], Mapping[str, Campaign]], *,
                 min_members: int, polled_cursor: str) -> None:
        self._engine, self._campaigns = engine, campaigns
        self._k, self._polled = min_members, polled_cursor

    def _read(self) -> Any:
        return self._engine.connect().execution_options(**{READONLY: True})

    def campaign_ids(self) -> list[str]:
        """Return the ids of the campaigns in force."""
        return sorted(self._campaigns())

    def _campaign(self, campaign_id: str) -> Campaign:
        campaign = self._campaigns().get(campaign_id)
        if campaign is None:
            raise KeyError(f"no campaign {campaign_id!r} is in force")
        return campaign

    def stamp_of(self, campaign_id: str) -> str:
        """Return what the campaign's facts depend on, from a few counters (no data is read)."""
        campaign = self._campaign(campaign_id)
        f, e, cl = files_t.c, enrolments_t.c, card_links_t.c
        with self._read() as conn:
            last_file, runs = conn.execute(
                select(func.coalesce(func.max(f.id), 0), func.coalesce(func.sum(f.run), 0))
                .where(f.status == FileStatus.RECONCILED.value)).one()
            enrolled = conn.execute(select(func.coalesce(func.max(e.id), 0))
                                    .where(e.campaign_id == campaign_id)).scalar_one()
            last_link = conn.execute(select(func.coalesce(func.max(cl.id), 0))).scalar_one()
        state = LedgerState(int(last_file), int(runs), int(enrolled), int(last_link))
        return stamp(terms_of(campaign), state, min_members=self._k)

    def as_of(self, now: datetime) -> datetime:
        """Return when the last poll and the last reconciliation finished, the later (else ``now``)."""
        with self._read() as conn:
            polled = conn.execute(select(cursors_t.c.value).where(cursors_t.c.name == self._polled)).scalar()
            finished = conn.execute(select(func.max(files_t.c.finished_at))).scalar()
        moments = [datetime.fromisoformat(polled)] if polled else []
        if finished is not None:
            moments.append(finished)
        return max(moments) if moments else now

    def facts_for(self, campaign_id: str, now: datetime) -> CampaignFacts:
        """Return everything the campaign's dashboard is computed from, as the ledger holds it now."""
        campaign = self._campaign(campaign_id)
        tz, read_day = campaign.tz, day_reader()
        mids = sorted(set(campaign.merchant_ids))
        with self._read() as conn:
            e, c = enrolments_t.c, credits_t.c
            enrolments = [Enrolment(member, _local_day(at, tz)) for member, at in
                          _raw(conn, select(e.member_id, e.enrolled_at).where(e.campaign_id == campaign_id))]
            credits: list[Credit] = []
            credited: set[str] = set()
            for tid, member, day, cents, kind in _raw(conn, select(c.transaction_id, c.member_id, c.day,
                                                                   c.cents, c.kind)
                                                      .where(c.campaign_id == campaign_id)):
                credits.append(Credit(member, read_day(day), cents))
                if kind == CREDIT.value:
                    credited.add(tid)
            purchases = _purchases(conn, mids, campaign.currency, credited, read_day)
            links = list(_raw(conn, select(card_links_t.c.member_id, card_links_t.c.linked_at,
                                           card_links_t.c.unlinked_at).order_by(card_links_t.c.id)))
            loaded = conn.execute(select(campaigns_t.c.loaded_at)
                                  .where(campaigns_t.c.id == campaign_id)).scalar()
        days = [p.day for p in purchases]
        first = min(days) if days else (_local_day(loaded, tz) if loaded is not None else campaign.enrol_from)
        last = max([first, *days, *(e.day for e in enrolments), *(c.day for c in credits)])
        span = DataSpan(min(first, last), last)
        return CampaignFacts(terms_of(campaign), span, self.as_of(now), enrolments, purchases, credits,
                             _histories(links, span, tz))


def _purchases(conn: Connection, merchant_ids: list[str], currency: str, credited: set[str],
               read_day: Callable[[Any], date]) -> list[Purchase]:
    """Return the kept purchases at these ids in ``currency``, each with its refunds applied."""
    if not merchant_ids:
        return []
    mp = merchant_purchases_t.c
    rows = _raw(conn, select(mp.transaction_id, mp.member_id, mp.day, mp.cents, mp.refund_of)
                .where(mp.merchant_id.in_(merchant_ids), mp.currency == currency))
    bought: list[tuple[str, str, Any, int]] = []
    refunded: dict[str, int] = {}
    for tid, member, day, cents, refund_of in rows:
        if refund_of is None:
            if cents > 0:
                bought.append((tid, member, day, cents))
        else:
            refunded[refund_of] = refunded.get(refund_of, 0) + cents
    return [Purchase(member, read_day(day), cents, tid in credited, min(cents, refunded.get(tid, 0)))
            for tid, member, day, cents in bought]


def _histories(links: list[tuple[str, Any, Any]], span: DataSpan, tz: tzinfo) -> list[History]:
    """Return each linked member's held days: their latest link (rows come oldest first)."""
    latest: dict[str, tuple[Any, Any]] = {}
    for member, linked_at, unlinked_at in links:
        latest[member] = (linked_at, unlinked_at)
    found: list[History] = []
    for member, (linked_at, unlinked_at) in latest.items():
        held_from = max(span.first_day, _local_day(linked_at, tz))
        held_until = _local_day(unlinked_at, tz) if unlinked_at is not None else None
        if held_until is not None and held_until < held_from:
            continue  # the link ended before the data begins: nothing of theirs is held
        found.append(History(member, held_from, held_until))
    return found


def _raw(conn: Connection, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    """Yield the driver's own tuples (SQLite gives dates and times as text): no Row objects."""
    cursor = conn.execute(query).cursor
    assert cursor is not None
    while chunk := cursor.fetchmany(10_000):
        yield from chunk


def _local_day(value: Any, tz: tzinfo) -> date:
    """Return the calendar day in ``tz`` of a stored UTC moment (text on SQLite, naive on PostgreSQL)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC).astimezone(tz).date()
