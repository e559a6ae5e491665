"""The API token table on the real database: kept as a hash, found by it, revoked once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.adapters.sql.api_tokens import ApiTokenRepository
from bot.domain.api_tokens import token_hash, token_text

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_a_token_is_found_by_its_hash_used_and_revoked_once(engine):
    """add keeps the hash and first characters; by_hash finds it; revoke works once; used notes when."""
    repo = ApiTokenRepository(engine)
    text = token_text(b"\x07" * 32)

    made = repo.add("McDonald's", "BI", token_hash(text), text[:10], "mcd@example.com", NOW)
    found = repo.by_hash(token_hash(text))

    assert found is not None
    assert found[0] == made
    assert found[1] == token_hash(text)
    assert repo.by_hash(token_hash(text + "x")) is None
    repo.used(made.id, NOW + timedelta(minutes=1))
    assert repo.get(made.id).last_used_at == NOW + timedelta(minutes=1)
    assert repo.revoke(made.id, "ops@bank.example", NOW + timedelta(hours=1))
    assert not repo.revoke(made.id, "ops@bank.example", NOW + timedelta(hours=2))
    revoked = repo.get(made.id)
    assert (revoked.revoked_at, revoked.revoked_by, revoked.active) == (NOW + timedelta(hours=1),
                                                                       "ops@bank.example", False)
    assert repo.get(made.id + 1) is None
