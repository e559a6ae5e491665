"""The ports the services need, as protocols; adapters and test fakes implement them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from bot.domain.mentions import MentionPage

if TYPE_CHECKING:
    from bot.adapters.repository import SqlUnitOfWork


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
