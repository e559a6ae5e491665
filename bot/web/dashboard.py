"""The merchant dashboard's routes: a campaign's charts and tables, campaigns side by side, and
a CSV of every table. The figures are the stored report's, suppressed for privacy; the read
model checks the campaign is the viewer's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from bot.adapters.exports import neutralise
from bot.adapters.sql.read_models import Dashboard, NotVisible
from bot.domain.dashboard.report import CARDS, csv_rows, csv_value
from bot.web.pages import csv_download
from bot.web.registry import Ctx, route

COMPARE_COLUMNS = ("figure", "label")


def _board(ctx: Ctx) -> Dashboard:
    app = ctx.web.app
    return ctx.web.portal.read.dashboard(ctx.viewer, ctx.request.path_params["campaign_id"],
                                         app.campaigns.current().by_id, app.clock())


@route("/dashboard")
def dashboards(ctx: Ctx) -> Response:
    """Show the viewer's campaigns side by side: each headline figure, campaign by campaign."""
    app = ctx.web.app
    boards = ctx.web.portal.read.dashboards(ctx.viewer, app.campaigns.current().by_id, app.clock())
    return ctx.page("dashboards.html", title="Dashboards", boards=boards, rows=_compare_rows(boards))


def _compare_rows(boards: Sequence[Dashboard]) -> list[dict[str, Any]]:
    """Return the side-by-side table: a row per headline card, a cell per campaign (None: no report)."""
    rows = []
    for key, _table in CARDS:
        cards = [next((c for c in b.report.cards if c.key == key), None) if b.report else None
                 for b in boards]
        first = next((c for c in cards if c is not None), None)
        if first is not None:
            rows.append({"key": key, "label": first.label, "definition": first.definition, "unit": first.unit,
                         "cards": cards})
    return rows


@route("/dashboard/compare.csv", kind="data")
def dashboards_csv(ctx: Ctx) -> Response:
    """Download the side-by-side table: a row per headline figure, a column per campaign (totals)."""
    app = ctx.web.app
    boards = ctx.web.portal.read.dashboards(ctx.viewer, app.campaigns.current().by_id, app.clock())
    ctx.audit("export download", "dashboard compare.csv")
    columns = [*COMPARE_COLUMNS, *(b.view.id for b in boards)]
    rows = ([row["key"], row["label"], *("" if card is None else csv_value(card.total, card.unit)
                                         for card in row["cards"])] for row in _compare_rows(boards))
    return csv_download("dashboard.compare.csv", [neutralise(c) for c in columns],
                ([neutralise(cell) for cell in row] for row in rows))


@route("/campaigns/{campaign_id}/dashboard/{table}.csv", kind="data")
def dashboard_table_csv(ctx: Ctx) -> Response:
    """Download one of a campaign's dashboard tables as CSV (the figures shown, markers as text)."""
    board = _board(ctx)
    name = ctx.request.path_params["table"]
    report = board.report
    table = next((t for t in report.tables if t.name == name), None) if report else None
    if table is None:
        raise NotVisible(name)
    ctx.audit("export download", f"{board.view.id} dashboard {name}.csv")
    header, *rows = csv_rows(table)
    return csv_download(f"{board.view.id}.{name}.csv", [neutralise(c) for c in header],
                ([neutralise(cell) for cell in row] for row in rows))
