"""The ports the services need, as protocols; adapters and test fakes implement them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.domain.mentions import MentionPage
from bot.domain.reconcile import Credit, CreditedPurchase, Key, Txn
from bot.domain.transactions import Reject

if TYPE_CHECKING:
    from bot.adapters.repository import Seen, SqlUnitOfWork


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


class UnitOfWorkFactory(Protocol):
    """Opens a database transaction (a unit of work)."""

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        """Return a new unit of work (``readonly=True`` for reads)."""


class Locks(Protocol):
    """Named locks shared by every instance of the bot (see adapters.locks)."""

    def acquire(self, name: str) -> bool:
        """Take (or keep, or renew) the lock; False when another instance holds it."""

    def release(self, name: str) -> None:
        """Give the lock up."""

    def holder(self, name: str) -> str | None:
        """Return which instance holds the lock, if any."""

    def close(self) -> None:
        """Give up every lock held."""


class DecisionLedger(Protocol):
    """The ledger as one reconciliation run reads and writes it: the database itself, or for a
    dry run a private scratch copy of the run's own writes laid over the database (see
    adapters.scratch)."""

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

    def staged_count(self, file_id: int) -> int:
        """Return how many rows of the file are staged."""

    def staged_after(self, file_id: int, after: Key | None, limit: int) -> list[Txn]:
        """Return the next staged rows in decision order."""

    def add_rejects(self, file_id: int, rejects: Sequence[Reject]) -> None:
        """Record rejected rows."""

    def save_progress(self, file_id: int, rows_done: int, counters: Mapping[str, Any]) -> None:
        """Store how many rows were read and the counters."""

    def enter_phase(self, file_id: int, phase: str) -> None:
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
                        since: date | None) -> list[tuple[Txn, int]]:
        """Return other files' waiting refunds placed in (after, upto], with their file ids."""

    def pending_of(self, member_ids: Sequence[str], upto: Key, since: date | None) -> list[tuple[Txn, int]]:
        """Return these members' waiting refunds placed up to ``upto``."""

    def pending_before(self, day: date) -> list[tuple[Txn, int]]:
        """Return the waiting refunds dated before ``day``."""

    def add_pending(self, refunds: Sequence[tuple[Txn, int]]) -> None:
        """Keep refunds waiting for their purchase."""

    def remove_pending(self, transaction_ids: Sequence[str]) -> None:
        """Stop keeping these refunds waiting."""

    def add_transactions(self, rows: Sequence[tuple[Any, ...]], *, replace: bool = False) -> None:
        """Keep decided transactions."""

    def update_transactions(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store new outcomes of kept transactions."""

    def add_credits(self, credits: Sequence[Credit], file_id: int, now: datetime) -> None:
        """Record credits and clawbacks."""

    def update_refunds(self, items: Iterable[CreditedPurchase]) -> None:
        """Store how much of each credited purchase was refunded and clawed back."""

    def add_spent(self, deltas: Mapping[str, int]) -> list[str]:
        """Move campaigns' spent totals; return those whose budget refused."""


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
