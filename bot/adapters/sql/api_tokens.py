"""The JSON API's tokens. The only writer of api_tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from bot.adapters.sql.engine import READONLY
from bot.adapters.sql.tables import api_tokens_t
from bot.domain.api_tokens import ApiToken


def api_token(row: Any) -> ApiToken:
    """Return a token row as the domain's ApiToken (never its hash)."""
    return ApiToken(row.id, row.merchant, row.name, row.shown, row.created_by, row.created_at,
                    row.last_used_at, row.revoked_at, row.revoked_by)


class ApiTokenRepository:
    """Reads and writes the tokens, each call in a transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, merchant: str, name: str, token_hash: str, shown: str, created_by: str,
            now: datetime) -> ApiToken:
        """Keep a new token (its hash and first characters only); return it."""
        with self._engine.begin() as conn:
            token_id = conn.execute(insert(api_tokens_t).values(
                merchant=merchant, name=name, token_hash=token_hash, shown=shown,
                created_by=created_by[:254], created_at=now).returning(api_tokens_t.c.id)).scalar_one()
        return ApiToken(int(token_id), merchant, name, shown, created_by[:254], now)

    def get(self, token_id: int) -> ApiToken | None:
        """Return the token with this id."""
        with self._engine.connect().execution_options(**{READONLY: True}) as conn, conn.begin():
            row = conn.execute(select(api_tokens_t).where(api_tokens_t.c.id == token_id)).first()
        return None if row is None else api_token(row)

    def by_hash(self, token_hash: str) -> tuple[ApiToken, str] | None:
        """Return the token whose hash is ``token_hash``, with the hash as kept."""
        with self._engine.connect().execution_options(**{READONLY: True}) as conn, conn.begin():
            row = conn.execute(select(api_tokens_t).where(api_tokens_t.c.token_hash == token_hash)).first()
        return None if row is None else (api_token(row), str(row.token_hash))

    def revoke(self, token_id: int, by: str, now: datetime) -> bool:
        """Revoke a token; False when it was revoked already."""
        with self._engine.begin() as conn:
            changed = conn.execute(update(api_tokens_t).where(
                api_tokens_t.c.id == token_id, api_tokens_t.c.revoked_at.is_(None)
            ).values(revoked_at=now, revoked_by=by[:254])).rowcount
        return bool(changed == 1)

    def used(self, token_id: int, now: datetime) -> None:
        """Note that the token was used at ``now``."""
        with self._engine.begin() as conn:
            conn.execute(update(api_tokens_t).where(api_tokens_t.c.id == token_id).values(last_used_at=now))
