"""The portal's routes: each asks a read model or a service, then renders a page or a file.

Over 300 lines on purpose: every handler of the portal, each a few thin lines, in one module
(bot/web/registry.py says who may call each), so what any page does is read in one place.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from bot.adapters.exports import CREDIT_COLUMNS, REJECT_COLUMNS
from bot.adapters.sql.read_models import CampaignView, NotVisible, RunView
from bot.domain.campaigns import CampaignStatus
from bot.domain.money import cents_text
from bot.domain.portal import SIGN_IN_REFUSED, tokens_match
from bot.domain.reconcile_summary import Summary
from bot.services.explain import explain
from bot.services.reconcile_exports import currency_of
from bot.services.status import alerts, read_status
from bot.services.submissions import SubmissionError
from bot.web.dashboard_view import charts_by_table
from bot.web.registry import Ctx, new_token, route
from bot.web.upload import UploadRefused, stream_upload

STATIC = Path(__file__).resolve().parent / "static"
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_STATUS_ORDER = [CampaignStatus.LIVE.value, CampaignStatus.UPCOMING.value, CampaignStatus.SOLD_OUT.value,
                 CampaignStatus.ENDED.value, "no file"]


# signing in and out
@route("/signin", access="public")
def sign_in_form(ctx: Ctx) -> Response:
    """Show the sign-in form (already signed in: go to the overview)."""
    if ctx.session is not None:
        return RedirectResponse("/", status_code=303)
    return _sign_in_page(ctx)


def _sign_in_page(ctx: Ctx, message: str = "", status: int = 200) -> Response:
    cookies = ctx.web.cookies
    token = ctx.request.cookies.get(cookies.sign_in) or new_token()
    response = ctx.page("signin.html", status, title="Sign in", sign_in_token=token, message=message,
                        next=_next(ctx.arg("next")))
    cookies.set(response, cookies.sign_in, token)
    return response


@route("/signin", methods=("POST",), access="public")
def sign_in(ctx: Ctx) -> Response:
    """Start a session for the right email and password (a fresh session id every time)."""
    accounts = ctx.web.portal.accounts
    cookies = ctx.web.cookies
    signed = accounts.sign_in(ctx.form.get("email", ""), ctx.form.get("password", ""), address=ctx.address,
                              replaces=ctx.request.cookies.get(cookies.session))
    if signed is None:
        return _sign_in_page(ctx, f"{SIGN_IN_REFUSED} After 10 failures in a row an account is locked "
                                  "for 30 minutes.", 401)
    response = RedirectResponse(_next(ctx.form.get("next", "")), status_code=303)
    cookies.set(response, cookies.session, signed.token)
    cookies.clear(response, cookies.sign_in)
    return response


def _next(target: str) -> str:
    """Return a local path to go to after signing in (never another site)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@route("/signout", methods=("POST",))
def sign_out(ctx: Ctx) -> Response:
    """End the session on the server and forget the cookie."""
    assert ctx.session is not None
    ctx.web.portal.accounts.sign_out(ctx.session, address=ctx.address)
    response = RedirectResponse("/signin", status_code=303)
    ctx.web.cookies.clear(response, ctx.web.cookies.session)
    return response


# overview and campaigns
@route("/")
def overview(ctx: Ctx) -> Response:
    """Show the bot's state and health (ops) and the campaigns by status."""
    app = ctx.web.app
    now = app.clock()
    views = ctx.web.portal.read.campaigns(ctx.viewer, app.campaigns.current().by_id, now)
    status = problems = None
    notices: list[tuple[str, list[str]]] = []
    if ctx.viewer.is_ops:
        status = read_status(app.uow, app.locks, app.campaigns.inspect(), app.key_use())
        problems = status.problems(now, app.settings.poll_interval)
        notices = alerts(status)
    return ctx.page("overview.html", title="Overview", groups=_by_status(views), status=status,
                    problems=problems, notices=notices, now=now)


def _by_status(views: Iterable[CampaignView]) -> list[tuple[str, list[CampaignView]]]:
    groups: dict[str, list[CampaignView]] = {name: [] for name in _STATUS_ORDER}
    for view in views:
        groups.setdefault(view.status, []).append(view)
    return [(name, items) for name, items in groups.items() if items]


@route("/campaigns/{campaign_id}")
def campaign_page(ctx: Ctx) -> Response:
    """Show one campaign: its rules and dashboard, and for ops its exact standing and credits per file."""
    detail = _campaign(ctx)
    app = ctx.web.app
    board = ctx.web.portal.read.dashboard(ctx.viewer, detail.view.id, app.campaigns.current().by_id,
                                          app.clock())
    return ctx.page("campaign.html", title=detail.view.id, detail=detail, report=board.report,
                    charts=charts_by_table(board.report))


def _campaign(ctx: Ctx) -> Any:
    app = ctx.web.app
    return ctx.web.portal.read.campaign(ctx.viewer, ctx.request.path_params["campaign_id"],
                                        app.campaigns.current().by_id, app.clock())


@route("/campaigns/{campaign_id}/totals.csv", access="ops", kind="data")
def campaign_totals(ctx: Ctx) -> Response:
    """Download a campaign's credits and clawbacks per transaction file (exact counts: ops only)."""
    detail = _campaign(ctx)
    ctx.audit("export download", f"{detail.view.id} totals.csv")
    rows = ([t.file_name, t.sha256, t.credits, _cents(t.credited_cents), t.clawbacks,
             _cents(t.clawed_back_cents)] for t in detail.totals)
    return csv_download(f"{detail.view.id}.totals.csv", ("file", "sha256", "credits", "credited", "clawbacks",
                                                 "clawed_back"), rows)


@route("/api/campaigns", kind="data")
def api_campaigns(ctx: Ctx) -> Response:
    """Return the viewer's campaigns as JSON."""
    app = ctx.web.app
    views = ctx.web.portal.read.campaigns(ctx.viewer, app.campaigns.current().by_id, app.clock())
    return JSONResponse({"campaigns": [_campaign_json(v) for v in views]})


@route("/api/campaigns/{campaign_id}", kind="data")
def api_campaign(ctx: Ctx) -> Response:
    """Return one campaign and its totals per file as JSON."""
    detail = _campaign(ctx)
    return JSONResponse({**_campaign_json(detail.view), "files": [asdict(t) for t in detail.totals]})


def _campaign_json(view: CampaignView) -> dict[str, Any]:
    return {"id": view.id, "hashtag": view.hashtag, "merchant": view.merchant, "status": view.status,
            "enrolled": view.enrolled, "max_enrolments": view.max_enrolments, "remaining": view.remaining,
            "budget_cents": view.budget_cents, "spent_cents": view.spent_cents, "currency": view.currency}


# reconciliation runs
@route("/runs", access="ops")
def runs(ctx: Ctx) -> Response:
    """List the transaction files, newest first."""
    return ctx.page("runs.html", title="Reconciliation runs", runs=ctx.web.portal.read.runs(ctx.viewer,
                                                                                          ctx.page_number()))


@route("/runs/{sha256}", access="ops")
def run_page(ctx: Ctx) -> Response:
    """Show one file's run: progress while it runs, then its result and rejects (paginated)."""
    sha = _sha(ctx)
    read = ctx.web.portal.read
    run = read.run(ctx.viewer, sha)
    uploads = read.uploads_of(ctx.viewer, sha)
    if run is None and not uploads:
        raise NotVisible(sha)
    upload = uploads[0] if uploads else None
    finished = run is not None and run.status == "reconciled"
    stopped = upload is not None and upload.status in ("failed", "refused", "waiting") and not finished
    expected = max((upload.lines if upload else 0) - 1, run.rows_done if run else 0, 1)
    done = run.rows_done if run else 0
    rejects = read.rejects(ctx.viewer, run.id, ctx.page_number()) if run else None
    catalog = ctx.web.app.campaigns.current()
    return ctx.page("run.html", title=f"Run of {run.name if run else upload.name if upload else sha}",
                    run=run, upload=upload, finished=finished, stopped=stopped, done=done, expected=expected,
                    percent=min(100, done * 100 // expected) if not finished else 100, rejects=rejects,
                    sha=sha, campaigns=_run_campaigns(run), currency=currency_of(catalog),
                    refresh=None if finished else (10 if stopped else 2))


def _run_campaigns(run: RunView | None) -> list[tuple[str, dict[str, int]]]:
    return sorted((run.counters.get("campaigns") or {}).items()) if run else []


def _sha(ctx: Ctx) -> str:
    sha = ctx.request.path_params["sha256"]
    if not _SHA_RE.fullmatch(sha):
        raise NotVisible(sha)
    return str(sha)


def _finished_run(ctx: Ctx) -> RunView:
    run = ctx.web.portal.read.run(ctx.viewer, _sha(ctx))
    if run is None:
        raise NotVisible("run")
    return run


@route("/runs/{sha256}/credits.csv", access="ops", kind="data")
def run_credits(ctx: Ctx) -> Response:
    """Download a file's credits export (the card system's columns), from the ledger."""
    run = _finished_run(ctx)
    ctx.audit("export download", f"{run.name} credits.csv (sha256 {run.sha256})")
    return csv_download(f"{Path(run.name).stem}.{run.sha256[:8]}.credits.csv", CREDIT_COLUMNS,
                ctx.web.portal.read.credit_export(ctx.viewer, run.id))


@route("/runs/{sha256}/rejects.csv", access="ops", kind="data")
def run_rejects(ctx: Ctx) -> Response:
    """Download a file's rejected rows (line, column, reason)."""
    run = _finished_run(ctx)
    ctx.audit("export download", f"{run.name} rejects.csv (sha256 {run.sha256})")
    return csv_download(f"{Path(run.name).stem}.{run.sha256[:8]}.rejects.csv", REJECT_COLUMNS,
                ctx.web.portal.read.reject_export(ctx.viewer, run.id))


@route("/runs/{sha256}/summary.txt", access="ops", kind="data")
def run_summary_text(ctx: Ctx) -> Response:
    """Download a file's summary as the text `offerbot reconcile` prints."""
    run = _finished_run(ctx)
    if not run.counters:
        raise NotVisible("summary")
    ctx.audit("export download", f"{run.name} summary.txt (sha256 {run.sha256})")
    text = Summary.from_dict(run.counters).render(currency_of(ctx.web.app.campaigns.current())) + "\n"
    return PlainTextResponse(text, headers=_attachment(f"{Path(run.name).stem}.{run.sha256[:8]}.summary.txt"))


@route("/runs/{sha256}/summary.json", access="ops", kind="data")
def run_summary_json(ctx: Ctx) -> Response:
    """Download a file's summary as JSON."""
    run = _finished_run(ctx)
    if not run.counters:
        raise NotVisible("summary")
    ctx.audit("export download", f"{run.name} summary.json (sha256 {run.sha256})")
    return Response(json.dumps(run.counters, indent=2, sort_keys=True) + "\n", media_type="application/json",
                    headers=_attachment(f"{Path(run.name).stem}.{run.sha256[:8]}.summary.json"))


# uploading the daily file
@route("/upload", access="ops")
def upload_form(ctx: Ctx) -> Response:
    """Show the upload form."""
    return ctx.page("upload.html", title="Upload the daily file", error="",
                    limit=ctx.web.app.settings.portal.max_upload_bytes)


@route("/upload", methods=("POST",), access="ops", own_body=True)
async def upload(ctx: Ctx) -> Response:
    """Stream the file into the inbox, check it whole, and reconcile it like an inbox file."""
    settings = ctx.web.app.settings
    limit = settings.portal.max_upload_bytes
    length = ctx.request.headers.get("content-length", "")
    try:
        if length.isdigit() and int(length) > limit + 64 * 1024:
            raise UploadRefused(413, f"the file is larger than the limit of {limit:,} bytes "
                                     "([portal] max_upload_bytes); nothing was kept")
        assert ctx.session is not None
        expected = ctx.session.csrf_token
        streamed, _ = await stream_upload(ctx.request.stream(), ctx.request.headers.get("content-type"),
                                          settings.inbox_dir, limit,
                                          lambda given: _token_ok(expected, given))
    except UploadRefused as exc:
        await run_in_threadpool(ctx.audit, "file upload", f"refused: {exc.message}")
        return await run_in_threadpool(ctx.page, "upload.html", exc.status, title="Upload the daily file",
                                       error=exc.message, limit=limit)
    received = await run_in_threadpool(ctx.web.portal.uploads.receive, ctx.viewer, streamed.path,
                                       streamed.name, streamed.size)
    if received.status == "queued":
        return RedirectResponse(f"/runs/{received.sha256}", status_code=303)
    return RedirectResponse(f"/uploads/{received.upload_id}", status_code=303)


def _token_ok(expected: str, given: str | None) -> bool:
    return tokens_match(expected, given)


@route("/uploads/{upload_id}", access="ops")
def upload_page(ctx: Ctx) -> Response:
    """Show what became of an upload that was not reconciled (refused, or known already)."""
    text = ctx.request.path_params["upload_id"]
    if not text.isdigit() or len(text) > 12:
        raise NotVisible(text)
    item = ctx.web.portal.read.upload(ctx.viewer, int(text))
    return ctx.page("upload_result.html", title=f"Upload of {item.name}", item=item)


# members, replies, the audit log
@route("/members", access="ops")
def members(ctx: Ctx) -> Response:
    """Look a member up by X user id or handle: link, last 4 digits, enrolments, credits, why."""
    query = ctx.arg("q").strip()[:40]
    found = ctx.web.portal.read.members(ctx.viewer, query) if query else []
    if query:
        ctx.audit("member lookup", query)
    app = ctx.web.app
    catalog = app.campaigns.current()
    trails = {}
    for member in found:
        ids = sorted({e.campaign_id for e in member.enrolments} | {c.campaign_id for c in member.credits})
        trails[member.user_id] = [explain(app.uow, catalog, member.user_id, cid) for cid in ids]
    return ctx.page("members.html", title="Members", query=query, found=found, trails=trails)


@route("/replies", access="ops")
def replies(ctx: Ctx) -> Response:
    """Show the outbox by state; failed replies with their error."""
    state = ctx.arg("state")
    state = state if state in ("pending", "sending", "sent", "failed", "cancelled") else ""
    counts, page = ctx.web.portal.read.replies(ctx.viewer, state or None, ctx.page_number())
    return ctx.page("replies.html", title="Replies", counts=counts, items=page, state=state)


@route("/audit", access="ops")
def audit(ctx: Ctx) -> Response:
    """Show the audit log, newest first."""
    page = ctx.web.portal.read.audit(ctx.viewer, ctx.page_number())
    ctx.audit("audit log viewed", f"page {page.page}")
    return ctx.page("audit.html", title="Audit log", events=page)


# campaign requests
@route("/submissions")
def submissions(ctx: Ctx) -> Response:
    """List campaign requests: a merchant's own, or every one for ops."""
    items = ctx.web.portal.read.submissions(ctx.viewer)
    return ctx.page("submissions.html", title="Campaign requests", items=items)


@route("/submissions/new", access="merchant")
def submission_form(ctx: Ctx) -> Response:
    """Show the form to paste or upload a campaign file."""
    return ctx.page("submission_new.html", title="Submit a campaign", text="", checked=None, lines=[],
                    error="")


@route("/submissions/new", methods=("POST",), access="merchant")
def submit(ctx: Ctx) -> Response:
    """Check a campaign file as `offerbot campaigns check` does; keep it as a request if valid."""
    text = ctx.form.get("text", "")
    if "file" in ctx.files:
        raw = ctx.files["file"][1]
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return ctx.page("submission_new.html", 422, title="Submit a campaign", text="", checked=None,
                            lines=[], error="The file is not UTF-8 text; save it as UTF-8.")
    text = text.replace("\r\n", "\n")
    try:
        checked, submission_id = ctx.web.portal.campaigns.submit(ctx.viewer, text)
    except SubmissionError as exc:
        return ctx.page("error.html", 400, title="Refused", message=str(exc))
    if submission_id is not None:
        return RedirectResponse(f"/submissions/{submission_id}", status_code=303)
    shown = text if checked.keep_text else ""
    return ctx.page("submission_new.html", 422, title="Submit a campaign", text=shown, checked=checked,
                    lines=_lines_with_problems(shown, checked.problems), error="")


def _lines_with_problems(text: str, problems: Sequence[Any]) -> list[tuple[int, str, list[str]]]:
    by_line: dict[int, list[str]] = {}
    for p in problems:
        if p.line:
            by_line.setdefault(p.line, []).append(str(p))
    return [(n, line, by_line.get(n, [])) for n, line in enumerate(text.rstrip("\n").split("\n"), start=1)]


@route("/submissions/{submission_id}")
def submission_page(ctx: Ctx) -> Response:
    """Show a request: its text, its state and, for ops, the check against offers/ as it is now."""
    item = _submission(ctx)
    checked = None
    if ctx.viewer.is_ops and item.status == "pending":
        checked = ctx.web.portal.campaigns.check(item.text, item.merchant)
    lines = _lines_with_problems(item.text, checked.problems if checked else ())
    return ctx.page("submission.html", title=f"Request {item.id}", item=item, checked=checked, lines=lines,
                    error="")


def _submission(ctx: Ctx) -> Any:
    text = ctx.request.path_params["submission_id"]
    if not text.isdigit() or len(text) > 12:
        raise NotVisible(text)
    return ctx.web.portal.read.submission(ctx.viewer, int(text))


@route("/submissions/{submission_id}/approve", methods=("POST",), access="ops")
def approve(ctx: Ctx) -> Response:
    """Approve a request: it is checked again and written to offers/ for the bot to pick up."""
    item = _submission(ctx)
    try:
        checked = ctx.web.portal.campaigns.approve(ctx.viewer, item, ctx.form.get("note", "").strip()[:500])
    except SubmissionError as exc:
        return _submission_error(ctx, item, str(exc))
    if checked.problems:
        return ctx.page("submission.html", 422, title=f"Request {item.id}", item=item, checked=checked,
                        lines=_lines_with_problems(item.text, checked.problems),
                        error="Not approved: the file no longer passes the checks.")
    return RedirectResponse(f"/submissions/{item.id}", status_code=303)


@route("/submissions/{submission_id}/reject", methods=("POST",), access="ops")
def reject(ctx: Ctx) -> Response:
    """Reject a request with a note for the merchant."""
    item = _submission(ctx)
    try:
        ctx.web.portal.campaigns.reject(ctx.viewer, item, ctx.form.get("note", ""))
    except SubmissionError as exc:
        return _submission_error(ctx, item, str(exc))
    return RedirectResponse(f"/submissions/{item.id}", status_code=303)


def _submission_error(ctx: Ctx, item: Any, message: str) -> Response:
    return ctx.page("submission.html", 409, title=f"Request {item.id}", item=item, checked=None,
                    lines=_lines_with_problems(item.text, ()), error=message)


# files of our own
@route("/favicon.ico", access="public", kind="data")
def favicon(ctx: Ctx) -> Response:
    """Serve the icon browsers ask for."""
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon")


@route("/healthz", access="public", kind="data")
def healthz(ctx: Ctx) -> Response:
    """Answer a load balancer's liveness probe (the portal runs; says nothing of the bot)."""
    return PlainTextResponse("ok")


def _cents(cents: int) -> str:
    return cents_text(cents)


def _attachment(name: str) -> dict[str, str]:
    return {"content-disposition": f'attachment; filename="{name}"'}


def csv_download(name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """Stream a CSV download row by row (never the whole file in memory)."""

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=_attachment(name))

