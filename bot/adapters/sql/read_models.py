"""The portal's read models: queries that return view data for one viewer.

The merchant check lives here, in the queries: a merchant viewer's rows are selected with
``merchant = <theirs>``, and ops-only views raise NotVisible for anyone else. Routes and templates
never filter. Over 300 lines on purpose: every query the portal makes is in this one module, so
the merchant check can be reviewed whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Engine, Select, func, or_, select

from bot.adapters.exports import neutralise
from bot.adapters.no_reports import NoReports
from bot.adapters.sql.api_tokens import api_token
from bot.adapters.sql.engine import READONLY
from bot.adapters.sql.portal import PortalRepository
from bot.adapters.sql.tables import (
    api_tokens_t,
    campaigns_t,
    credits_t,
    enrolments_t,
    files_t,
    members_t,
    outbox_t,
    rejects_t,
    submissions_t,
    uploads_t,
)
from bot.domain.api_tokens import ApiToken
from bot.domain.campaigns import Campaign
from bot.domain.dashboard.report import Report
from bot.domain.hashtags import hashtag_key
from bot.domain.ledger import FileStatus
from bot.domain.money import cents_text
from bot.domain.portal import (
    AuditEvent,
    Ownership,
    Submission,
    SubmissionStatus,
    Upload,
    UploadStatus,
    Viewer,
)
from bot.domain.reconcile import CreditKind
from bot.domain.replies import ReplyStatus
from bot.ports import DashboardReports

PAGE = 50  # rows per page of a long list
T = TypeVar("T")


class NotVisible(Exception):
    """The viewer may not see this (another merchant's, or ops only): answered as not found."""


@dataclass(frozen=True)
class CampaignView:
    """One campaign's standing, as a list row. The exact operational figures (enrolled, remaining,
    spent) are for ops only: a merchant's view has None there and reads the dashboard's
    suppressed report instead, so no figure about fewer than k members reaches them."""

    id: str
    hashtag: str
    merchant: str
    status: str
    enrolled: int | None
    max_enrolments: int | None
    remaining: int | None
    budget_cents: int | None
    spent_cents: int | None
    currency: str
    campaign: Campaign | None  # None once its file is gone from offers/


@dataclass(frozen=True)
class CampaignTotals:
    """A campaign's credits and clawbacks from one transaction file."""

    file_name: str
    sha256: str
    credits: int
    credited_cents: int
    clawbacks: int
    clawed_back_cents: int


@dataclass(frozen=True)
class CampaignDetail:
    """A campaign page: its standing and its credits per file (aggregates only)."""

    view: CampaignView
    totals: list[CampaignTotals]


@dataclass(frozen=True)
class Dashboard:
    """A campaign's dashboard: the campaign, and its stored report (None before the first)."""

    view: CampaignView
    report: Report | None


@dataclass(frozen=True)
class RunView:
    """A reconciliation run (one transaction file) as the ledger knows it."""

    id: int
    name: str
    sha256: str
    status: FileStatus
    rows_done: int
    counters: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None
    rejects: int = 0


@dataclass(frozen=True)
class RejectView:
    """A rejected row of a file."""

    line: int
    column: str
    reason: str


class MemberEnrolment(NamedTuple):
    """A member's enrolment, as ops see it."""

    campaign_id: str
    post_id: str
    enrolled_at: datetime


class MemberCredit(NamedTuple):
    """A member's credit or clawback, as ops see it (last 4 digits only)."""

    credit_id: str
    campaign_id: str
    kind: CreditKind
    cents: int
    currency: str
    day: date
    last4: str


@dataclass(frozen=True)
class MemberView:
    """A member as ops see them: link state, last 4 digits only, enrolments and credits."""

    user_id: str
    handle: str
    linked: bool
    last4: str | None
    linked_at: datetime | None
    unlinked_at: datetime | None
    enrolments: list[MemberEnrolment] = field(default_factory=list)
    credits: list[MemberCredit] = field(default_factory=list)


@dataclass(frozen=True)
class ReplyView:
    """One reply of the outbox."""

    id: int
    member_id: str
    in_reply_to: str
    template: str
    status: ReplyStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a long list."""

    items: list[T]
    total: int
    page: int
    size: int = PAGE

    @property
    def pages(self) -> int:
        """Return how many pages there are (at least 1)."""
        return max((self.total + self.size - 1) // self.size, 1)


def _offset(page: int, size: int = PAGE) -> int:
    return (max(page, 1) - 1) * size


class ReadModels:
    """Every query the portal's pages, exports and API make, each for one viewer."""

    def __init__(self, engine: Engine, portal: PortalRepository,
                 reports: DashboardReports | None = None) -> None:
        self._engine, self._portal = engine, portal
        self._reports: DashboardReports = reports or NoReports()

    def _conn(self) -> Any:
        return self._engine.connect().execution_options(**{READONLY: True})

    @staticmethod
    def _ops(viewer: Viewer) -> None:
        if not viewer.is_ops:
            raise NotVisible("ops only")

    @staticmethod
    def _mine(viewer: Viewer, query: Select[Any], column: Any) -> Select[Any]:
        """Restrict ``query`` to the viewer's merchant (ops see every row)."""
        return query if viewer.is_ops else query.where(column == viewer.merchant)

    def _mine_newest(self, viewer: Viewer, table: Any) -> list[Any]:
        """Return the viewer's rows of a table with ``id`` and ``merchant``, newest first (500 at most)."""
        query = self._mine(viewer, select(table), table.c.merchant)
        with self._conn() as conn, conn.begin():
            return list(conn.execute(query.order_by(table.c.id.desc()).limit(500)).all())

    def _mine_one(self, viewer: Viewer, table: Any, row_id: int) -> Any:
        """Return the row ``row_id`` of such a table; NotVisible when it is another merchant's
        (or does not exist): the same answer, so a merchant cannot learn which ids exist."""
        query = self._mine(viewer, select(table).where(table.c.id == row_id), table.c.merchant)
        with self._conn() as conn, conn.begin():
            row = conn.execute(query).first()
        if row is None:
            raise NotVisible(str(row_id))
        return row

    # campaigns (ops and merchants)
    def campaigns(self, viewer: Viewer, by_id: dict[str, Campaign], now: datetime) -> list[CampaignView]:
        """Return the campaigns the viewer may see, with status, enrolments and budget spent."""
        query = self._mine(viewer, select(campaigns_t), campaigns_t.c.merchant)
        with self._conn() as conn, conn.begin():
            rows = conn.execute(query.order_by(campaigns_t.c.id)).all()
        views = [_campaign_view(r, by_id.get(r.id), now, exact=viewer.is_ops) for r in rows]
        return sorted(views, key=lambda v: (v.campaign is None, v.campaign.enrol_from if v.campaign
                                            else date.min, v.id))

    def campaign(self, viewer: Viewer, campaign_id: str, by_id: dict[str, Campaign],
                 now: datetime) -> CampaignDetail:
        """Return one campaign's page; NotVisible when it is not the viewer's (or does not exist)."""
        query = self._mine(viewer, select(campaigns_t).where(campaigns_t.c.id == campaign_id),
                           campaigns_t.c.merchant)
        c = credits_t.c
        with self._conn() as conn, conn.begin():
            row = conn.execute(query).first()
            if row is None:
                raise NotVisible(campaign_id)
            if not viewer.is_ops:  # exact counts per file: ops only (one credit is one member)
                return CampaignDetail(_campaign_view(row, by_id.get(row.id), now, exact=False), [])
            totals = conn.execute(
                select(files_t.c.name, files_t.c.sha256,
                       func.count().filter(c.kind == "credit"), func.sum(c.cents).filter(c.kind == "credit"),
                       func.count().filter(c.kind == "clawback"),
                       func.sum(c.cents).filter(c.kind == "clawback"))
                .join(files_t, files_t.c.id == c.file_id).where(c.campaign_id == campaign_id)
                .group_by(files_t.c.id, files_t.c.name, files_t.c.sha256).order_by(files_t.c.id)).all()
        return CampaignDetail(_campaign_view(row, by_id.get(row.id), now, exact=True), [
            CampaignTotals(name, sha, int(n or 0), int(cents or 0), int(m or 0), -int(back or 0))
            for name, sha, n, cents, m, back in totals])

    # the dashboard (ops and merchants): the stored, suppressed reports
    def dashboard(self, viewer: Viewer, campaign_id: str, by_id: dict[str, Campaign],
                  now: datetime) -> Dashboard:
        """Return one campaign's dashboard; NotVisible when it is not the viewer's (or does not exist)."""
        query = self._mine(viewer, select(campaigns_t).where(campaigns_t.c.id == campaign_id),
                           campaigns_t.c.merchant)
        with self._conn() as conn, conn.begin():
            row = conn.execute(query).first()
        if row is None:
            raise NotVisible(campaign_id)
        return Dashboard(_campaign_view(row, by_id.get(row.id), now, exact=viewer.is_ops),
                         self._report(row.id, row.merchant))

    def dashboards(self, viewer: Viewer, by_id: dict[str, Campaign], now: datetime) -> list[Dashboard]:
        """Return the dashboards of every campaign the viewer may see, side by side."""
        return [Dashboard(view, self._report(view.id, view.merchant))
                for view in self.campaigns(viewer, by_id, now)]

    def _report(self, campaign_id: str, merchant: str) -> Report | None:
        """Return the campaign's stored report, only if it is that campaign's and merchant's."""
        report = self._reports.latest(campaign_id)
        if report is None or report.campaign_id != campaign_id or report.merchant != merchant:
            return None
        return report

    # API tokens (merchants see their own)
    def api_tokens(self, viewer: Viewer) -> list[ApiToken]:
        """Return the API tokens the viewer may see, newest first."""
        return [api_token(r) for r in self._mine_newest(viewer, api_tokens_t)]

    def api_token(self, viewer: Viewer, token_id: int) -> ApiToken:
        """Return one API token; NotVisible when it is another merchant's (or does not exist)."""
        return api_token(self._mine_one(viewer, api_tokens_t, token_id))

    def merchants(self) -> set[str]:
        """Return the merchants that have a campaign (whom ops may make a token for)."""
        with self._conn() as conn, conn.begin():
            return {str(m) for m in conn.execute(select(campaigns_t.c.merchant).distinct()).scalars()}

    def ownerships(self, by_id: dict[str, Campaign]) -> list[Ownership]:
        """Return what every known campaign holds (files in force and the database's history)."""
        with self._conn() as conn, conn.begin():
            rows = conn.execute(select(campaigns_t.c.id, campaigns_t.c.merchant, campaigns_t.c.hashtag)).all()
        found = {c.id: Ownership(c.id, c.merchant, c.key, c.merchant_ids) for c in by_id.values()}
        for r in rows:
            found.setdefault(r.id, Ownership(r.id, r.merchant, hashtag_key(r.hashtag), ()))
        return list(found.values())

    # reconciliation runs (ops)
    def runs(self, viewer: Viewer, page: int) -> Page[RunView]:
        """Return the transaction files, newest first."""
        self._ops(viewer)
        with self._conn() as conn, conn.begin():
            total = conn.execute(select(func.count()).select_from(files_t)).scalar() or 0
            rows = conn.execute(select(files_t).order_by(files_t.c.id.desc())
                                .offset(_offset(page)).limit(PAGE)).all()
        return Page([_run(r) for r in rows], int(total), max(page, 1))

    def run(self, viewer: Viewer, sha256: str) -> RunView | None:
        """Return the run of the file with this SHA-256 (None before it has started)."""
        self._ops(viewer)
        with self._conn() as conn, conn.begin():
            row = conn.execute(select(files_t).where(files_t.c.sha256 == sha256)).first()
            if row is None:
                return None
            rejects = conn.execute(select(func.count()).select_from(rejects_t)
                                   .where(rejects_t.c.file_id == row.id)).scalar() or 0
        return _run(row, int(rejects))

    def rejects(self, viewer: Viewer, file_id: int, page: int) -> Page[RejectView]:
        """Return a page of a file's rejected rows, by line."""
        self._ops(viewer)
        where = rejects_t.c.file_id == file_id
        with self._conn() as conn, conn.begin():
            total = conn.execute(select(func.count()).select_from(rejects_t).where(where)).scalar() or 0
            rows = conn.execute(select(rejects_t).where(where).order_by(rejects_t.c.line)
                                .offset(_offset(page)).limit(PAGE)).all()
        return Page([RejectView(r.line, r.column, r.reason) for r in rows], int(total), max(page, 1))

    def credit_export(self, viewer: Viewer, file_id: int) -> Iterator[list[str]]:
        """Yield a file's credits export (the columns of credits.csv), streamed from the ledger."""
        self._ops(viewer)  # checked now, before the first row is asked for
        return self._credit_rows(file_id)

    def _credit_rows(self, file_id: int) -> Iterator[list[str]]:
        c = credits_t.c
        with self._conn() as conn, conn.begin():
            rows = conn.execute(select(c.credit_id, c.transaction_id, c.campaign_id, c.cents, c.currency,
                                       c.last4, c.kind, c.reverses)
                                .where(c.file_id == file_id).order_by(c.seq))
            for credit_id, tid, cid, cents, currency, last4, kind, reverses in rows:
                yield [credit_id, neutralise(tid), cid, cents_text(cents), currency, last4, kind,
                       reverses or ""]

    def reject_export(self, viewer: Viewer, file_id: int) -> Iterator[list[str]]:
        """Yield a file's rejects (line, column, reason), streamed."""
        self._ops(viewer)
        return self._reject_rows(file_id)

    def _reject_rows(self, file_id: int) -> Iterator[list[str]]:
        with self._conn() as conn, conn.begin():
            rows = conn.execute(select(rejects_t).where(rejects_t.c.file_id == file_id)
                                .order_by(rejects_t.c.line))
            for r in rows:
                yield [str(r.line), r.column, neutralise(r.reason)]

    # members and replies (ops)
    def members(self, viewer: Viewer, query: str) -> list[MemberView]:
        """Return the members whose X user id or handle is ``query`` (case-insensitive handle)."""
        self._ops(viewer)
        text = query.strip().removeprefix("@")
        if not text:
            return []
        m = members_t.c
        with self._conn() as conn, conn.begin():
            rows = conn.execute(select(members_t).where(or_(m.user_id == text,
                                                            func.lower(m.handle) == text.lower()))
                                .order_by(m.user_id).limit(20)).all()
            found = []
            for r in rows:
                enrolled = conn.execute(
                    select(enrolments_t.c.campaign_id, enrolments_t.c.post_id, enrolments_t.c.enrolled_at)
                    .where(enrolments_t.c.member_id == r.user_id).order_by(enrolments_t.c.enrolled_at)).all()
                credits = conn.execute(
                    select(credits_t.c.credit_id, credits_t.c.campaign_id, credits_t.c.kind,
                           credits_t.c.cents, credits_t.c.currency, credits_t.c.day, credits_t.c.last4)
                    .where(credits_t.c.member_id == r.user_id)
                    .order_by(credits_t.c.day, credits_t.c.seq)).all()
                found.append(MemberView(r.user_id, r.handle, r.card_fingerprint is not None, r.card_last4,
                                        r.linked_at, r.unlinked_at, [MemberEnrolment(*e) for e in enrolled],
                                        [MemberCredit(c.credit_id, c.campaign_id, CreditKind(c.kind), c.cents,
                                                      c.currency, c.day, c.last4) for c in credits]))
        return found

    def replies(self, viewer: Viewer, status: str | None,
                page: int) -> tuple[dict[str, int], Page[ReplyView]]:
        """Return reply counts by state and a page of replies (of one state, if given)."""
        self._ops(viewer)
        o = outbox_t.c
        where = [o.status == status] if status else []
        with self._conn() as conn, conn.begin():
            counts = {s: int(n) for s, n in conn.execute(select(o.status, func.count()).group_by(o.status))}
            total = conn.execute(select(func.count()).select_from(outbox_t).where(*where)).scalar() or 0
            rows = conn.execute(select(outbox_t).where(*where).order_by(o.id.desc())
                                .offset(_offset(page)).limit(PAGE)).all()
        items = [ReplyView(r.id, r.member_id, r.in_reply_to, r.template, ReplyStatus(r.status), r.attempts,
                           r.last_error,
                           r.created_at, r.sent_at, r.next_attempt_at) for r in rows]
        return counts, Page(items, int(total), max(page, 1))

    # the audit log (ops)
    def audit(self, viewer: Viewer, page: int) -> Page[AuditEvent]:
        """Return a page of the audit log, newest first."""
        self._ops(viewer)
        items, total = self._portal.audit_page(_offset(page), PAGE)
        return Page(items, total, max(page, 1))

    # campaign requests (merchants see their own)
    def submissions(self, viewer: Viewer) -> list[Submission]:
        """Return the campaign requests the viewer may see, newest first."""
        return [_submission(r) for r in self._mine_newest(viewer, submissions_t)]

    def submission(self, viewer: Viewer, submission_id: int) -> Submission:
        """Return one request; NotVisible when it is another merchant's (or does not exist)."""
        return _submission(self._mine_one(viewer, submissions_t, submission_id))

    # uploads (ops)
    def upload(self, viewer: Viewer, upload_id: int) -> Upload:
        """Return one upload of a transaction file."""
        self._ops(viewer)
        with self._conn() as conn, conn.begin():
            row = conn.execute(select(uploads_t).where(uploads_t.c.id == upload_id)).first()
        if row is None:
            raise NotVisible(str(upload_id))
        return _upload(row)

    def uploads_of(self, viewer: Viewer, sha256: str) -> list[Upload]:
        """Return the uploads of the file with this SHA-256, newest first."""
        self._ops(viewer)
        with self._conn() as conn, conn.begin():
            rows = conn.execute(select(uploads_t).where(uploads_t.c.sha256 == sha256)
                                .order_by(uploads_t.c.id.desc())).all()
        return [_upload(r) for r in rows]


def _campaign_view(row: Any, campaign: Campaign | None, now: datetime, *, exact: bool) -> CampaignView:
    enrolled = int(row.enrolled)
    limit = row.max_enrolments
    status = campaign.status(now, enrolled).value if campaign else "no file"  # sold out is public
    remaining = None if limit is None else max(limit - enrolled, 0)
    return CampaignView(row.id, row.hashtag, row.merchant, status, enrolled if exact else None, limit,
                        remaining if exact else None, row.budget_cents,
                        int(row.spent_cents) if exact else None, campaign.currency if campaign else "USD",
                        campaign)


def _run(row: Any, rejects: int = 0) -> RunView:
    return RunView(row.id, row.name, row.sha256, FileStatus(row.status), row.rows_done,
                   json.loads(row.counters or "{}"), row.started_at, row.finished_at, rejects)


def _submission(r: Any) -> Submission:
    return Submission(r.id, r.campaign_id, r.merchant, r.submitted_by, r.text, SubmissionStatus(r.status),
                      r.note, r.submitted_at, r.decided_by, r.decided_at)


def _upload(r: Any) -> Upload:
    return Upload(r.id, r.name, r.sha256, r.size, r.lines, r.uploaded_by, r.uploaded_at,
                  UploadStatus(r.status), r.message)

