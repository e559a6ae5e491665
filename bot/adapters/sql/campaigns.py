"""Campaigns: the counters (enrolments reserved, budget spent) and the last good version of each.

The only writer of the campaigns table: reconciliation moves the spent totals through
``add_spent`` here, the ledger routing its call (see LedgerRepository.add_spent).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from bot.adapters.sql.tables import campaigns_t
from bot.adapters.sql.toolkit import upsert
from bot.domain.campaign_versions import CampaignRecord
from bot.domain.campaigns import Campaign
from bot.domain.money import to_cents


class CampaignRepository:
    """Campaign counters (enrolments reserved, budget spent) and the last good version of each."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def sync(self, campaigns: Iterable[Campaign], now: datetime) -> None:
        """Create or update the row of each campaign, keeping its counters."""
        self._upsert([_campaign_row(c, now) for c in campaigns])

    def install(self, versions: Iterable[tuple[Campaign, str]], now: datetime) -> None:
        """Save each (campaign, file) as the campaign's last good version, keeping its counters."""
        self._upsert([{**_campaign_row(c, now), "source": source, "loaded_at": now,
                       "definition": json.dumps(c.definition(), sort_keys=True, separators=(",", ":"))}
                      for c, source in versions])

    def ensure(self, campaigns: Iterable[Campaign], now: datetime) -> None:
        """Create the rows of campaigns the database does not know yet; leave the others alone."""
        rows = [_campaign_row(c, now) for c in campaigns]
        if rows:
            self._conn.execute(upsert(self._conn, campaigns_t).on_conflict_do_nothing(
                index_elements=["id"]), rows)

    def forget(self, campaign_ids: Sequence[str]) -> None:
        """Drop the kept version of campaigns no file defines any more (their counters stay)."""
        if campaign_ids:
            self._conn.execute(update(campaigns_t).where(campaigns_t.c.id.in_(list(campaign_ids)))
                               .values(definition=None, source=None, loaded_at=None))

    def _upsert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        stmt = upsert(self._conn, campaigns_t)
        keep = [k for k in rows[0] if k not in ("id", "enrolled", "spent_cents")]
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["id"], set_={k: stmt.excluded[k] for k in keep}), rows)

    def records(self) -> list[CampaignRecord]:
        """Return every campaign the database knows, with its last good version if one is kept."""
        c = campaigns_t.c
        rows = self._conn.execute(select(c.id, c.hashtag, c.source, c.definition, c.loaded_at, c.enrolled,
                                         c.spent_cents).order_by(c.id))
        return [CampaignRecord(r.id, r.hashtag, r.source, _json_object(r.definition), r.loaded_at,
                               r.enrolled, r.spent_cents) for r in rows]

    def enrolment_counts(self, *, limited_only: bool = False) -> dict[str, int]:
        """Return enrolments so far per campaign id (only limited-quantity ones if asked)."""
        query = select(campaigns_t.c.id, campaigns_t.c.enrolled)
        if limited_only:
            query = query.where(campaigns_t.c.max_enrolments.is_not(None))
        return {row.id: row.enrolled for row in self._conn.execute(query)}

    def spent_cents(self) -> dict[str, int]:
        """Return the cents each campaign with a budget has spent (credits net of clawbacks)."""
        rows = self._conn.execute(select(campaigns_t.c.id, campaigns_t.c.spent_cents)
                                  .where(campaigns_t.c.budget_cents.is_not(None)))
        return {row.id: row.spent_cents for row in rows}

    def spent_totals(self) -> dict[str, int]:
        """Return cents credited net of clawbacks, per campaign, budget or not (what
        reconciliation starts its running totals from)."""
        rows = self._conn.execute(select(campaigns_t.c.id, campaigns_t.c.spent_cents))
        return {campaign: int(total) for campaign, total in rows}

    # One conditional UPDATE, never read-then-write, so concurrent pollers cannot oversell.
    _RESERVE = (update(campaigns_t)
                .where(campaigns_t.c.id == bindparam("campaign_id"),
                       or_(campaigns_t.c.max_enrolments.is_(None),
                           campaigns_t.c.enrolled < campaigns_t.c.max_enrolments))
                .values(enrolled=campaigns_t.c.enrolled + 1))

    def reserve(self, campaign_id: str) -> bool:
        """Take one place of a campaign's limited quantity; False when none is left."""
        return self._conn.execute(self._RESERVE, {"campaign_id": campaign_id}).rowcount == 1

    # All the places a batch wants or none: the WHERE is re-checked on the newest row version
    # after waiting for a concurrent writer (PostgreSQL) or under the one write lock (SQLite).
    _RESERVE_ALL = (update(campaigns_t)
                    .where(campaigns_t.c.id == bindparam("campaign_id"),
                           or_(campaigns_t.c.max_enrolments.is_(None),
                               campaigns_t.c.enrolled + bindparam("wanted") <= campaigns_t.c.max_enrolments))
                    .values(enrolled=campaigns_t.c.enrolled + bindparam("wanted")))
    _RESERVE_ALL_PG = ("UPDATE campaigns SET enrolled = enrolled + %(wanted)s WHERE id = %(campaign_id)s "
                       "AND (max_enrolments IS NULL OR enrolled + %(wanted)s <= max_enrolments) "
                       "RETURNING id")

    def reserve_many(self, wanted: Mapping[str, int]) -> dict[str, int]:
        """Take up to ``wanted[c]`` places of each limited campaign ``c``; return the places granted.

        One conditional UPDATE per campaign takes every place it wants when that many are left
        (never read-then-write, never past the limit); on PostgreSQL they go in one pipelined
        round trip, in campaign order, so that two pollers lock the rows in the same order. Only
        a campaign with fewer places left than wanted (its sell-out, or a concurrent poller) is
        then served place by place until none is left.
        """
        asked = sorted((c, n) for c, n in wanted.items() if n > 0)
        if not asked:
            return {}
        whole = self._reserve_whole(asked)
        granted = {c: n for c, n in asked if c in whole}
        for campaign_id, n in asked:
            if campaign_id not in whole:
                taken = 0
                while taken < n and self.reserve(campaign_id):
                    taken += 1
                granted[campaign_id] = taken
        return granted

    def _reserve_whole(self, asked: list[tuple[str, int]]) -> set[str]:
        """Return the campaigns whose whole ask was taken, one conditional UPDATE each."""
        if self._conn.dialect.name != "postgresql":  # in the process: a round trip costs nothing
            return {c for c, n in asked
                    if self._conn.execute(self._RESERVE_ALL, {"campaign_id": c, "wanted": n}).rowcount == 1}
        params = [{"campaign_id": c, "wanted": n} for c, n in asked]
        taken: set[str] = set()
        cursor = self._conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor:
            cursor.executemany(self._RESERVE_ALL_PG, params, returning=True)
            while True:
                taken.update(row[0] for row in cursor.fetchall())
                if not cursor.nextset():
                    break
        return taken

    _ADD_ENROLLED = (update(campaigns_t).where(campaigns_t.c.id == bindparam("campaign_id"))
                     .values(enrolled=campaigns_t.c.enrolled + bindparam("n")))

    # One statement for a whole batch: psycopg would send one UPDATE per campaign. The rows are
    # locked first in id order, so two writers moving several counters never deadlock.
    _ADD_ENROLLED_PG = ("WITH locked AS (SELECT id FROM campaigns WHERE id = ANY(%(ids)s::varchar[]) "
                        "ORDER BY id FOR NO KEY UPDATE) "
                        "UPDATE campaigns SET enrolled = campaigns.enrolled + moves.n "
                        "FROM unnest(%(ids)s::varchar[], %(ns)s::int[]) AS moves(id, n) "
                        "WHERE campaigns.id = moves.id AND campaigns.id IN (SELECT id FROM locked)")

    def add_enrolled(self, counts: Mapping[str, int]) -> None:
        """Count enrolments in campaigns without a limited quantity (nothing to reserve)."""
        moves = sorted((c, n) for c, n in counts.items() if n)
        if not moves:
            return
        if self._conn.dialect.name == "postgresql":
            self._conn.exec_driver_sql(self._ADD_ENROLLED_PG, {"ids": [c for c, _ in moves],
                                                               "ns": [n for _, n in moves]})
        else:
            self._conn.execute(self._ADD_ENROLLED, [{"campaign_id": c, "n": n} for c, n in moves])

    _ADD_SPENT = (update(campaigns_t)
                  .where(campaigns_t.c.id == bindparam("campaign_id"),
                         or_(campaigns_t.c.budget_cents.is_(None), bindparam("delta") <= 0,
                             campaigns_t.c.spent_cents + bindparam("delta") <= campaigns_t.c.budget_cents))
                  .values(spent_cents=campaigns_t.c.spent_cents + bindparam("delta")))

    def add_spent(self, deltas: Mapping[str, int]) -> list[str]:
        """Move each campaign's spent total by the given cents, never past its budget.

        One conditional UPDATE per campaign (never read-then-write); returns the campaigns
        whose budget the increase would have passed, which were left unchanged.
        """
        refused = []
        # In id order, as intake's reservations and counters lock campaign rows: a reconciliation
        # and a poller on one PostgreSQL database then never wait on each other in a cycle.
        for campaign_id, delta in sorted(deltas.items()):
            if delta and self._conn.execute(self._ADD_SPENT, {"campaign_id": campaign_id,
                                                              "delta": delta}).rowcount != 1:
                refused.append(campaign_id)
        return refused


def _campaign_row(c: Campaign, now: datetime) -> dict[str, Any]:
    return {"id": c.id, "hashtag": c.hashtag, "merchant": c.merchant, "max_enrolments": c.max_enrolments,
            "budget_cents": None if c.budget is None else to_cents(c.budget), "updated_at": now}


def _json_object(text: str | None) -> dict[str, Any] | None:
    """Return the JSON object in ``text``, or None when there is none (or it is not readable)."""
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
