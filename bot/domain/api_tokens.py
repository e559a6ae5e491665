"""The JSON API's per-merchant tokens: their text, what is kept of them, and the Bearer header.

A token is 32 random bytes, shown to its creator once as ``obt_`` and URL-safe base64. Only a
SHA-256 of the text is kept: the bytes are random, so a fast hash is as good as a slow one
(nobody can guess their way to a 256-bit preimage), and it lets a request find its token by an
index. A few characters after the prefix are kept in clear, to tell tokens apart on the page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

PREFIX = "obt_"
TOKEN_BYTES = 32
SHOWN_CHARS = 6  # of the random part, kept in clear to tell tokens apart
NAME_MAX = 60
_TOKEN_RE = re.compile(r"obt_[A-Za-z0-9_-]{43}")
_BEARER_RE = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +(\S+) *")


@dataclass(frozen=True)
class ApiToken:
    """A token as kept: whose it is, its name, how it starts, and who made and revoked it."""

    id: int
    merchant: str
    name: str
    shown: str  # "obt_" and the first SHOWN_CHARS random characters
    created_by: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        """Return True until the token is revoked."""
        return self.revoked_at is None


def token_text(random_bytes: bytes) -> str:
    """Return the token shown to its creator, from TOKEN_BYTES random bytes."""
    if len(random_bytes) != TOKEN_BYTES:
        raise ValueError(f"a token needs {TOKEN_BYTES} random bytes, not {len(random_bytes)}")
    return PREFIX + base64.urlsafe_b64encode(random_bytes).decode().rstrip("=")


def token_hash(text: str) -> str:
    """Return what is kept of a token: the SHA-256 of its text, in hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def shown_part(text: str) -> str:
    """Return the start of a token kept in clear (the prefix and a few characters)."""
    return text[:len(PREFIX) + SHOWN_CHARS]


def hashes_match(kept: str, given: str) -> bool:
    """Compare two token hashes in constant time."""
    return hmac.compare_digest(kept.encode(), given.encode())


def bearer_token(header: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header, or None when there is no
    well-formed one (another scheme, a token of the wrong shape)."""
    if not header:
        return None
    match = _BEARER_RE.fullmatch(header.strip())
    if match is None or not _TOKEN_RE.fullmatch(match.group(1)):
        return None
    return match.group(1)


def token_name_problem(name: str) -> str | None:
    """Return why a token's name is not allowed, or None."""
    text = name.strip()
    if not text:
        return "give the token a name that says where it is used, such as 'BI nightly import'"
    if len(text) > NAME_MAX:
        return f"the token's name must have at most {NAME_MAX} characters"
    if any(not ch.isprintable() for ch in text):
        return "the token's name must be plain text on one line"
    return None
