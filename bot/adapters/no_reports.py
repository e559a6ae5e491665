"""The dashboard's reports before a store of them is wired in: there are none yet."""

from __future__ import annotations

from bot.domain.dashboard.report import Report


class NoReports:
    """A DashboardReports with no report for any campaign (the page says "no figures yet")."""

    def latest(self, campaign_id: str) -> Report | None:
        """Return None: no report has been computed."""
        return None
