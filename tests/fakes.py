"""Fakes for the ports, and builders for readable test data."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bot.domain.campaigns import Campaign
from bot.domain.hashtags import unique_keys
from bot.domain.mentions import Mention, MentionPage
from bot.errors import DuplicateContent

BOT_ID = "1850000000000000000"
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# Published test card numbers (Luhn-valid, never issued to anyone).
ALICE_CARD = "378282246310005"
BOB_CARD = "371449635398431"
CAROL_CARD = "378734493671000"
REF = "ABC234"  # the reference code of a reply_context() unless another is given


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move time forward by a timedelta's keyword arguments."""
        self.now += timedelta(**delta)
        return self.now


@dataclass
class FakeSocialApi:
    """An in-memory X: posts in, replies recorded, failures injected on demand."""

    posts: list[Mention] = field(default_factory=list)
    page_size: int = 100
    replies: list[tuple[str, str, str]] = field(default_factory=list)  # (text, in_reply_to, id)
    reply_errors: list[Exception] = field(default_factory=list)
    mention_errors: list[Exception] = field(default_factory=list)
    since_ids: list[str | None] = field(default_factory=list)

    def describe(self) -> str:
        return "fake social api"

    def post(self, *mentions: Mention) -> None:
        """Make mentions visible to the next poll."""
        self.posts.extend(mentions)

    def mentions_since(self, since_id: str | None) -> list[MentionPage]:
        self.since_ids.append(since_id)
        if self.mention_errors:
            raise self.mention_errors.pop(0)
        after = int(since_id) if since_id else -1
        newest_first = sorted((m for m in self.posts if int(m.post_id) > after),
                              key=lambda m: int(m.post_id), reverse=True)
        pages = []
        for start in range(0, len(newest_first), self.page_size):
            chunk = tuple(newest_first[start:start + self.page_size])
            pages.append(MentionPage(chunk, chunk[0].post_id))
        return pages

    def reply(self, text: str, in_reply_to: str) -> str:
        if self.reply_errors:
            raise self.reply_errors.pop(0)
        if any(t == text for t, _, _ in self.replies):
            raise DuplicateContent("fake: duplicate content")
        post_id = str(9 * 10**17 + len(self.replies) + 1)
        self.replies.append((text, in_reply_to, post_id))
        return post_id


def mention(post_id: int | str, author: str, text: str, *, at: datetime | None = START,
            retweet: bool = False, handle: str | None = None) -> Mention:
    """Build a mention whose hashtags are parsed from ``text``."""
    from bot.domain.hashtags import hashtags_in_text

    return Mention(str(post_id), author, text, unique_keys(hashtags_in_text(text)), at, handle, retweet)


def campaign(**overrides: Any) -> Campaign:
    """Build a live campaign (McDonald's, $5 back) with any field overridden."""
    values: dict[str, Any] = {
        "id": "amex-mcdonalds", "merchant": "McDonald's", "hashtag": "#AmexMcDonalds",
        "merchant_ids": ("MID-MCD-0001",), "enrol_from": date(2026, 11, 1),
        "enrol_until": date(2026, 12, 31), "redeem_by": date(2027, 1, 31), "currency": "USD",
        "min_spend": Decimal("5.00"), "credit": Decimal("5.00"), "tz": UTC,
    }
    values.update(overrides)
    return Campaign(**values)


def reply_context(ref: str = REF, **groups: list[dict[str, str]]) -> dict[str, Any]:
    """Return a reply.j2 context with the given groups filled and the rest empty."""
    context: dict[str, Any] = {name: [] for name in ("enrolled", "already_enrolled", "sold_out",
                                                      "not_started", "ended", "suggestions")}
    context.update(groups)
    context["ref"] = ref
    return context


def tx_row(tid: str, card: str = ALICE_CARD, mid: str = "MID-MCD-0001", amount: str = "12.50", *,
           name: str = "Shop", currency: str = "USD", day: str = "2026-11-21", kind: str = "purchase",
           original: str = "") -> str:
    """One transaction file data row in the standard column order (values go in as written: quote
    them yourself); by default Alice's $12.50 at McDonald's on Nov 21."""
    return f"{tid},{card},{mid},{name},{amount},{currency},{day},{kind},{original}"


def exported(path: str) -> list[dict[str, str]]:
    """Read an export CSV as one dict per line."""
    with Path(path).open(newline="", encoding="utf-8") as lines:
        return list(csv.DictReader(lines))


def credits_in_db(engine: Engine) -> list[tuple[Any, ...]]:
    """Return the ledger's credits as (transaction id, campaign id, kind, cents), in issue order."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT transaction_id, campaign_id, kind, cents FROM credits ORDER BY seq").all()]


def card_number(n: int) -> str:
    """Return the n-th generated 15-digit test card number (Luhn-valid, 37 prefix)."""
    from bot.domain.cards import luhn_ok

    prefix = f"37{n:012d}"
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a bot started as a subprocess: no developer secrets; the test
    database when the suite runs on PostgreSQL."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "OFFERBOT_"))}
    if os.environ.get("OFFERBOT_TEST_DATABASE_URL"):
        env["OFFERBOT_DATABASE_URL"] = os.environ["OFFERBOT_TEST_DATABASE_URL"]
    return env | extra


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Return whether ``predicate`` came true within ``timeout`` seconds, asking every 50 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)  # watching real processes; no test logic depends on the timing
    return False


def sandbox_replies(project: Path) -> list[dict[str, Any]]:
    """The replies a bot in ``project`` has sent to the sandbox X, oldest first (none before the first)."""
    path = project / "data" / "sandbox" / "replies.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def dump_tables(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table, sorted: to prove a command wrote nothing at all."""
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        return {table.name: sorted((tuple(row) for row in conn.execute(table.select())), key=repr)
                for table in SQLModel.metadata.sorted_tables}
