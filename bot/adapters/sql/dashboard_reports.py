"""The merchant dashboard's stored reports: one row per campaign holding report_data as JSON and the
stamp of the ledger it was computed from. The only writer of dashboard_reports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select

from bot.adapters.sql.engine import READONLY
from bot.adapters.sql.tables import dashboard_reports_t
from bot.adapters.sql.toolkit import upsert
from bot.domain.dashboard.snapshots import StoredReport

_r = dashboard_reports_t.c


class DashboardReportStore:
    """Stored dashboard reports, each call in a transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _read(self) -> Any:
        return self._engine.connect().execution_options(**{READONLY: True})

    def stored(self, campaign_id: str) -> StoredReport | None:
        """Return the campaign's stored report, or None."""
        with self._read() as conn:
            row = conn.execute(select(_r.campaign_id, _r.stamp, _r.as_of, _r.min_members, _r.data)
                               .where(_r.campaign_id == campaign_id)).first()
        if row is None:
            return None
        return StoredReport(row.campaign_id, row.stamp, row.as_of, row.min_members, json.loads(row.data))

    def stamps(self) -> dict[str, str]:
        """Return the stamp of every stored report, by campaign id."""
        with self._read() as conn:
            return {row.campaign_id: row.stamp for row in conn.execute(select(_r.campaign_id, _r.stamp))}

    def save(self, report: StoredReport, now: datetime) -> None:
        """Store (or replace) a campaign's report, in a transaction of its own."""
        values = {"campaign_id": report.campaign_id, "stamp": report.stamp, "as_of": report.as_of,
                  "min_members": report.min_members, "computed_at": now,
                  "data": json.dumps(report.data, separators=(",", ":"), sort_keys=True)}
        with self._engine.begin() as conn:
            stmt = upsert(conn, dashboard_reports_t).values(values)
            changed = {k: stmt.excluded[k] for k in values if k != "campaign_id"}
            conn.execute(stmt.on_conflict_do_update(index_elements=["campaign_id"], set_=changed))

    def forget(self, campaign_ids: Sequence[str]) -> None:
        """Drop these campaigns' stored reports (recomputed when next asked for)."""
        if campaign_ids:
            with self._engine.begin() as conn:
                conn.execute(delete(dashboard_reports_t).where(_r.campaign_id.in_(list(campaign_ids))))
