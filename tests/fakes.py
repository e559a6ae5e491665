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
    """An in-memory X: posts in, replies and DMs recorded, failures injected on demand."""

    posts: list[Mention] = field(default_factory=list)
    page_size: int = 100
    replies: list[tuple[str, str, str]] = field(default_factory=list)  # (text, in_reply_to, id)
    reply_errors: list[Exception] = field(default_factory=list)
    dms: list[tuple[str, str, str]] = field(default_factory=list)  # (text, user id, event id)
    dm_errors: list[Exception] = field(default_factory=list)
    lookups: list[tuple[str, str]] = field(default_factory=list)  # find_direct_message calls
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

    def direct_message(self, user_id: str, text: str) -> str:
        if self.dm_errors:
            raise self.dm_errors.pop(0)
        if self.find_direct_message(user_id, text, record=False) is not None:
            raise DuplicateContent("fake: duplicate direct message")
        event_id = str(8 * 10**17 + len(self.dms) + 1)
        self.dms.append((text, user_id, event_id))
        return event_id

    def find_direct_message(self, user_id: str, text: str, *, record: bool = True) -> str | None:
        if record:
            self.lookups.append((user_id, text))
        return next((e for t, u, e in self.dms if (t, u) == (text, user_id)), None)


def mention(post_id: int | str, author: str, text: str, *, at: datetime | None = START,
            retweet: bool = False, handle: str | None = None, edit_of: int | str | None = None) -> Mention:
    """Build a mention whose hashtags are parsed from ``text`` (an edit of ``edit_of``, if given)."""
    from bot.domain.hashtags import hashtags_in_text, keys_and_forms

    keys, typed = keys_and_forms(hashtags_in_text(text))
    return Mention(str(post_id), author, text, keys, at, handle, retweet, typed,
                   None if edit_of is None else str(edit_of))


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
    from bot.domain.replies import cap_lists

    context: dict[str, Any] = {name: [] for name in ("enrolled", "already_enrolled", "sold_out",
                                                      "not_started", "opened_after_post", "ended",
                                                      "budget_spent", "retired", "suggestions", "unknown")}
    context.update(groups)
    context = cap_lists(context)
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


def sandbox_dms(project: Path) -> list[dict[str, Any]]:
    """The direct messages a bot in ``project`` has sent in the sandbox, oldest first."""
    path = project / "data" / "sandbox" / "dms.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form in a portal page."""
    import re

    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: Any, email: str, password: str) -> Any:
    """Sign ``client`` in through the sign-in form; return the response (the page it lands on)."""
    form = client.get("/signin")
    return client.post("/signin", data={"email": email, "password": password, "csrf": csrf_of(form.text),
                                        "next": "/"})


def dump_tables(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table, sorted: to prove a command wrote nothing at all."""
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        return {table.name: sorted((tuple(row) for row in conn.execute(table.select())), key=repr)
                for table in SQLModel.metadata.sorted_tables}
