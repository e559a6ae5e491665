"""The JSON API for merchants' BI tools (/api/v1): their campaigns and each one's dashboard report.

Every call carries a merchant's API token (Authorization: Bearer); cookies are never read. The
figures are the stored report's, suppressed for privacy exactly as on the pages; a campaign of
another merchant answers 404, the same as one that does not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from bot.adapters.sql.read_models import Dashboard
from bot.domain.dashboard.report import report_data
from bot.web.registry import Ctx, route

NO_FIGURES = "No figures yet: the dashboard is computed after the next poll and reconciliation."


def _campaign(board: Dashboard) -> dict[str, Any]:
    view, campaign = board.view, board.view.campaign
    return {"id": view.id, "merchant": view.merchant, "hashtag": view.hashtag, "status": view.status,
            "currency": view.currency, "max_enrolments": view.max_enrolments,
            "budget_cents": view.budget_cents,
            "enrol_from": campaign.enrol_from.isoformat() if campaign else None,
            "enrol_until": campaign.enrol_until.isoformat() if campaign else None,
            "redeem_by": campaign.redeem_by.isoformat() if campaign else None,
            "as_of": board.report.as_of.isoformat() if board.report else None,
            "report": f"/api/v1/campaigns/{view.id}/report"}


@route("/api/v1/campaigns", access="token", kind="data")
def api_v1_campaigns(ctx: Ctx) -> Response:
    """Return the token's merchant's campaigns: terms, status and when their figures are as of."""
    app = ctx.web.app
    boards = ctx.web.portal.read.dashboards(ctx.viewer, app.campaigns.current().by_id, app.clock())
    return JSONResponse({"campaigns": [_campaign(b) for b in boards]})


@route("/api/v1/campaigns/{campaign_id}/report", access="token", kind="data")
def api_v1_report(ctx: Ctx) -> Response:
    """Return a campaign's dashboard report (the same suppressed figures as its page)."""
    app = ctx.web.app
    board = ctx.web.portal.read.dashboard(ctx.viewer, ctx.request.path_params["campaign_id"],
                                          app.campaigns.current().by_id, app.clock())
    if board.report is None:
        return JSONResponse({"campaign_id": board.view.id, "as_of": None, "message": NO_FIGURES})
    return JSONResponse(report_data(board.report))
