"""Database tables (SQLModel): the bot's, then the portal's. Only bot.adapters.sql reads or writes
them, each table written by one repository module (see the package's docstring).

The migrations in bot/migrations/versions build exactly these (a guard test compares them).
Over 300 lines on purpose: the whole schema in one place, read as the migrations build it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no zone, so it is added on read)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use bot.clock.utc_now()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


# Transaction ids in the order Python sorts them (code points) on every database: PostgreSQL's
# default collation would sort "-R1" after "=H1", and the decision order must not depend on it.
TXN_ID = String(64).with_variant(String(64, collation="C"), "postgresql")


class MemberRow(SQLModel, table=True):
    """An X account and, while linked, its card's keyed fingerprint and last four digits."""

    __tablename__ = "members"
    user_id: str = Field(primary_key=True, max_length=20)
    handle: str = Field(max_length=15)
    card_fingerprint: str | None = Field(default=None, max_length=64, unique=True)
    card_last4: str | None = Field(default=None, max_length=4)
    linked_at: datetime | None = _when(nullable=True)
    unlinked_at: datetime | None = _when(nullable=True)
    # The fingerprint key the card was fingerprinted with (fingerprint_keys); NULL only for members
    # linked before keys were checked, until the first start adopts the configured key for them.
    key_id: str | None = Field(default=None, max_length=8)
    opted_out_at: datetime | None = _when(nullable=True)  # STOP; cleared only by renewed consent


class CardLinkRow(SQLModel, table=True):
    """One stretch of time an account was linked to a card: reconciliation credits a purchase to
    the member whose link covered its date, so STOP keeps the credits already earned.

    ``members`` keeps the current card for the bot's hot paths; this is the history beside it. A
    card may change hands, so a fingerprint is unique among current links (members), not here.
    """

    __tablename__ = "card_links"
    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(max_length=20, index=True)
    fingerprint: str = Field(max_length=64, index=True)
    last4: str = Field(max_length=4)
    key_id: str | None = Field(default=None, max_length=8)
    linked_at: datetime = _when()
    unlinked_at: datetime | None = _when(nullable=True)  # NULL while current
    ended_by: str | None = Field(default=None, max_length=10)  # stop | removed | replaced


class FingerprintKeyRow(SQLModel, table=True):
    """A key members' card fingerprints were made with, known by its check value (an HMAC of a
    fixed label), never the key itself: a start with another key is refused before it can
    mistake every card for an unlinked one."""

    __tablename__ = "fingerprint_keys"
    key_id: str = Field(primary_key=True, max_length=8)
    check_value: str = Field(max_length=64)
    first_used_at: datetime = _when()


class CampaignRow(SQLModel, table=True):
    """A campaign's counters and the last good version of its rules (which live in offers/*.toml)."""

    __tablename__ = "campaigns"
    id: str = Field(primary_key=True, max_length=64)
    hashtag: str = Field(max_length=101)
    merchant: str = Field(max_length=60)
    max_enrolments: int | None = None
    enrolled: int = 0
    budget_cents: int | None = None
    spent_cents: int = 0
    updated_at: datetime = _when()
    # The last good version of the campaign's file (Campaign.definition() as JSON), saved when
    # the file passed every check: if the file breaks later, the campaign runs on this one.
    definition: str | None = None
    source: str | None = Field(default=None, max_length=255)  # its file, relative to offers/
    loaded_at: datetime | None = _when(nullable=True)  # when that version was installed


class EnrolmentRow(SQLModel, table=True):
    """One member enrolled in one campaign, by one post."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("member_id", "campaign_id"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(max_length=20)
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64, index=True)
    post_id: str = Field(max_length=20)
    enrolled_at: datetime = _when()


class PostRow(SQLModel, table=True):
    """A mention the bot has handled; its id is the once-only guard."""

    __tablename__ = "posts"
    post_id: str = Field(primary_key=True, max_length=20)
    # The original's id (its own, unless the post is an edit): an edit is the same interaction.
    interaction_id: str = Field(max_length=20, index=True)
    hashtags: str = Field(max_length=500)  # the hashtag keys it named, space-separated
    author_id: str = Field(max_length=20)
    created_at: datetime | None = _when(nullable=True)
    processed_at: datetime = _when()
    outcome: str = Field(max_length=500)


class OutboxRow(SQLModel, table=True):
    """A message to send once (a public reply or a DM), written in the transaction that decided it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=100, unique=True)
    member_id: str = Field(max_length=20, index=True)
    in_reply_to: str = Field(max_length=20)  # for a DM, the member post it is about
    template: str = Field(max_length=100)
    context: str
    channel: str = Field(default="reply", max_length=5)  # reply (public) | dm (direct message)
    # pending | sending | sent | failed | undeliverable (a DM X refused: final) | cancelled
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _when()
    claimed_at: datetime | None = _when(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=100)  # the instance sending it
    thread: str | None = Field(default=None, max_length=30, index=True)  # replies chained under a post
    sent_post_id: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)


class CursorRow(SQLModel, table=True):
    """Where a poller got to (the since_id of the mentions timeline)."""

    __tablename__ = "cursors"
    name: str = Field(primary_key=True, max_length=50)
    value: str = Field(max_length=50)
    updated_at: datetime = _when()


class TransactionFileRow(SQLModel, table=True):
    """A transaction file, known by its SHA-256: progress, counters, and whether it is done."""

    __tablename__ = "transaction_files"
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=255)
    status: str = Field(max_length=20)  # running | reconciled
    rows_done: int = 0  # data rows consumed, for resuming after a crash
    counters: str = "{}"  # the summary so far, JSON
    started_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)
    # Credit notices are queued from a reconciled file a chunk at a time, after this credit seq.
    notices_after: int = 0
    notices_done: bool = False
    # A run stages the file's relevant rows, then decides them in time order from this cursor.
    phase: str = Field(default="stage", max_length=10)  # stage | decide | done
    decided_day: date | None = None
    decided_id: str | None = Field(default=None, max_length=64)
    run: int = 1  # 2 and up: `reconcile --again`
    credits_before: int = 0  # this run's credits are the file's credits with a greater seq
    earlier_runs: str = "[]"  # the summaries of the runs before this one, JSON


class CardTransactionRow(SQLModel, table=True):
    """A transaction of a linked member at a campaign merchant, and what it meant per campaign.

    Other rows of a file (unlinked cards, other merchants) are counted, not kept.
    """

    __tablename__ = "card_transactions"
    # Clustered on its key, which arrives mostly in order: one B-tree to append to, not two.
    __table_args__ = ({"sqlite_with_rowid": False},)
    transaction_id: str = Field(primary_key=True, max_length=64)
    file_id: int = Field(foreign_key="transaction_files.id")
    line: int
    member_id: str = Field(max_length=20, index=True)
    merchant_id: str = Field(max_length=64)
    cents: int
    currency: str = Field(max_length=3)
    day: date
    kind: str = Field(max_length=8)
    original_id: str | None = Field(default=None, max_length=64)
    outcomes: str = Field(max_length=1000)  # "campaign=outcome (detail) | ..."
    refund_state: str | None = Field(default=None, max_length=10)  # applied | pending | unmatched | expired


class CreditRow(SQLModel, table=True):
    """A statement credit or clawback: one per transaction, campaign and kind, ever."""

    __tablename__ = "credits"
    # One credit per transaction, campaign and kind, ever. Transaction ids mostly arrive in
    # order, so this index grows at its end; so do seq and file_id: cheap to insert.
    __table_args__ = (UniqueConstraint("transaction_id", "campaign_id", "kind"),)
    seq: int | None = Field(default=None, primary_key=True)  # insertion order: file order
    # Derived from (kind, campaign, transaction), hence as unique as they are; no index needed.
    credit_id: str = Field(max_length=20)
    transaction_id: str = Field(max_length=64)
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64)
    member_id: str = Field(max_length=20)
    kind: str = Field(max_length=8)  # credit | clawback
    cents: int  # negative for a clawback
    currency: str = Field(max_length=3)
    last4: str = Field(max_length=4)
    basis_cents: int
    merchant_id: str = Field(max_length=64)
    day: date
    reverses: str | None = Field(default=None, max_length=20)
    refunded_cents: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    reversed_cents: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    file_id: int = Field(foreign_key="transaction_files.id", index=True)
    created_at: datetime = _when()


class StagedTransactionRow(SQLModel, table=True):
    """A relevant row of the file being reconciled, waiting to be decided in time order.

    Filled while the file is read, read back by (day, transaction id), emptied when it is done.
    """

    __tablename__ = "staged_transactions"
    # Clustered in decision order, which is how it is read back (a sequential read); repeats are
    # found through the unique index, id first so that look-ups by id use it.
    __table_args__ = (UniqueConstraint("transaction_id", "file_id"), {"sqlite_with_rowid": False})
    file_id: int = Field(foreign_key="transaction_files.id", primary_key=True)
    day: date = Field(primary_key=True)
    transaction_id: str = Field(sa_column=Column(TXN_ID, primary_key=True))
    line: int
    member_id: str = Field(max_length=20)
    last4: str = Field(max_length=4)
    merchant_id: str = Field(max_length=64)
    cents: int
    currency: str = Field(max_length=3)
    kind: str = Field(max_length=8)
    original_id: str | None = Field(default=None, max_length=64)


class PendingRefundRow(SQLModel, table=True):
    """A refund that found no credited purchase yet: applied when its purchase arrives, or expired."""

    __tablename__ = "pending_refunds"
    __table_args__ = (Index("ix_pending_refunds_order", "day", "transaction_id"),)
    transaction_id: str = Field(sa_column=Column(TXN_ID, primary_key=True))
    file_id: int = Field(foreign_key="transaction_files.id")
    line: int
    member_id: str = Field(max_length=20, index=True)
    last4: str = Field(max_length=4)
    merchant_id: str = Field(max_length=64)
    cents: int
    currency: str = Field(max_length=3)
    day: date
    original_id: str | None = Field(default=None, max_length=64)


class RejectRow(SQLModel, table=True):
    """A row of a transaction file that could not be used, and why."""

    __tablename__ = "rejects"
    file_id: int = Field(foreign_key="transaction_files.id", primary_key=True)
    line: int = Field(primary_key=True)
    column: str = Field(max_length=40)
    reason: str = Field(max_length=300)
    # The row's transaction id as far as it could be read ("" when not; a card-number-like id is
    # cut to its last 4 digits). Rows recorded before there was this column have "".
    transaction_id: str = Field(sa_column=Column(String(64), nullable=False, server_default=""))


class LeaseRow(SQLModel, table=True):
    """Who holds a named lease (the poller's leadership, the reconciliation lock) and until when.

    Taken and renewed with conditional updates, so of several instances exactly one holds it,
    and another takes over once a holder that died lets it run out.
    """

    __tablename__ = "leases"
    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(max_length=100)
    expires_at: datetime = _when()
    acquired_at: datetime = _when()


class MerchantPurchaseRow(SQLModel, table=True):
    """A purchase, or a refund of one, at a campaign's merchant id by a linked card, enrolled or
    not, before or after enrolling: what the merchant dashboard counts (issue 12).

    No card digits at all, not even the last four. A refund names the purchase it refunds
    (``refund_of``); a purchase's refunded cents are the sum of its refunds, read with it, so a
    refund kept before its purchase (another file, a later batch) still counts. Kept once per
    transaction id, ever; deleted by the retention job (bot.services.dashboards).
    """

    __tablename__ = "merchant_purchases"
    # Read and pruned by merchant id and day; clustered on the id, which arrives mostly in order.
    __table_args__ = (Index("ix_merchant_purchases_merchant_day", "merchant_id", "day"),
                      {"sqlite_with_rowid": False})
    transaction_id: str = Field(sa_column=Column(TXN_ID, primary_key=True))
    member_id: str = Field(max_length=20)
    merchant_id: str = Field(max_length=64)
    day: date
    cents: int
    currency: str = Field(max_length=3)
    refund_of: str | None = Field(default=None, max_length=64)  # NULL: a purchase
    file_id: int  # the file that brought it (no foreign key: the rows outlive nothing, and block nothing)


class DashboardReportRow(SQLModel, table=True):
    """A campaign's merchant dashboard as last computed (report_data as JSON), and the stamp of
    the ledger it was computed from: a page reads this one row, whatever the size of the data."""

    __tablename__ = "dashboard_reports"
    campaign_id: str = Field(primary_key=True, max_length=64)
    stamp: str = Field(max_length=200)
    as_of: datetime = _when()
    min_members: int
    data: str
    computed_at: datetime = _when()


# The portal's tables: users, sessions, the audit log, campaign requests, uploads.


class WebUserRow(SQLModel, table=True):
    """A person who signs in to the portal: ops, or one merchant's staff."""

    __tablename__ = "web_users"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    role: str = Field(max_length=10)  # ops | merchant
    merchant: str | None = Field(default=None, max_length=60)  # a campaign's merchant, exactly
    password_hash: str = Field(max_length=200)  # Argon2id, with its own salt and parameters
    disabled: bool = False
    failed_sign_ins: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    locked_until: datetime | None = _when(nullable=True)
    created_at: datetime = _when()
    password_changed_at: datetime = _when()


class WebSessionRow(SQLModel, table=True):
    """A signed-in session. Only a SHA-256 of the cookie's random id is kept."""

    __tablename__ = "web_sessions"
    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="web_users.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _when()
    last_seen_at: datetime = _when()


class AuditRow(SQLModel, table=True):
    """One event of the append-only audit log (never a password, a session id or a card number)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when()
    actor: str | None = Field(default=None, max_length=254)  # the email given or signed in
    event: str = Field(max_length=40)
    detail: str = Field(default="", max_length=500)
    address: str | None = Field(default=None, max_length=64)  # the client's IP address


class SubmissionRow(SQLModel, table=True):
    """A campaign file a merchant submitted, waiting for ops (a request) or decided."""

    __tablename__ = "campaign_submissions"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    merchant: str = Field(max_length=60, index=True)
    submitted_by: str = Field(max_length=254)
    text: str  # the TOML as submitted (checked: no card number in it)
    status: str = Field(max_length=10)  # pending | approved | rejected
    note: str | None = Field(default=None, max_length=500)
    submitted_at: datetime = _when()
    decided_by: str | None = Field(default=None, max_length=254)
    decided_at: datetime | None = _when(nullable=True)


class UploadRow(SQLModel, table=True):
    """A transaction file uploaded in the portal, and what became of it."""

    __tablename__ = "web_uploads"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255)
    sha256: str | None = Field(default=None, max_length=64, index=True)
    size: int = 0
    lines: int = 0
    uploaded_by: str = Field(max_length=254)
    uploaded_at: datetime = _when()
    status: str = Field(max_length=20)  # refused | already reconciled | queued | waiting | done | failed
    message: str = Field(default="", max_length=2000)



class ApiTokenRow(SQLModel, table=True):
    """A merchant's token for the JSON API. Only a SHA-256 of the token is kept, never the token."""

    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    merchant: str = Field(max_length=60, index=True)  # a campaign's merchant, exactly
    name: str = Field(max_length=60)  # what it is for, as its creator named it
    token_hash: str = Field(max_length=64, unique=True)
    shown: str = Field(max_length=12)  # the token's first characters, to tell tokens apart
    created_by: str = Field(max_length=254)
    created_at: datetime = _when()
    last_used_at: datetime | None = _when(nullable=True)
    revoked_at: datetime | None = _when(nullable=True)
    revoked_by: str | None = Field(default=None, max_length=254)

# The tables as SQLAlchemy Core sees them: what the repositories' statements are built on.
members_t: Table = MemberRow.__table__  # type: ignore[attr-defined]
card_links_t: Table = CardLinkRow.__table__  # type: ignore[attr-defined]
keys_t: Table = FingerprintKeyRow.__table__  # type: ignore[attr-defined]
campaigns_t: Table = CampaignRow.__table__  # type: ignore[attr-defined]
enrolments_t: Table = EnrolmentRow.__table__  # type: ignore[attr-defined]
posts_t: Table = PostRow.__table__  # type: ignore[attr-defined]
outbox_t: Table = OutboxRow.__table__  # type: ignore[attr-defined]
cursors_t: Table = CursorRow.__table__  # type: ignore[attr-defined]
files_t: Table = TransactionFileRow.__table__  # type: ignore[attr-defined]
transactions_t: Table = CardTransactionRow.__table__  # type: ignore[attr-defined]
credits_t: Table = CreditRow.__table__  # type: ignore[attr-defined]
staged_t: Table = StagedTransactionRow.__table__  # type: ignore[attr-defined]
pending_t: Table = PendingRefundRow.__table__  # type: ignore[attr-defined]
rejects_t: Table = RejectRow.__table__  # type: ignore[attr-defined]
leases_t: Table = LeaseRow.__table__  # type: ignore[attr-defined]
merchant_purchases_t: Table = MerchantPurchaseRow.__table__  # type: ignore[attr-defined]
dashboard_reports_t: Table = DashboardReportRow.__table__  # type: ignore[attr-defined]
users_t: Table = WebUserRow.__table__  # type: ignore[attr-defined]
sessions_t: Table = WebSessionRow.__table__  # type: ignore[attr-defined]
audit_t: Table = AuditRow.__table__  # type: ignore[attr-defined]
submissions_t: Table = SubmissionRow.__table__  # type: ignore[attr-defined]
uploads_t: Table = UploadRow.__table__  # type: ignore[attr-defined]
api_tokens_t: Table = ApiTokenRow.__table__  # type: ignore[attr-defined]
