"""The JSON API's per-merchant tokens: made in the portal (shown once), checked on each call,
revoked from the portal; every creation and revocation goes to the audit log."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.domain.api_tokens import (
    TOKEN_BYTES,
    ApiToken,
    bearer_token,
    hashes_match,
    shown_part,
    token_hash,
    token_name_problem,
    token_text,
)
from bot.domain.portal import Role, Viewer
from bot.errors import BotError
from bot.ports import ApiTokenStore, PortalStore

NOTE_USE_EVERY = timedelta(minutes=5)  # last_used_at is written at most this often per token


class ApiTokenError(BotError):
    """A token could not be made or revoked; the message says why and what to do."""


@dataclass(frozen=True)
class NewToken:
    """A token just made: its text (shown once, never kept) and what is kept of it."""

    text: str
    token: ApiToken


class ApiTokens:
    """Makes, checks and revokes API tokens."""

    def __init__(self, store: ApiTokenStore, audit: PortalStore, clock: Clock,
                 merchants: Callable[[], set[str]],
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self._store, self._audit, self._clock = store, audit, clock
        self._merchants, self._random = merchants, random_bytes

    def create(self, viewer: Viewer, name: str, merchant: str | None = None, *,
               address: str | None = None) -> NewToken:
        """Make a token for the viewer's merchant (ops name the merchant); return its text once."""
        if viewer.is_ops:
            if not merchant or merchant not in self._merchants():
                raise ApiTokenError("choose the merchant the token is for (one with a campaign)")
        else:
            merchant = viewer.merchant
        assert merchant is not None
        problem = token_name_problem(name)
        if problem:
            raise ApiTokenError(problem)
        text = token_text(self._random(TOKEN_BYTES))
        now = self._clock()
        token = self._store.add(merchant, name.strip(), token_hash(text), shown_part(text), viewer.email, now)
        self._audit.audit(now, "api token created", actor=viewer.email,
                          detail=f"{merchant}: {token.name!r} ({token.shown}...)", address=address)
        return NewToken(text, token)

    def revoke(self, viewer: Viewer, token: ApiToken, *, address: str | None = None) -> bool:
        """Revoke a token the viewer may see; False when it was revoked already."""
        if not viewer.sees(token.merchant):
            raise ApiTokenError("there is no such token")
        now = self._clock()
        done = self._store.revoke(token.id, viewer.email, now)
        if done:
            self._audit.audit(now, "api token revoked", actor=viewer.email,
                              detail=f"{token.merchant}: {token.name!r} ({token.shown}...)", address=address)
        return done

    def authenticate(self, header: str | None) -> Viewer | None:
        """Return the merchant viewer of a call's ``Authorization`` header, or None (no token, an
        unknown or revoked one)."""
        text = bearer_token(header)
        if text is None:
            return None
        wanted = token_hash(text)
        found = self._store.by_hash(wanted)
        if found is None:
            return None
        token, kept = found
        if not hashes_match(kept, wanted) or not token.active:
            return None
        now = self._clock()
        if token.last_used_at is None or now - token.last_used_at >= NOTE_USE_EVERY:
            self._store.used(token.id, now)
        return Viewer(0, f"API token {token.shown}...", Role.MERCHANT, token.merchant)
