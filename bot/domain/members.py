"""Members: X accounts linked to a card, and the history of those links."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum
from typing import NamedTuple

from bot.domain.cards import CardRef

_HANDLE_RE = re.compile(r"[A-Za-z0-9_]{1,15}")


class MemberInvalid(ValueError):
    """A user id or handle is not what X issues."""


@dataclass(frozen=True)
class Member:
    """An X account and the card it is linked to (None once unlinked)."""

    user_id: str
    handle: str
    card: CardRef | None
    linked_at: datetime | None = None
    opted_out_at: datetime | None = None  # set by STOP; cleared only by a renewed consent
    key_id: str | None = None  # the fingerprint key the card's fingerprint was made with

    @property
    def linked(self) -> bool:
        """Return True while a card is linked."""
        return self.card is not None


class LinkEnd(StrEnum):
    """Why a link of a card to an account ended."""

    STOP = "stop"  # the member opted out: no messages, no enrolments, no re-link without consent
    REMOVED = "removed"  # ops ran `offerbot sync remove`
    REPLACED = "replaced"  # another card was linked to the account

    def describe(self) -> str:
        """Return the reason as people read it."""
        return {"stop": "STOP", "removed": "sync remove", "replaced": "another card linked"}[self.value]


@dataclass(frozen=True)
class CardLink:
    """One stretch of time during which an account was linked to a card."""

    member_id: str
    last4: str
    linked_at: datetime
    unlinked_at: datetime | None = None  # None while the link is current
    ended_by: LinkEnd | None = None
    key_id: str | None = None

    def describe(self, tz: tzinfo) -> str:
        """Return e.g. 'card ending 0005, linked 2026-11-20, unlinked on 2026-11-23 (STOP)'."""
        text = f"card ending {self.last4}, linked {self.linked_at.astimezone(tz):%Y-%m-%d}"
        if self.unlinked_at is None:
            return text + ", linked now"
        reason = f" ({self.ended_by.describe()})" if self.ended_by else ""
        return text + f", unlinked on {self.unlinked_at.astimezone(tz):%Y-%m-%d}{reason}"


class LinkPeriod(NamedTuple):
    """The days (in the campaigns' time zone) one member's link of a card covered, both inclusive.

    A named tuple: the reconciliation scanner gets these by the thousand across a process boundary.
    """

    member_id: str
    first_day: date
    last_day: date | None  # None while the link is current


class NewLink(NamedTuple):
    """A link to make: an account, its handle, and what is kept of its card."""

    user_id: str
    handle: str
    card: CardRef


class CardIndex(NamedTuple):
    """Who owns each card, as reconciliation matches them.

    ``current``: member by fingerprint for the cards with one current link and no history (the
    scanner's one-lookup fast path). ``history``: for every card with an ended link, each link's
    days, latest first (a transaction of such a card goes to the member whose link covered its date).
    """

    current: dict[str, str]
    history: dict[str, tuple[LinkPeriod, ...]]


def link_period(member_id: str, linked_at: datetime, unlinked_at: datetime | None, tz: tzinfo) -> LinkPeriod:
    """Return the days a link covered, read in ``tz``."""
    last = None if unlinked_at is None else unlinked_at.astimezone(tz).date()
    return LinkPeriod(member_id, linked_at.astimezone(tz).date(), last)


def owner_on(periods: Sequence[LinkPeriod], day: date, *, refund: bool = False) -> str | None:
    """Return the member whose link of a card covered ``day`` (``periods`` latest link first).

    A purchase counts for the member who had the card linked that day, so a member who bought and
    then sent STOP keeps the credit. A refund may come after the link ended: it goes to whoever
    linked the card last before it (the purchase it undoes was theirs), so a credit earned while
    linked can still be clawed back.
    """
    for period in periods:
        if period.first_day <= day and (period.last_day is None or day <= period.last_day):
            return period.member_id
    if refund:
        for period in periods:
            if period.first_day <= day:
                return period.member_id
    return None


def normalise_user_id(text: str) -> str:
    """Return a numeric X user id, or raise MemberInvalid."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise MemberInvalid(f"user id {value!r} is not numeric; use the account's numeric X id, "
                            "not its @handle (handles can change)")
    return value.lstrip("0") or "0"


def normalise_handle(text: str) -> str:
    """Return a handle without '@', or raise MemberInvalid."""
    value = text.strip().removeprefix("@")
    if _HANDLE_RE.fullmatch(value) is None:
        raise MemberInvalid(f"handle {value!r} is not an X handle (1-15 letters, digits or _)")
    return value
