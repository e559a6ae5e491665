"""Members: X accounts linked to a card."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

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

    @property
    def linked(self) -> bool:
        """Return True while a card is linked."""
        return self.card is not None


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
