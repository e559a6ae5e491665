"""What the dashboard's pages show beside the report: which chart goes above which table."""

from __future__ import annotations

from bot.domain.dashboard.charts import Chart, dashboard_charts
from bot.domain.dashboard.report import Report

# The tables dashboard_charts draws, in the order it returns the charts: each chart goes above its table.
CHARTED = ("use_over_time", "spend_over_time", "days_to_first", "coming_back", "new_returning_over_time",
           "before_after")


def charts_by_table(report: Report | None) -> dict[str, Chart]:
    """Return the report's charts keyed by the table each one draws (none without a report)."""
    if report is None:
        return {}
    return dict(zip(CHARTED, dashboard_charts(report, prefix=report.campaign_id), strict=True))
