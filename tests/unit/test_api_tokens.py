"""API tokens: their shape, the Bearer header, and the service that makes, checks and revokes them."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from bot.domain.api_tokens import (
    ApiToken,
    bearer_token,
    hashes_match,
    shown_part,
    token_hash,
    token_name_problem,
    token_text,
)
from bot.domain.portal import Role, Viewer
from bot.services.api_tokens import ApiTokenError, ApiTokens
from tests.fakes import FixedClock

OPS = Viewer(1, "ops@bank.example", Role.OPS)
MCD = Viewer(2, "mcd@example.com", Role.MERCHANT, "McDonald's")
ZAP = Viewer(3, "zap@example.com", Role.MERCHANT, "Zappos.com")


class FakeTokenStore:
    """An in-memory ApiTokenStore."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[ApiToken, str]] = {}
        self.uses = 0

    def add(self, merchant: str, name: str, token_hash: str, shown: str, created_by: str,
            now: datetime) -> ApiToken:
        """Keep a token."""
        token = ApiToken(len(self.rows) + 1, merchant, name, shown, created_by, now)
        self.rows[token.id] = (token, token_hash)
        return token

    def get(self, token_id: int) -> ApiToken | None:
        """Return a token by id."""
        return self.rows[token_id][0] if token_id in self.rows else None

    def by_hash(self, token_hash: str) -> tuple[ApiToken, str] | None:
        """Find a token by its hash."""
        return next((row for row in self.rows.values() if row[1] == token_hash), None)

    def revoke(self, token_id: int, by: str, now: datetime) -> bool:
        """Revoke a token once."""
        token, kept = self.rows[token_id]
        if token.revoked_at is not None:
            return False
        self.rows[token_id] = (ApiToken(token.id, token.merchant, token.name, token.shown, token.created_by,
                                        token.created_at, token.last_used_at, now, by), kept)
        return True

    def used(self, token_id: int, now: datetime) -> None:
        """Note a use (counted)."""
        token, kept = self.rows[token_id]
        self.uses += 1
        self.rows[token_id] = (ApiToken(token.id, token.merchant, token.name, token.shown, token.created_by,
                                        token.created_at, now), kept)


class FakeAudit:
    """Collects audit events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str]] = []

    def audit(self, now: datetime, event: str, *, actor: str | None = None, detail: str = "",
              address: str | None = None) -> None:
        """Note an event."""
        self.events.append((event, actor, detail))


@pytest.fixture
def desk():
    """The token service over fakes, with predictable random bytes."""
    store, audit, clock = FakeTokenStore(), FakeAudit(), FixedClock()
    counter = iter(range(1, 1000))
    service = ApiTokens(store, audit, clock, lambda: {"McDonald's", "Zappos.com"},
                        random_bytes=lambda n: bytes([next(counter)]) * n)
    return service, store, audit, clock


def test_a_token_is_the_prefix_and_43_url_safe_characters_of_32_random_bytes():
    """token_text encodes 32 bytes without padding; anything else is refused."""
    text = token_text(b"\xff" * 32)

    assert text == "obt_" + "_" * 42 + "8"
    assert len(text) == 47
    assert shown_part(text) == "obt_______"
    with pytest.raises(ValueError, match="32 random bytes"):
        token_text(b"short")


def test_what_is_kept_is_the_sha256_of_the_text_compared_in_constant_time():
    """token_hash is the hex SHA-256; hashes_match compares two of them."""
    text = token_text(b"\x01" * 32)

    assert token_hash(text) == hashlib.sha256(text.encode()).hexdigest()
    assert hashes_match(token_hash(text), token_hash(text))
    assert not hashes_match(token_hash(text), token_hash(text + "x"))


@pytest.mark.parametrize(("header", "found"), [
    ("Bearer obt_" + "a" * 43, "obt_" + "a" * 43),
    ("bearer   obt_" + "a" * 43 + " ", "obt_" + "a" * 43),
    (None, None), ("", None), ("Bearer", None), ("Bearer obt_" + "a" * 42, None),
    ("Bearer xyz_" + "a" * 43, None), ("Basic obt_" + "a" * 43, None),
    ("Bearer obt_" + "a" * 43 + " x", None),
])
def test_the_bearer_header_is_read_strictly(header, found):
    """Only 'Bearer <a token of the right shape>' gives a token (the scheme in any case)."""
    assert bearer_token(header) == found


@pytest.mark.parametrize(("name", "problem"), [
    ("BI nightly", None), ("", "give the token a name"), ("   ", "give the token a name"),
    ("x" * 61, "at most 60"), ("two\nlines", "plain text"),
])
def test_a_token_needs_a_short_one_line_name(name, problem):
    """The name says what uses the token: required, at most 60 characters, one line."""
    found = token_name_problem(name)
    assert (found is None) if problem is None else (problem in str(found))


def test_a_merchant_makes_a_token_for_itself_only_and_it_is_audited(desk):
    """A merchant's token is its own merchant's whatever the form says; the audit names the
    token by its first characters, never the whole text."""
    service, store, audit, _ = desk

    made = service.create(MCD, " BI ", "Zappos.com")

    assert made.token.merchant == "McDonald's"
    assert made.token.name == "BI"
    assert store.rows[made.token.id][1] == token_hash(made.text)
    detail = f"McDonald's: 'BI' ({made.token.shown}...)"
    assert audit.events == [("api token created", "mcd@example.com", detail)]
    assert made.text not in repr(audit.events)


def test_ops_must_name_a_merchant_with_a_campaign(desk):
    """Ops make a token for a merchant they choose; none, or an unknown one, is refused."""
    service, *_ = desk

    assert service.create(OPS, "BI", "Zappos.com").token.merchant == "Zappos.com"
    for merchant in (None, "", "Nobody Inc"):
        with pytest.raises(ApiTokenError, match="choose the merchant"):
            service.create(OPS, "BI", merchant)


def test_a_token_authenticates_as_its_merchant_until_revoked(desk):
    """authenticate gives the token's merchant as a merchant viewer; after revocation, None."""
    service, _store, audit, _ = desk
    made = service.create(ZAP, "warehouse")

    viewer = service.authenticate(f"Bearer {made.text}")
    assert viewer is not None
    assert (viewer.role, viewer.merchant) == (Role.MERCHANT, "Zappos.com")
    assert service.revoke(ZAP, made.token)
    assert not service.revoke(ZAP, made.token)  # once
    assert service.authenticate(f"Bearer {made.text}") is None
    assert [e[0] for e in audit.events] == ["api token created", "api token revoked"]


def test_unknown_or_malformed_tokens_do_not_authenticate(desk):
    """A token of the right shape that was never made, or a malformed header, gives None."""
    service, *_ = desk
    service.create(MCD, "BI")

    assert service.authenticate("Bearer obt_" + "Z" * 43) is None
    assert service.authenticate("Bearer nonsense") is None
    assert service.authenticate(None) is None


def test_a_merchant_cannot_revoke_another_merchants_token(desk):
    """Revoking Zappos's token as McDonald's is refused and leaves it working."""
    service, *_ = desk
    made = service.create(ZAP, "warehouse")

    with pytest.raises(ApiTokenError, match="no such token"):
        service.revoke(MCD, made.token)
    assert service.authenticate(f"Bearer {made.text}") is not None


def test_last_use_is_noted_at_most_every_five_minutes(desk):
    """Many calls in a row write the last use once; a call five minutes later writes it again."""
    service, store, _audit, clock = desk
    made = service.create(MCD, "BI")

    for _ in range(5):
        service.authenticate(f"Bearer {made.text}")
    clock.advance(minutes=5)
    service.authenticate(f"Bearer {made.text}")

    assert store.uses == 2
