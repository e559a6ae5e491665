"""Fakes for the ports, and builders for readable test data.

The in-memory repositories (members, campaigns, enrolments, posts, outbox, cursors) behave as
the SQL ones do: tests/contract runs the same tests against both, so they cannot drift. A
FakeUnitOfWork works on a copy of the store's state and keeps it only on commit, as a database
transaction does; it has no ledger (what needs one is an integration test).
"""

from __future__ import annotations

import copy
import csv
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine

from bot.domain.campaign_versions import CampaignRecord
from bot.domain.campaigns import Campaign
from bot.domain.cards import CardRef, KeyCheck
from bot.domain.enrolment import Enrolment
from bot.domain.members import CardIndex, CardLink, LinkEnd, LinkPeriod, Member, NewLink, link_period
from bot.domain.mentions import HandledPost, Mention, MentionPage
from bot.domain.money import to_cents
from bot.domain.replies import DM, Delivery, OutboxItem, OutboxRecord, ReplyIntent, ReplyStatus, ThreadReply
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


# --- in-memory repositories -------------------------------------------------------------------


class Conflict(Exception):
    """A write a database constraint would refuse (a unique key, a missing campaign)."""


def _utc(moment: datetime | None) -> datetime | None:
    """Return ``moment`` as the database gives it back: aware, in UTC."""
    return None if moment is None else moment.astimezone(UTC)


@dataclass
class MemberRow:
    user_id: str
    handle: str
    card_fingerprint: str | None = None
    card_last4: str | None = None
    linked_at: datetime | None = None
    unlinked_at: datetime | None = None
    key_id: str | None = None
    opted_out_at: datetime | None = None


@dataclass
class LinkRow:
    id: int
    member_id: str
    fingerprint: str
    last4: str
    key_id: str | None
    linked_at: datetime
    unlinked_at: datetime | None = None
    ended_by: str | None = None


@dataclass
class CampaignRow:
    id: str
    hashtag: str
    merchant: str
    max_enrolments: int | None
    budget_cents: int | None
    updated_at: datetime
    enrolled: int = 0
    spent_cents: int = 0
    definition: str | None = None
    source: str | None = None
    loaded_at: datetime | None = None


@dataclass
class PostRow:
    post_id: str
    interaction_id: str
    hashtags: str
    author_id: str
    created_at: datetime | None
    processed_at: datetime
    outcome: str


@dataclass
class OutboxRow:
    id: int
    dedupe_key: str
    member_id: str
    in_reply_to: str
    template: str
    context: str  # JSON, as the database keeps it
    channel: str
    thread: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    claimed_at: datetime | None = None
    claimed_by: str | None = None
    sent_post_id: str | None = None
    last_error: str | None = None
    sent_at: datetime | None = None


@dataclass
class FakeState:
    """Every table the fakes keep, as plain rows."""

    members: dict[str, MemberRow] = field(default_factory=dict)
    card_links: list[LinkRow] = field(default_factory=list)
    keys: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # key id -> (check value, first use)
    campaigns: dict[str, CampaignRow] = field(default_factory=dict)
    enrolments: dict[tuple[str, str], Enrolment] = field(default_factory=dict)  # in insertion order
    posts: dict[str, PostRow] = field(default_factory=dict)
    outbox: dict[int, OutboxRow] = field(default_factory=dict)
    cursors: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    next_id: int = 1  # ids of card links and outbox rows, as sequences give them


class FakeMembers:
    """MemberStore in memory."""

    def __init__(self, state: FakeState) -> None:
        self._s = state

    def get(self, user_id: str) -> Member | None:
        return self.get_many([user_id]).get(user_id)

    def get_many(self, user_ids: Iterable[str]) -> dict[str, Member]:
        found = {}
        for uid in dict.fromkeys(user_ids):
            row = self._s.members.get(uid)
            if row is not None:
                card = CardRef(row.card_fingerprint, row.card_last4 or "") if row.card_fingerprint else None
                found[uid] = Member(uid, row.handle, card, row.linked_at, row.opted_out_at, row.key_id)
        return found

    def card_owners(self, fingerprints: Sequence[str]) -> dict[str, str]:
        wanted = set(fingerprints)
        return {r.card_fingerprint: r.user_id for r in self._s.members.values()
                if r.card_fingerprint is not None and r.card_fingerprint in wanted}

    def link_many(self, links: Sequence[NewLink], now: datetime, *, key: KeyCheck | None = None) -> None:
        if not links:
            return
        key_id = None if key is None else key.key_id
        if key is not None:
            self.record_key(key, now)
        for link in links:
            owner = self.card_owners([link.card.fingerprint]).get(link.card.fingerprint)
            if owner is not None and owner != link.user_id:
                raise Conflict(f"card already linked to {owner}")
            self._s.members[link.user_id] = MemberRow(link.user_id, link.handle, link.card.fingerprint,
                                                      link.card.last4, _utc(now), None, key_id, None)
        self._end_links([link.user_id for link in links], now, LinkEnd.REPLACED)
        for link in links:
            self._s.card_links.append(LinkRow(self._s.next_id, link.user_id, link.card.fingerprint,
                                              link.card.last4, key_id, _utc(now)))
            self._s.next_id += 1

    def relink_in_place(self, links: Sequence[NewLink], now: datetime, *, key: KeyCheck) -> None:
        if not links:
            return
        self.record_key(key, now)
        for link in links:
            row = self._s.members.get(link.user_id)
            if row is not None:
                row.handle, row.card_fingerprint, row.card_last4, row.key_id = (
                    link.handle, link.card.fingerprint, link.card.last4, key.key_id)
            for current in self._s.card_links:
                if current.member_id == link.user_id and current.unlinked_at is None:
                    current.fingerprint, current.last4 = link.card.fingerprint, link.card.last4
                    current.key_id = key.key_id

    def unlink(self, user_id: str, now: datetime, *, ended_by: LinkEnd = LinkEnd.REMOVED) -> bool:
        row = self._s.members.get(user_id)
        if row is None or row.card_fingerprint is None:
            return False
        row.card_fingerprint = row.card_last4 = row.key_id = None
        row.unlinked_at = _utc(now)
        self._end_links([user_id], now, ended_by)
        return True

    def _end_links(self, user_ids: Sequence[str], now: datetime, ended_by: LinkEnd) -> None:
        ids = set(user_ids)
        for link in self._s.card_links:
            if link.member_id in ids and link.unlinked_at is None:
                link.unlinked_at, link.ended_by = _utc(now), ended_by.value

    def opt_out(self, user_id: str, handle: str | None, now: datetime) -> None:
        row = self._s.members.get(user_id)
        if row is None:
            self._s.members[user_id] = MemberRow(user_id, (handle or "")[:15], opted_out_at=_utc(now))
        elif row.opted_out_at is None:
            row.opted_out_at = _utc(now)

    def links_of(self, user_id: str) -> list[CardLink]:
        rows = sorted((r for r in self._s.card_links if r.member_id == user_id),
                      key=lambda r: (r.linked_at, r.id))
        return [CardLink(r.member_id, r.last4, r.linked_at, r.unlinked_at,
                         LinkEnd(r.ended_by) if r.ended_by else None, r.key_id) for r in rows]

    def fingerprint_index(self) -> dict[str, str]:
        return {r.card_fingerprint: uid for uid, r in self._s.members.items()
                if r.card_fingerprint is not None}

    def card_index(self, tz: tzinfo) -> CardIndex:
        current = self.fingerprint_index()
        history = self.card_history(tz)
        for fingerprint in history:
            current.pop(fingerprint, None)
        return CardIndex(current, history)

    def card_history(self, tz: tzinfo) -> dict[str, tuple[LinkPeriod, ...]]:
        ended = {r.fingerprint for r in self._s.card_links if r.unlinked_at is not None}
        found: dict[str, list[LinkPeriod]] = defaultdict(list)
        for r in sorted((r for r in self._s.card_links if r.fingerprint in ended),
                        key=lambda r: (r.fingerprint, -r.linked_at.timestamp(), -r.id)):
            found[r.fingerprint].append(link_period(r.member_id, r.linked_at, r.unlinked_at, tz))
        return {fingerprint: tuple(periods) for fingerprint, periods in found.items()}

    def key_use(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = defaultdict(int)
        for r in self._s.members.values():
            if r.card_fingerprint is not None:
                counts[r.key_id] += 1
        return dict(counts)

    def key_checks(self) -> dict[str, str]:
        return {key_id: check for key_id, (check, _) in self._s.keys.items()}

    def record_key(self, key: KeyCheck, now: datetime) -> None:
        self._s.keys.setdefault(key.key_id, (key.check_value, _utc(now)))

    def adopt_key(self, key: KeyCheck, now: datetime) -> int:
        self.record_key(key, now)
        adopted = 0
        for r in self._s.members.values():
            if r.key_id is None and r.card_fingerprint is not None:
                r.key_id, adopted = key.key_id, adopted + 1
        for link in self._s.card_links:
            if link.key_id is None:
                link.key_id = key.key_id
        return adopted

    def unkeyed_links(self) -> int:
        return sum(1 for link in self._s.card_links if link.key_id is None)


class FakeCampaigns:
    """CampaignStore in memory."""

    def __init__(self, state: FakeState) -> None:
        self._s = state

    def sync(self, campaigns: Iterable[Campaign], now: datetime) -> None:
        for c in campaigns:
            self._upsert(c, now)

    def install(self, versions: Iterable[tuple[Campaign, str]], now: datetime) -> None:
        for c, source in versions:
            row = self._upsert(c, now)
            row.source, row.loaded_at = source, _utc(now)
            row.definition = json.dumps(c.definition(), sort_keys=True, separators=(",", ":"))

    def ensure(self, campaigns: Iterable[Campaign], now: datetime) -> None:
        for c in campaigns:
            if c.id not in self._s.campaigns:
                self._upsert(c, now)

    def forget(self, campaign_ids: Sequence[str]) -> None:
        for cid in campaign_ids:
            row = self._s.campaigns.get(cid)
            if row is not None:
                row.definition = row.source = row.loaded_at = None

    def _upsert(self, c: Campaign, now: datetime) -> CampaignRow:
        budget = None if c.budget is None else to_cents(c.budget)
        row = self._s.campaigns.get(c.id)
        if row is None:
            row = self._s.campaigns[c.id] = CampaignRow(c.id, c.hashtag, c.merchant, c.max_enrolments, budget,
                                                        _utc(now))
        else:
            row.hashtag, row.merchant, row.max_enrolments, row.budget_cents = (c.hashtag, c.merchant,
                                                                               c.max_enrolments, budget)
            row.updated_at = _utc(now)
        return row

    def records(self) -> list[CampaignRecord]:
        return [CampaignRecord(r.id, r.hashtag, r.source, _json_object(r.definition), r.loaded_at, r.enrolled,
                               r.spent_cents) for _, r in sorted(self._s.campaigns.items())]

    def enrolment_counts(self, *, limited_only: bool = False) -> dict[str, int]:
        return {cid: r.enrolled for cid, r in self._s.campaigns.items()
                if not limited_only or r.max_enrolments is not None}

    def spent_cents(self) -> dict[str, int]:
        return {cid: r.spent_cents for cid, r in self._s.campaigns.items() if r.budget_cents is not None}

    def spent_totals(self) -> dict[str, int]:
        return {cid: r.spent_cents for cid, r in self._s.campaigns.items()}

    def reserve(self, campaign_id: str) -> bool:
        row = self._s.campaigns.get(campaign_id)
        if row is None or (row.max_enrolments is not None and row.enrolled >= row.max_enrolments):
            return False
        row.enrolled += 1
        return True

    def reserve_many(self, wanted: Mapping[str, int]) -> dict[str, int]:
        granted = {}
        for cid, n in sorted(wanted.items()):
            if n > 0:
                granted[cid] = 0
                while granted[cid] < n and self.reserve(cid):
                    granted[cid] += 1
        return granted

    def add_enrolled(self, counts: Mapping[str, int]) -> None:
        for cid, n in counts.items():
            if cid in self._s.campaigns:
                self._s.campaigns[cid].enrolled += n

    def add_spent(self, deltas: Mapping[str, int]) -> list[str]:
        refused = []
        for cid, delta in deltas.items():
            if not delta:
                continue
            row = self._s.campaigns.get(cid)
            if row is None or not (row.budget_cents is None or delta <= 0
                                   or row.spent_cents + delta <= row.budget_cents):
                refused.append(cid)
                continue
            row.spent_cents += delta
        return refused


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


class FakeEnrolments:
    """EnrolmentStore in memory."""

    def __init__(self, state: FakeState) -> None:
        self._s = state

    def campaigns_of(self, member_ids: Iterable[str]) -> dict[str, set[str]]:
        wanted = set(member_ids)
        found: dict[str, set[str]] = defaultdict(set)
        for member, campaign_id in self._s.enrolments:
            if member in wanted:
                found[member].add(campaign_id)
        return found

    def add_many(self, enrolments: Sequence[Enrolment]) -> None:
        for e in enrolments:
            if e.campaign_id not in self._s.campaigns:
                raise Conflict(f"no campaign {e.campaign_id}")
            if (e.member_id, e.campaign_id) in self._s.enrolments:
                raise Conflict(f"{e.member_id} is enrolled in {e.campaign_id} already")
            self._s.enrolments[e.member_id, e.campaign_id] = Enrolment(e.member_id, e.campaign_id, e.post_id,
                                                                       _utc(e.enrolled_at))

    def days_by_key(self, tz: tzinfo) -> dict[str, date]:
        return {f"{m}\t{c}": e.enrolled_at.astimezone(tz).date() for (m, c), e in self._s.enrolments.items()}

    def posts_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        return {key: self._s.enrolments[key].post_id for key in set(keys) if key in self._s.enrolments}

    def get(self, member_id: str, campaign_id: str) -> Enrolment | None:
        return self._s.enrolments.get((member_id, campaign_id))


class FakePosts:
    """PostStore in memory."""

    def __init__(self, state: FakeState) -> None:
        self._s = state

    def seen(self, post_ids: Sequence[str]) -> set[str]:
        return {p for p in post_ids if p in self._s.posts}

    def versions(self, interaction_ids: Sequence[str]) -> dict[str, dict[str, tuple[str, ...]]]:
        wanted = set(interaction_ids)
        found: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
        for row in self._s.posts.values():
            if row.interaction_id in wanted:
                found[row.interaction_id][row.post_id] = tuple(row.hashtags.split())
        return found

    def add_many(self, posts: Sequence[HandledPost]) -> None:
        for p in posts:
            if p.post_id in self._s.posts:
                raise Conflict(f"post {p.post_id} was handled already")
            self._s.posts[p.post_id] = PostRow(p.post_id, p.interaction_id or p.post_id, p.hashtags[:500],
                                               p.author_id, _utc(p.created_at), _utc(p.processed_at),
                                               p.outcome)


class FakeOutbox:
    """OutboxStore in memory."""

    def __init__(self, state: FakeState) -> None:
        self._s = state

    def add_many(self, intents: Sequence[ReplyIntent], now: datetime) -> None:
        keys = {r.dedupe_key for r in self._s.outbox.values()}
        for i in intents:
            if i.dedupe_key in keys:
                continue
            keys.add(i.dedupe_key)
            self._s.outbox[self._s.next_id] = OutboxRow(
                self._s.next_id, i.dedupe_key, i.member_id, i.in_reply_to, i.template,
                json.dumps(i.context, separators=(",", ":")), i.channel, i.thread, ReplyStatus.PENDING.value,
                0, _utc(now), _utc(now))
            self._s.next_id += 1

    def claim(self, now: datetime, limit: int, lease: timedelta, me: str,
              gone: Callable[[str], bool]) -> list[OutboxItem]:
        rows = self._s.outbox.values()
        senders = {r.claimed_by for r in rows if r.status == ReplyStatus.SENDING}
        dead = {s for s in senders if s and s != me and gone(s)}

        def due(r: OutboxRow) -> bool:
            if r.status == ReplyStatus.PENDING:
                return r.next_attempt_at <= now
            return r.status == ReplyStatus.SENDING and (
                (r.claimed_at is not None and r.claimed_at < now - lease) or r.claimed_by in dead)

        claimed = sorted((r for r in rows if due(r)), key=lambda r: r.id)[:limit]
        for r in claimed:
            r.status, r.claimed_at, r.claimed_by = ReplyStatus.SENDING.value, _utc(now), me
            r.attempts += 1
        return [OutboxItem(r.id, r.dedupe_key, r.member_id, r.in_reply_to, r.template, json.loads(r.context),
                           r.attempts, r.thread, r.channel) for r in claimed]

    def record(self, item_id: int, delivery: Delivery, now: datetime) -> None:
        row = self._s.outbox.get(item_id)
        if row is None:
            return
        row.status = str(delivery.status)
        row.last_error = (delivery.note or None) and delivery.note[:500]
        if delivery.status == ReplyStatus.SENT:
            row.sent_post_id, row.sent_at = delivery.post_id, _utc(now)
        elif delivery.status == ReplyStatus.PENDING:
            row.next_attempt_at = _utc(delivery.retry_at or now)
            row.claimed_at = row.claimed_by = None

    def cancel_for_member(self, member_id: str, reason: str) -> int:
        cancelled = 0
        for r in self._s.outbox.values():
            if r.member_id == member_id and r.status == ReplyStatus.PENDING:
                r.status, r.last_error, cancelled = ReplyStatus.CANCELLED.value, reason, cancelled + 1
        return cancelled

    def earlier_in_thread(self, thread: str, item_id: int) -> list[ThreadReply]:
        rows = sorted(self._s.outbox.values(), key=lambda r: -r.id)
        return [ThreadReply(ReplyStatus(r.status), r.sent_post_id) for r in rows
                if r.thread == thread and r.id < item_id]

    def earlier_dm_unsent(self, member_id: str, item_id: int) -> bool:
        unsent = (ReplyStatus.PENDING, ReplyStatus.SENDING)
        return any(r.member_id == member_id and r.channel == DM and r.id < item_id and r.status in unsent
                   for r in self._s.outbox.values())

    def listing(self, statuses: Sequence[str], limit: int) -> list[OutboxRecord]:
        wanted = {str(s) for s in statuses}
        rows = sorted((r for r in self._s.outbox.values() if r.status in wanted), key=lambda r: -r.id)
        return [_outbox_record(r) for r in rows[:limit]]

    def get(self, item_id: int) -> OutboxRecord | None:
        row = self._s.outbox.get(item_id)
        return None if row is None else _outbox_record(row)

    def requeue(self, item_id: int, now: datetime, *, attempts: int, note: str) -> bool:
        row = self._s.outbox.get(item_id)
        if row is None or row.status not in (ReplyStatus.FAILED, ReplyStatus.UNDELIVERABLE):
            return False
        row.status, row.next_attempt_at = ReplyStatus.PENDING.value, _utc(now)
        row.claimed_at = row.claimed_by = None
        row.attempts, row.last_error = attempts, note[:500]
        return True

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = defaultdict(int)
        for r in self._s.outbox.values():
            found[r.status] += 1
        return dict(found)


def _outbox_record(r: OutboxRow) -> OutboxRecord:
    return OutboxRecord(r.id, r.dedupe_key, r.channel, r.member_id, r.template, ReplyStatus(r.status),
                        r.attempts, r.created_at, r.claimed_at, r.next_attempt_at, r.sent_at, r.last_error)


class FakeCursors:
    """CursorStore in memory."""

    def __init__(self, state: FakeState) -> None:
        self._s = state

    def get(self, name: str) -> str | None:
        found = self._s.cursors.get(name)
        return None if found is None else found[0]

    def set(self, name: str, value: str, now: datetime) -> None:
        self._s.cursors[name] = (value, _utc(now))


class FakeUnitOfWork:
    """A UnitOfWork over a FakeStore: works on a copy of its state, kept only on commit."""

    def __init__(self, store: FakeStore, *, readonly: bool = False) -> None:
        self._store, self._readonly = store, readonly
        self._state: FakeState | None = None

    def __enter__(self) -> Self:
        self._state = state = copy.deepcopy(self._store.state)
        self.members, self.campaigns = FakeMembers(state), FakeCampaigns(state)
        self.enrolments, self.posts = FakeEnrolments(state), FakePosts(state)
        self.outbox, self.cursors = FakeOutbox(state), FakeCursors(state)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._state = None  # what was not committed is gone

    @property
    def ledger(self) -> Any:
        raise AssertionError("the fake unit of work has no ledger: a test that needs one belongs in "
                             "tests/integration")

    def commit(self) -> None:
        assert self._state is not None, "commit outside the transaction"
        self._store.state = self._state
        self._state = copy.deepcopy(self._state)  # later writes in this block need another commit

    def sending_ahead(self) -> AbstractContextManager[object]:
        return nullcontext()  # in memory: every write is done when it returns


class FakeStore:
    """The fakes' database: a UnitOfWorkFactory, and the state tests read their results from."""

    def __init__(self) -> None:
        self.state = FakeState()

    def __call__(self, *, readonly: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, readonly=readonly)

    def scratch(self, now: datetime, *, over_ledger: bool = True) -> Any:
        raise AssertionError("a dry run needs the SQL ledger: a test of one belongs in tests/integration")

    def outbox_rows(self) -> list[OutboxRow]:
        """Return the outbox in the order queued."""
        return sorted(self.state.outbox.values(), key=lambda r: r.id)
