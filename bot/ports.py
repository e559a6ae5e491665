"""The ports the services need, as protocols; adapters and test fakes implement them.

Services import these, never an adapter (tests/unit/test_domain_purity.py holds the rule). The
repositories and the unit of work are implemented by bot.adapters.sql, and (all but the ledger)
by the in-memory fakes in tests/fakes.py; tests/contract runs one set of tests against both.
Over 300 lines on purpose: every protocol a service may depend on, in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta, tzinfo
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from bot.domain.api_tokens import ApiToken
from bot.domain.campaign_versions import CampaignRecord
from bot.domain.campaigns import Campaign
from bot.domain.cards import KeyCheck
from bot.domain.dashboard.facts import CampaignFacts
from bot.domain.dashboard.report import Report
from bot.domain.dashboard.snapshots import StoredReport
from bot.domain.enrolment import Enrolment
from bot.domain.ledger import (
    ExportedCredit,
    FilePhase,
    FileRecord,
    KeptTransaction,
    NoticesDue,
    NumberedCredit,
    Seen,
    WaitingRefund,
)
from bot.domain.members import CardIndex, CardLink, LinkEnd, LinkPeriod, Member, NewLink
from bot.domain.mentions import HandledPost, MentionPage
from bot.domain.portal import Role, Session, SubmissionStatus, UploadStatus, User
from bot.domain.reconcile import Credit, CreditedPurchase, Key, Txn
from bot.domain.replies import Delivery, OutboxItem, OutboxRecord, ReplyIntent, ThreadReply
from bot.domain.transactions import Reject

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class SocialApi(Protocol):
    """Where mentions come from and replies and DMs go: X, or the local sandbox."""

    def describe(self) -> str:
        """Say which service this is."""

    def mentions_since(self, since_id: str | None) -> list[MentionPage]:
        """Return mentions newer than ``since_id`` as pages, newest page first."""

    def reply(self, text: str, in_reply_to: str) -> str:
        """Post a reply and return its id."""

    def direct_message(self, user_id: str, text: str) -> str:
        """Send ``text`` to ``user_id`` as a direct message and return the DM event's id."""

    def find_direct_message(self, user_id: str, text: str) -> str | None:
        """Return the id of a DM with exactly ``text`` the bot already sent ``user_id``, if any."""


class Renderer(Protocol):
    """Turns a template name and context into a post's text."""

    def render(self, template: str, context: dict[str, Any]) -> str:
        """Return the text, or raise ReplyTooLong."""


# --- repositories: one per group of tables, each on the connection of a unit of work ---------


class MemberStore(Protocol):
    """Linked X accounts, the history of their card links, and the fingerprint keys used."""

    def get(self, user_id: str) -> Member | None:
        """Return the member with ``user_id``, linked or not."""

    def get_many(self, user_ids: Iterable[str]) -> dict[str, Member]:
        """Return the known members among ``user_ids``."""

    def card_owners(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """Return the user id each of ``fingerprints`` is linked to, where it is linked."""

    def link_many(self, links: Sequence[NewLink], now: datetime, *, key: KeyCheck | None = None) -> None:
        """Link each account to its card (ending its earlier link as replaced); clears an opt-out."""

    def relink_in_place(self, links: Sequence[NewLink], now: datetime, *, key: KeyCheck) -> None:
        """Update the handle or fingerprint of current links, keeping their start."""

    def unlink(self, user_id: str, now: datetime, *, ended_by: LinkEnd = LinkEnd.REMOVED) -> bool:
        """Forget the card of ``user_id`` and end its link; return False when it had none."""

    def opt_out(self, user_id: str, handle: str | None, now: datetime) -> None:
        """Record that ``user_id`` sent STOP (the first STOP's time is kept)."""

    def links_of(self, user_id: str) -> list[CardLink]:
        """Return every link of an account to a card, oldest first."""

    def fingerprint_index(self) -> dict[str, str]:
        """Return member user id by card fingerprint, for every linked member."""

    def card_index(self, tz: tzinfo) -> CardIndex:
        """Return who owns each card, as reconciliation matches them."""

    def card_history(self, tz: tzinfo) -> dict[str, tuple[LinkPeriod, ...]]:
        """Return the links of every card that has an ended link, latest first, as days in ``tz``."""

    def key_use(self) -> dict[str | None, int]:
        """Return how many linked members' fingerprints were made with each key id."""

    def key_checks(self) -> dict[str, str]:
        """Return the check value of every key fingerprints were made with, by key id."""

    def record_key(self, key: KeyCheck, now: datetime) -> None:
        """Remember a key fingerprints are made with (by its check value)."""

    def adopt_key(self, key: KeyCheck, now: datetime) -> int:
        """Take fingerprints of unknown key to be ``key``'s; return how many linked members."""

    def unkeyed_links(self) -> int:
        """Return how many card links have no key id."""


class CampaignStore(Protocol):
    """Campaign counters (enrolments reserved, budget spent) and the last good version of each."""

    def sync(self, campaigns: Iterable[Campaign], now: datetime) -> None:
        """Create or update the row of each campaign, keeping its counters."""

    def install(self, versions: Iterable[tuple[Campaign, str]], now: datetime) -> None:
        """Save each (campaign, file) as the campaign's last good version, keeping its counters."""

    def ensure(self, campaigns: Iterable[Campaign], now: datetime) -> None:
        """Create the rows of campaigns not known yet; leave the others alone."""

    def forget(self, campaign_ids: Sequence[str]) -> None:
        """Drop the kept version of these campaigns (their counters stay)."""

    def records(self) -> list[CampaignRecord]:
        """Return every campaign known, with its last good version if one is kept."""

    def enrolment_counts(self, *, limited_only: bool = False) -> dict[str, int]:
        """Return enrolments so far per campaign id (only limited-quantity ones if asked)."""

    def spent_cents(self) -> dict[str, int]:
        """Return the cents each campaign with a budget has spent."""

    def spent_totals(self) -> dict[str, int]:
        """Return the cents every campaign has spent, budget or not."""

    def reserve(self, campaign_id: str) -> bool:
        """Take one place of a campaign's limited quantity; False when none is left."""

    def reserve_many(self, wanted: Mapping[str, int]) -> dict[str, int]:
        """Take up to the places wanted of each limited campaign; return the places granted."""

    def add_enrolled(self, counts: Mapping[str, int]) -> None:
        """Count enrolments in campaigns without a limited quantity."""

    def add_spent(self, deltas: Mapping[str, int]) -> list[str]:
        """Move spent totals, never past a budget; return the campaigns whose budget refused."""


class EnrolmentStore(Protocol):
    """Who is enrolled in what."""

    def campaigns_of(self, member_ids: Iterable[str]) -> dict[str, set[str]]:
        """Return the campaign ids each of ``member_ids`` is enrolled in."""

    def add_many(self, enrolments: Sequence[Enrolment]) -> None:
        """Record new enrolments."""

    def days_by_key(self, tz: tzinfo) -> dict[str, date]:
        """Return the enrolment day (in ``tz``) of every enrolment, by enrolment key."""

    def posts_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Return the enrolment post id for each (member, campaign) that has one."""

    def get(self, member_id: str, campaign_id: str) -> Enrolment | None:
        """Return the enrolment of ``member_id`` in ``campaign_id``, if any."""


class PostStore(Protocol):
    """Mentions already handled: the guard that makes polling idempotent."""

    def seen(self, post_ids: Sequence[str]) -> set[str]:
        """Return which of ``post_ids`` were handled before."""

    def versions(self, interaction_ids: Sequence[str]) -> dict[str, dict[str, tuple[str, ...]]]:
        """Return the handled posts of each interaction: interaction -> post id -> hashtag keys."""

    def add_many(self, posts: Sequence[HandledPost]) -> None:
        """Record handled posts."""


class OutboxStore(Protocol):
    """Replies and direct messages waiting to be sent, each at most once."""

    def add_many(self, intents: Sequence[ReplyIntent], now: datetime) -> None:
        """Queue messages; one already queued under the same key is left as it is."""

    def claim(self, now: datetime, limit: int, lease: timedelta, me: str,
              gone: Callable[[str], bool]) -> list[OutboxItem]:
        """Mark up to ``limit`` due messages as being sent by ``me`` and return them."""

    def record(self, item_id: int, delivery: Delivery, now: datetime) -> None:
        """Store the result of sending a claimed message."""

    def cancel_for_member(self, member_id: str, reason: str) -> int:
        """Cancel every unsent message to ``member_id``; return how many."""

    def earlier_in_thread(self, thread: str, item_id: int) -> list[ThreadReply]:
        """Return the replies queued in ``thread`` before ``item_id``, latest first."""

    def earlier_dm_unsent(self, member_id: str, item_id: int) -> bool:
        """Return True while a DM queued for ``member_id`` before ``item_id`` is on its way."""

    def listing(self, statuses: Sequence[str], limit: int) -> list[OutboxRecord]:
        """Return up to ``limit`` messages in ``statuses``, the latest first."""

    def get(self, item_id: int) -> OutboxRecord | None:
        """Return message ``item_id``, if there is one."""

    def requeue(self, item_id: int, now: datetime, *, attempts: int, note: str) -> bool:
        """Make a failed or undeliverable message due again; False when it is neither."""

    def counts(self) -> dict[str, int]:
        """Return the number of messages in each status."""


class CursorStore(Protocol):
    """Named positions, such as the mentions timeline's since_id."""

    def get(self, name: str) -> str | None:
        """Return the cursor ``name``, or None before the first poll."""

    def set(self, name: str, value: str, now: datetime) -> None:
        """Move cursor ``name`` to ``value``."""


class DecisionLedger(Protocol):
    """The ledger as one reconciliation run reads and writes it: the database itself, or for a
    dry run a private scratch copy of the run's own writes laid over the database (see
    adapters.sql.scratch)."""

    def seen(self, transaction_ids: Sequence[str]) -> dict[str, Seen]:
        """Return where each transaction id was kept before, for those kept."""

    def file_names(self, file_ids: Iterable[int]) -> dict[int, str]:
        """Return each file's name."""

    def outcomes_of(self, file_id: int, transaction_ids: Sequence[str]) -> dict[str, str]:
        """Return the outcomes kept for these transactions of one file."""

    def stage(self, file_id: int, txns: Sequence[Txn]) -> None:
        """Stage relevant rows of the file being reconciled."""

    def staged_lines(self, file_id: int, transaction_ids: Sequence[str]) -> dict[str, int]:
        """Return the line each id was staged from, for those staged."""

    def keep_purchases(self, file_id: int, txns: Sequence[Txn], *, decided: bool = False) -> None:
        """Keep purchases (and refunds naming one) for the dashboard, once per transaction id
        (``decided``: rows staged to be decided, which replace a row kept with their id)."""

    def staged_count(self, file_id: int) -> int:
        """Return how many rows of the file are staged."""

    def staged_after(self, file_id: int, after: Key | None, limit: int) -> list[Txn]:
        """Return the next staged rows in decision order."""

    def add_rejects(self, file_id: int, rejects: Sequence[Reject]) -> None:
        """Record rejected rows."""

    def save_progress(self, file_id: int, rows_done: int, counters: Mapping[str, Any]) -> None:
        """Store how many rows were read and the counters."""

    def enter_phase(self, file_id: int, phase: FilePhase) -> None:
        """Move the file to its next phase."""

    def save_cursor(self, file_id: int, decided: Key | None, counters: Mapping[str, Any]) -> None:
        """Store the last transaction decided and the counters."""

    def credited_purchases(self, purchase_ids: Sequence[str]) -> list[CreditedPurchase]:
        """Return the credits given on these purchases."""

    def refundable(self, member_ids: Sequence[str], since: date) -> list[CreditedPurchase]:
        """Return these members' credited purchases since ``since`` not refunded yet."""

    def pending_members(self, since: date | None) -> set[str]:
        """Return the members with a refund waiting for its purchase."""

    def pending_between(self, exclude_file: int, after: Key | None, upto: Key | None,
                        since: date | None) -> list[WaitingRefund]:
        """Return other files' waiting refunds placed in (after, upto]."""

    def pending_of(self, member_ids: Sequence[str], upto: Key, since: date | None) -> list[WaitingRefund]:
        """Return these members' waiting refunds placed up to ``upto``."""

    def pending_before(self, day: date) -> list[WaitingRefund]:
        """Return the waiting refunds dated before ``day``."""

    def add_pending(self, refunds: Sequence[WaitingRefund]) -> None:
        """Keep refunds waiting for their purchase."""

    def remove_pending(self, transaction_ids: Sequence[str]) -> None:
        """Stop keeping these refunds waiting."""

    def add_transactions(self, rows: Sequence[KeptTransaction], *, replace: bool = False) -> None:
        """Keep decided transactions."""

    def update_transactions(self, rows: Sequence[KeptTransaction]) -> None:
        """Store new outcomes of kept transactions."""

    def add_credits(self, credits: Sequence[Credit], file_id: int, now: datetime) -> None:
        """Record credits and clawbacks."""

    def update_refunds(self, items: Iterable[CreditedPurchase]) -> None:
        """Store how much of each credited purchase was refunded and clawed back."""

    def add_spent(self, deltas: Mapping[str, int]) -> list[str]:
        """Move campaigns' spent totals; return those whose budget refused."""


class Ledger(DecisionLedger, Protocol):
    """The whole ledger: transaction files, kept transactions, credits, rejects (SQL only)."""

    def file(self, sha256: str) -> FileRecord | None:
        """Return the file with this SHA-256, if it was ever seen."""

    def latest_file(self) -> FileRecord | None:
        """Return the file most recently started."""

    def start_file(self, sha256: str, name: str, now: datetime, *, file_id: int | None = None) -> FileRecord:
        """Record a new file as running (or return the one with this SHA-256)."""

    def last_file_id(self) -> int:
        """Return the highest file id given so far (0 for none)."""

    def start_again(self, record: FileRecord, now: datetime) -> FileRecord:
        """Open the next run of a reconciled file (`reconcile --again`)."""

    def finish_file(self, file_id: int, counters: Mapping[str, Any], now: datetime) -> None:
        """Mark the file reconciled and drop its staged rows."""

    def credits_held(self) -> dict[tuple[str, str], int]:
        """Return how many credits each (member, campaign) holds, net of full reversals."""

    def credit_counts(self, campaign_ids: Sequence[str]) -> dict[str, int]:
        """Return how many credits (not clawbacks) each campaign has issued."""

    def export_rows(self, file_id: int, after: int = 0) -> Iterator[ExportedCredit]:
        """Yield a file's credits (after seq ``after``) for the export, streamed."""

    def rejects_of_file(self, file_id: int) -> list[Reject]:
        """Return a file's rejected rows by line."""

    def notices_due(self) -> NoticesDue | None:
        """Return the oldest reconciled file whose credit notices are not all queued yet."""

    def credits_after(self, file_id: int, after: int, limit: int) -> list[NumberedCredit]:
        """Return up to ``limit`` of a file's credits after seq ``after``."""

    def notices_queued(self, file_id: int, last: int, *, done: bool) -> None:
        """Move a file's notice cursor."""

    def reversed_credits(self, clawbacks: Sequence[Credit]) -> dict[str, Credit]:
        """Return the credits these clawbacks reverse, by credit id."""

    def credits_of(self, member_id: str, campaign_id: str) -> list[Credit]:
        """Return a member's credits and clawbacks in a campaign."""

    def transactions_of(self, member_id: str) -> list[KeptTransaction]:
        """Return the kept transactions of a member, oldest first."""

    def kept_merchant_ids(self) -> list[str]:
        """Return the merchant ids the dashboard's kept purchases are at."""

    def prune_purchases(self, before: Mapping[str, date]) -> int:
        """Delete the dashboard's kept purchases dated before ``before[merchant_id]``; return how many."""


# --- the unit of work -------------------------------------------------------------------------


class UnitOfWork(Protocol):
    """One database transaction with every repository on it: rolled back on leaving the block
    unless ``commit()`` was called."""

    @property
    def members(self) -> MemberStore:
        """Return the members repository."""

    @property
    def campaigns(self) -> CampaignStore:
        """Return the campaigns repository."""

    @property
    def enrolments(self) -> EnrolmentStore:
        """Return the enrolments repository."""

    @property
    def posts(self) -> PostStore:
        """Return the handled posts repository."""

    @property
    def outbox(self) -> OutboxStore:
        """Return the outbox repository."""

    @property
    def cursors(self) -> CursorStore:
        """Return the cursors repository."""

    @property
    def ledger(self) -> Ledger:
        """Return the ledger."""

    def __enter__(self) -> Self:
        """Begin the transaction."""

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """End it: roll back what was not committed."""

    def commit(self) -> None:
        """Make the transaction's writes permanent."""

    def sending_ahead(self) -> AbstractContextManager[object]:
        """Return a block whose writes go out without waiting for each one's answer; an error
        comes out by the block's end at the latest (no reads inside it)."""


class LedgerSession(Protocol):
    """One transaction over a DecisionLedger: rolled back on leaving unless committed."""

    @property
    def ledger(self) -> DecisionLedger:
        """Return the ledger of this transaction."""

    def commit(self) -> None:
        """Make the writes permanent."""


class LedgerSessions(Protocol):
    """Opens LedgerSessions (a real run: the unit of work; a dry run: the scratch ledger)."""

    def __call__(self) -> AbstractContextManager[LedgerSession]:
        """Return a new session."""


class ScratchLedgers(Protocol):
    """A dry run's private ledger: the run's own writes, laid over the real ledger it only reads.
    Deleted on leaving the block."""

    def __enter__(self) -> Self:
        """Create it."""

    def __exit__(self, *exc: object) -> None:
        """Delete it, whatever happened."""

    def session(self) -> AbstractContextManager[LedgerSession]:
        """Open a transaction on it, reading the real ledger beside it."""

    def own(self) -> AbstractContextManager[UnitOfWork]:
        """Open a transaction on the scratch ledger alone (its file record)."""


class UnitOfWorkFactory(Protocol):
    """Opens database transactions (units of work), and a dry run's scratch ledger."""

    def __call__(self, *, readonly: bool = False) -> UnitOfWork:
        """Return a new unit of work (``readonly=True`` for reads)."""

    def scratch(self, now: datetime, *, over_ledger: bool = True) -> ScratchLedgers:
        """Return a dry run's private ledger over this database's (none under a backtest)."""


# --- locks, the scanner, the portal -----------------------------------------------------------


class Locks(Protocol):
    """Named locks shared by every instance of the bot (see adapters.locks)."""

    def acquire(self, name: str) -> bool:
        """Take (or keep, or renew) the lock; False when another instance holds it."""

    def release(self, name: str) -> None:
        """Give the lock up."""

    def holder(self, name: str) -> str | None:
        """Return which instance holds the lock, if any."""

    def gone(self, holder: str) -> bool:
        """Tell whether instance ``holder`` has certainly stopped (what it held may be taken now)."""

    def close(self) -> None:
        """Give up every lock held."""


class Batches(Protocol[T_co]):
    """Batches of a scan as it runs: a context manager (leaving it stops the scan) to iterate."""

    def share(self, enrolled: frozenset[str]) -> None:
        """Hand the scan the enrolment keys; what it reads from then on comes filtered."""

    def __enter__(self) -> Batches[T_co]:
        """Return the batches."""

    def __exit__(self, *exc: object) -> None:
        """Stop the scan, whatever happened."""

    def __iter__(self) -> Iterator[T_co]:
        """Yield the batches in order."""


class Scanner(Protocol):
    """Runs a scan (``work``: given how to ask for the enrolment keys, yields batches) and hands
    over its batches: in this process, or in a second one while this one works on them."""

    def __call__(self, work: Callable[[Callable[[], frozenset[str] | None]], Iterator[T]], *,
                 name: str) -> Batches[T]:
        """Start ``work``; ``name`` (the file's) is what errors about the scan say."""


class PasswordHashing(Protocol):
    """Password hashes (Argon2id in production) and their checks."""

    def hash(self, password: str) -> str:
        """Return a new hash of ``password``."""

    def verify(self, encoded: str | None, password: str) -> bool:
        """Tell whether ``password`` matches ``encoded`` (taking as long when there is none)."""

    def needs_rehash(self, encoded: str) -> bool:
        """Tell whether ``encoded`` was made with weaker parameters than today's."""


class PortalStore(Protocol):
    """The portal's own rows: users, sessions, the audit log, campaign requests and uploads."""

    def add_user(self, email: str, role: Role, merchant: str | None, password_hash: str,
                 now: datetime) -> User | None:
        """Create an account; None when the email already has one."""

    def user_by_email(self, email: str) -> User | None:
        """Return the account with this email."""

    def users(self) -> list[User]:
        """Return every account, by email."""

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        """Disable (or enable) an account; disabling ends its sessions."""

    def set_password(self, user_id: int, password_hash: str, now: datetime, *, ends_sessions: bool) -> None:
        """Store a new password hash, clear any lockout, and (on a reset) end the sessions."""

    def record_failure(self, user_id: int, failures: int, locked_until: datetime | None) -> None:
        """Store the failure count and lockout after a failed sign-in."""

    def count_failure(self, user_id: int) -> int:
        """Add one failed sign-in atomically and return the new count."""

    def start_session(self, id_hash: str, user_id: int, csrf_token: str, now: datetime,
                      *, replaces: str | None = None) -> None:
        """Record a new session (ending the one it replaces) and clear the failure count."""

    def session(self, id_hash: str) -> Session | None:
        """Return the session with this id hash, with its user."""

    def touch_session(self, id_hash: str, now: datetime) -> None:
        """Note that the session was used at ``now``."""

    def end_session(self, id_hash: str) -> None:
        """End a session on the server."""

    def audit(self, now: datetime, event: str, *, actor: str | None = None, detail: str = "",
              address: str | None = None) -> None:
        """Append an event to the audit log."""

    def add_submission(self, campaign_id: str, merchant: str, submitted_by: str, text: str,
                       now: datetime) -> int:
        """Store a checked campaign request as pending; return its id."""

    def decide_submission(self, submission_id: int, status: SubmissionStatus, note: str | None, by: str,
                          now: datetime, *, then: Callable[[], None] | None = None) -> bool:
        """Move a pending request to ``status`` (running ``then`` in the same transaction)."""

    def add_upload(self, name: str, uploaded_by: str, now: datetime, *, size: int, lines: int,
                   sha256: str | None, status: UploadStatus, message: str = "") -> int:
        """Record an upload; return its id."""

    def set_upload(self, upload_id: int, status: UploadStatus, message: str = "") -> None:
        """Record what became of an upload."""


class DashboardReports(Protocol):
    """The merchant dashboard's stored reports (issue 12): one per campaign, kept by a job."""

    def latest(self, campaign_id: str) -> Report | None:
        """The campaign's report as last computed, or None before the first computation."""


class ApiTokenStore(Protocol):
    """The JSON API's per-merchant tokens, kept as hashes."""

    def add(self, merchant: str, name: str, token_hash: str, shown: str, created_by: str,
            now: datetime) -> ApiToken:
        """Keep a new token (its hash and first characters only); return it."""

    def get(self, token_id: int) -> ApiToken | None:
        """Return the token with this id."""

    def by_hash(self, token_hash: str) -> tuple[ApiToken, str] | None:
        """Return the token whose hash is ``token_hash``, with the hash as kept."""

    def revoke(self, token_id: int, by: str, now: datetime) -> bool:
        """Revoke a token; False when it was revoked already."""

    def used(self, token_id: int, now: datetime) -> None:
        """Note that the token was used at ``now``."""
class DashboardStore(Protocol):
    """Where the dashboard's reports are kept, one per campaign."""

    def stored(self, campaign_id: str) -> StoredReport | None:
        """Return the campaign's stored report, or None."""

    def stamps(self) -> dict[str, str]:
        """Return the stamp of every stored report, by campaign id."""

    def save(self, report: StoredReport, now: datetime) -> None:
        """Store (or replace) a campaign's report, in a transaction of its own."""

    def forget(self, campaign_ids: Sequence[str]) -> None:
        """Drop these campaigns' stored reports (recomputed when next asked for)."""


class DashboardFacts(Protocol):
    """The ledger as the dashboard reads it: one campaign's facts, and the state they come from."""

    def facts_for(self, campaign_id: str, now: datetime) -> CampaignFacts:
        """Return everything the campaign's dashboard is computed from (as of the ledger now)."""

    def stamp_of(self, campaign_id: str) -> str:
        """Return what the campaign's facts depend on, cheaply: it changes whenever they may."""

    def as_of(self, now: datetime) -> datetime:
        """Return when the last poll and reconciliation finished (``now`` if neither ever ran)."""
