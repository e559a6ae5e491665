"""A Hypothesis state machine over the bot's promises: link, unlink, mention, poll, send, reconcile, crash.

Each run builds its own bot on in-memory SQLite (even when the suite runs on PostgreSQL: the
machine clones the database with SQLite's backup API to get a crash-free twin) and drives it
with random steps. A small model keeps who is linked, which posts were handled, who is enrolled
where and which posts deserve a reply; invariants compare it with the database after every step
and check the ledger's money rules straight from the tables.

A crash is a ``Crash`` (a BaseException, as kill -9 would be for what was committed) raised at
the n-th commit of a poll, a reconciliation, a send or the notice relay, just before or just after
that commit. The bot then "restarts" (new catalog, locks and reconcile dependencies; same
database and same X) and the work is either rerun at once, and compared with the same work done
without a crash on a copy of the database taken before, or left for later steps to finish.
"""

from __future__ import annotations

import gc
import hashlib
import json
import shutil
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, text

from bot.adapters.locks import locks_for
from bot.adapters.sql.engine import create_schema, make_engine
from bot.adapters.sql.unit_of_work import SqlUnitOfWork, unit_of_work_factory
from bot.adapters.templates import TemplateRenderer
from bot.domain.cards import Fingerprinter
from bot.domain.mentions import Mention, MentionPage
from bot.domain.reconcile_summary import Summary
from bot.errors import MemberError, TransientApiError
from bot.ports import UnitOfWorkFactory
from bot.services.campaigns import Catalog
from bot.services.intake import poll_mentions
from bot.services.members import link_member, unlink_member
from bot.services.notices import queue_credit_notices
from bot.services.reconciliation import ReconcileDeps, reconcile_file
from bot.services.replies import send_replies
from tests.conftest import HEADER, REPO
from tests.fakes import BOT_ID, FakeSocialApi, FixedClock, campaign, card_number, exported, mention, tx_row

# Four members with fixed ids, handles and test cards; one card nobody ever links.
MEMBERS = {"2001": ("ann", card_number(201)), "2002": ("ben", card_number(202)),
           "2003": ("cat", card_number(203)), "2004": ("dan", card_number(204))}
OUTSIDER_CARD = card_number(299)

FIXED = campaign(id="st-fixed", merchant="Fixed Diner", hashtag="#StFixed",
                 merchant_ids=("MID-FIX-1", "MID-SHARED"), min_spend=Decimal("5.00"),
                 credit=Decimal("5.00"), per_member=1)
LIMITED = campaign(id="st-limited", merchant="Few Shoes", hashtag="#StLimited", merchant_ids=("MID-LIM-1",),
                   min_spend=Decimal("10.00"), credit=Decimal("3.00"), max_enrolments=2, per_member=2)
PERCENT = campaign(id="st-percent", merchant="Pct Mart", hashtag="#StPercent",
                   merchant_ids=("MID-PCT-1", "MID-SHARED"), min_spend=Decimal("0"), credit=None,
                   percent=Decimal("10"), max_credit=Decimal("5.00"), budget=Decimal("12.00"), per_member=1)
CAMPAIGNS = (FIXED, LIMITED, PERCENT)
BY_ID = {c.id: c for c in CAMPAIGNS}
BY_TAG = {c.hashtag: c for c in CAMPAIGNS}
TYPO = "#StFixd"  # close enough to #StFixed for a suggestion; "#fridayvibes" gets "no offer called"
HASHTAGS = [c.hashtag for c in CAMPAIGNS] + [TYPO, "#fridayvibes"]
TAGS = st.lists(st.sampled_from(HASHTAGS), min_size=1, max_size=3, unique=True)

MIDS = ["MID-FIX-1", "MID-LIM-1", "MID-PCT-1", "MID-SHARED", "MID-ELSEWHERE"]
AMOUNTS = ["12.50", "30.00", "5.00", "75.00", "10.00", "4.99", "0.04"]  # qualifying first: drawn more
DAYS = ["2026-11-23", "2026-11-24", "2026-11-24", "2026-11-22", "2027-02-01"]  # enrolments are on Nov 23
PAGE_SIZE, BATCH_POSTS, BATCH_ROWS = 3, 2, 4  # small: every poll and file spans several commits

SNAPSHOT = {
    "members": "SELECT user_id, card_fingerprint, card_last4, unlinked_at FROM members ORDER BY user_id",
    "campaigns": "SELECT id, enrolled, spent_cents FROM campaigns ORDER BY id",
    "enrolments": "SELECT member_id, campaign_id, post_id, enrolled_at FROM enrolments "
                  "ORDER BY member_id, campaign_id",
    "posts": "SELECT post_id, author_id, created_at, processed_at, outcome FROM posts ORDER BY post_id",
    "outbox": "SELECT dedupe_key, member_id, in_reply_to, template, context, status FROM outbox "
              "ORDER BY dedupe_key",
    "cursor": "SELECT value FROM cursors WHERE name = 'mentions'",
    "credits": "SELECT credit_id, transaction_id, campaign_id, member_id, kind, cents, basis_cents, day, "
               "reverses, refunded_cents, reversed_cents, file_id FROM credits ORDER BY seq",
    "transactions": "SELECT transaction_id, file_id, line, member_id, merchant_id, cents, day, kind, "
                    "original_id, outcomes FROM card_transactions ORDER BY transaction_id",
    "rejects": 'SELECT file_id, line, "column", reason FROM rejects ORDER BY file_id, line',
    "files": "SELECT id, sha256, status, rows_done, counters, notices_after, notices_done "
             "FROM transaction_files ORDER BY id",
    # The dashboard's kept purchases: a crashed and resumed run keeps each as its clean twin does.
    "kept": "SELECT transaction_id, member_id, merchant_id, day, cents, currency, refund_of, file_id "
            "FROM merchant_purchases ORDER BY transaction_id",
}


class Crash(BaseException):
    """The process dies here: like KeyboardInterrupt, no ``except Exception`` catches it."""


class CrashPlan:
    """Makes the n-th commit from now die, just before it or just after it."""

    def __init__(self) -> None:
        self.countdown: int | None = None
        self.after = False
        self.fired = False

    def arm(self, at: int, *, after: bool) -> None:
        """Crash at the ``at``-th commit from now."""
        self.countdown, self.after, self.fired = at, after, False

    def disarm(self) -> None:
        """Let every commit through again."""
        self.countdown = None

    def commit(self, do_commit: Callable[[], None]) -> None:
        """Commit, or die before or after committing if this is the planned commit."""
        if self.countdown is None:
            do_commit()
            return
        self.countdown -= 1
        if self.countdown > 0:
            do_commit()
            return
        self.countdown, self.fired = None, True
        if self.after:
            do_commit()
        raise Crash


class CrashingUnitOfWork(SqlUnitOfWork):
    """The real unit of work, whose commit may be the one the process dies at."""

    def __init__(self, engine: Engine, plan: CrashPlan, *, readonly: bool = False) -> None:
        super().__init__(engine, readonly=readonly)
        self._plan = plan

    def commit(self) -> None:
        """Commit unless the plan says the process dies here."""
        self._plan.commit(super().commit)


@dataclass
class ReplayingApi(FakeSocialApi):
    """The fake X, which can also serve every post again, whatever since_id says."""

    replay_next: bool = False

    def mentions_since(self, since_id: str | None) -> list[MentionPage]:
        if self.replay_next:
            self.replay_next, since_id = False, None
        return super().mentions_since(since_id)


@dataclass
class Model:
    """What the bot should know, kept the simple way."""

    linked: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=set)  # sent STOP, not linked again with consent since
    links: dict[str, list[tuple[date, date | None]]] = field(default_factory=dict)  # member -> link days
    seen: set[str] = field(default_factory=set)  # handled post ids
    enrolled: dict[tuple[str, str], str] = field(default_factory=dict)  # (member, campaign) -> post id
    replies: set[str] = field(default_factory=set)  # post ids that must have a confirmation queued
    voided: set[str] = field(default_factory=set)  # ... that may lack one: a STOP followed them
    stops: set[str] = field(default_factory=set)  # STOP posts of linked members: one confirmation each
    authors: dict[str, str] = field(default_factory=dict)  # member post id -> author
    interactions: dict[str, str] = field(default_factory=dict)  # member post id -> its original's id
    handled: set[str] = field(default_factory=set)  # interactions with a version handled
    edits: set[str] = field(default_factory=set)  # edits of handled interactions: may get the one edit reply
    stopped: set[str] = field(default_factory=set)  # interactions whose STOP confirmation is queued

    def handle(self, m: Mention) -> None:
        """Handle one fresh post as the bot should: enrol, unlink on STOP, expect a reply."""
        self.seen.add(m.post_id)
        author, interaction = m.author_id, m.interaction
        edit = interaction in self.handled
        self.handled.add(interaction)
        if m.text.endswith("STOP"):
            self.opted_out.add(author)
            if author in self.linked:
                if interaction not in self.stopped:
                    self.stops.add(m.post_id)
                    self.stopped.add(interaction)
                assert m.created_at is not None
                self.unlinked(author, m.created_at.date())
                mine = {p for p in self.replies | self.edits if self.authors[p] == author}
                self.replies -= mine
                self.voided |= mine
            return
        if author not in self.linked or not m.hashtags:
            return
        if edit:  # one further reply at most, and only when the edit brought news
            self.edits.add(m.post_id)
        else:  # every hashtag draws a reply: an offer, a suggestion, or "no offer called #fridayvibes"
            self.replies.add(m.post_id)
        for key in m.hashtags:  # in the order written
            found = [c for c in CAMPAIGNS if c.key == key]
            if not found or (author, found[0].id) in self.enrolled:
                continue
            c = found[0]
            if c.max_enrolments is not None and self.count(c.id) >= c.max_enrolments:
                continue
            self.enrolled[(author, c.id)] = m.post_id

    def linked_on(self, member: str, day: date) -> None:
        """Record a new link of the member's card."""
        self.linked.add(member)
        self.links.setdefault(member, []).append((day, None))

    def unlinked(self, member: str, day: date) -> None:
        """Record the end of the member's current link."""
        self.linked.discard(member)
        first, _ = self.links[member].pop()
        self.links[member].append((first, day))

    def card_was_linked(self, member: str, day: date, *, refund: bool) -> bool:
        """Whether a transaction of the member's card on ``day`` may reach them (reconciliation's rule:
        a card with one link never ended matches whatever the date; else the link covering the date,
        or for a refund any link begun by then)."""
        links = self.links.get(member, [])
        if len(links) == 1 and links[0][1] is None:
            return True
        return any(first <= day and (last is None or day <= last) for first, last in links) or (
            refund and any(first <= day for first, _ in links))

    def count(self, campaign_id: str) -> int:
        """Return the enrolments in a campaign."""
        return sum(1 for (_, c) in self.enrolled if c == campaign_id)


@dataclass
class FileInfo:
    """A transaction file given to the bot."""

    name: str
    content: str
    finished: bool = False

    @property
    def sha256(self) -> str:
        """Return the SHA-256 the ledger knows the file by."""
        return hashlib.sha256(self.content.encode()).hexdigest()


def expected_credit(c: Any, basis_cents: int) -> int:
    """Return what a qualifying purchase earns: fixed, or 10% rounded half up and capped."""
    if c.credit is not None:
        return int(c.credit * 100)
    return min((basis_cents * int(c.percent) * 2 + 100) // 200, int(c.max_credit * 100))


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Return every table that matters, as rows (counters without their export paths)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, sql in SNAPSHOT.items():
            found[name] = [tuple(r) for r in conn.execute(text(sql)).all()]
    found["files"] = [(*r[:4], _counters(r[4]), *r[5:]) for r in found["files"]]
    return found


def _counters(raw: str) -> str:
    data = json.loads(raw)
    data.pop("exports", None)  # where the exports went differs between a run and its twin
    return json.dumps(data, sort_keys=True)


def counts(summary: Summary) -> dict[str, Any]:
    """Return what a summary counted (not its status, not where its exports went)."""
    return {k: v for k, v in summary.to_dict().items() if k not in ("status", "exports")}


def clone_database(engine: Engine) -> Engine:
    """Copy the in-memory database into a new one (SQLite's online backup)."""
    copy = make_engine("sqlite://")
    source, target = engine.raw_connection(), copy.raw_connection()
    try:
        source.driver_connection.backup(target.driver_connection)
    finally:
        target.close()
        source.close()
    return copy


class BotMachine(RuleBasedStateMachine):
    """The whole bot under random steps, crashes included, against a small model."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="offerbot-stateful-"))
        self.engine = make_engine("sqlite://")
        create_schema(self.engine)
        self.plan = CrashPlan()
        self.clock = FixedClock()
        self.fingerprinter = Fingerprinter(b"stateful-key-" + b"s" * 32)
        self.api = ReplayingApi(page_size=PAGE_SIZE)
        self.model = Model()
        self.files: list[FileInfo] = []
        self.lines: list[str] = []  # every data row written so far, to repeat some
        self.purchases: list[tuple[str, str, str, str]] = []  # (tid, card, mid, amount)
        self.owner: dict[str, str | None] = {}  # transaction id -> member whose card it is
        self.next_post, self.next_tid, self.uploads = 10_000, 1, 0
        self.replies_checked, self.dms_checked, self.restarts = 0, 0, 0
        self.clones: list[Engine] = []
        with self.uow() as tx:
            tx.campaigns.sync(CAMPAIGNS, self.clock())
            tx.commit()
        self.restart()

    def uow(self, *, readonly: bool = False) -> SqlUnitOfWork:
        return CrashingUnitOfWork(self.engine, self.plan, readonly=readonly)

    def restart(self) -> None:
        """Start the bot again: nothing kept in memory survives, the database and X do."""
        self.restarts += 1
        self.instance = f"stateful:{self.restarts}"
        self.catalog = Catalog(CAMPAIGNS)
        self.renderer = TemplateRenderer(REPO / "templates")
        self.deps = ReconcileDeps(self.uow, self.fingerprinter, self.clock, self.tmp / "exports", UTC,
                                  locks_for(self.engine, self.instance, self.clock, timedelta(minutes=5)),
                                  batch_rows=BATCH_ROWS)

    def teardown(self) -> None:
        for engine in (self.engine, *self.clones):
            engine.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(query), params).all())

    # Members -------------------------------------------------------------------------------

    @initialize(unlinked=st.sets(st.sampled_from(sorted(MEMBERS)), max_size=2),
                silent=st.sets(st.sampled_from(sorted(MEMBERS)), max_size=2),
                tags=st.lists(TAGS, min_size=len(MEMBERS), max_size=len(MEMBERS)))
    def members_sign_up(self, unlinked: set[str], silent: set[str], tags: list[list[str]]) -> None:
        """Before the steps: most members linked their card and posted hashtags, and one poll ran."""
        for member in sorted(MEMBERS):
            if member not in unlinked:
                self.link(member)
        for member, chosen in zip(sorted(MEMBERS), tags, strict=True):
            if member not in silent:
                self.post(member, "tags", chosen, again=False, data=None)
        self.poll(replay=False, x_fails=False)

    @rule(member=st.sampled_from(sorted(MEMBERS)), renewed_consent=st.booleans())
    def link(self, member: str, renewed_consent: bool = False) -> None:
        """Link a member's card (again, if it already was); a member who sent STOP only with their
        renewed consent."""
        handle, card = MEMBERS[member]
        if member in self.model.opted_out and not renewed_consent:
            with pytest.raises(MemberError, match="--renewed-consent"):
                link_member(self.uow, self.fingerprinter, self.clock, member, handle, card)
            return
        ref = link_member(self.uow, self.fingerprinter, self.clock, member, handle, card,
                          renewed_consent=renewed_consent)
        assert ref.last4 == card[-4:]
        self.model.opted_out.discard(member)
        if member not in self.model.linked:
            self.model.linked_on(member, self.clock().date())

    @rule(member=st.sampled_from(sorted(MEMBERS)), relink=st.booleans())
    def unlink(self, member: str, relink: bool) -> None:
        """Unlink a member (it says whether there was a card to forget), and maybe link it again at once
        (the bank's sync removed and re-added the card)."""
        assert unlink_member(self.uow, self.clock, member) is (member in self.model.linked)
        if member in self.model.linked:
            self.model.unlinked(member, self.clock().date())
        if relink:
            self.link(member)

    # Mentions ------------------------------------------------------------------------------

    @rule(member=st.sampled_from(sorted(MEMBERS)),
          kind=st.sampled_from(["tags", "tags", "tags", "stop", "chat", "retweet"]),
          tags=TAGS, again=st.booleans(), data=st.data())
    def post(self, member: str, kind: str, tags: list[str], again: bool,
             data: st.DataObject | None) -> None:
        """A member mentions the bot (hashtags, STOP, chat, a retweet), or X serves an old post again."""
        if again and self.api.posts and data is not None:
            self.api.post(data.draw(st.sampled_from(self.api.posts), label="served again"))
            return
        self.next_post += 1
        words = {"tags": " ".join(tags), "stop": "STOP", "chat": "hello there", "retweet": " ".join(tags)}
        post_id = str(self.next_post)
        self.api.post(mention(post_id, member, f"@offerbot {words[kind]}", at=self.clock(),
                              retweet=kind == "retweet"))
        self.model.authors[post_id] = member
        self.model.interactions[post_id] = post_id

    @rule(member=st.sampled_from(sorted(MEMBERS)), tags=TAGS, stop=st.booleans(), data=st.data())
    def edit(self, member: str, tags: list[str], stop: bool, data: st.DataObject) -> None:
        """A member edits one of their posts: X gives the edit a new id, naming the original."""
        own = sorted(p for p, author in self.model.authors.items() if author == member)
        if not own:
            return
        interaction = self.model.interactions[data.draw(st.sampled_from(own), label="edited post")]
        self.next_post += 1
        post_id = str(self.next_post)
        words = "STOP" if stop else " ".join(tags)
        self.api.post(mention(post_id, member, f"@offerbot {words}", at=self.clock(), edit_of=interaction))
        self.model.authors[post_id] = member
        self.model.interactions[post_id] = interaction

    def fresh(self) -> list[Mention]:
        """Return the posts X holds that the bot has not handled and should, oldest first."""
        unique = {m.post_id: m for m in self.api.posts}
        seen = self.model.seen

        def superseded(m: Mention) -> bool:  # this version, or a newer one of it, was handled
            return any(int(p) >= int(m.post_id) for p in seen if self.model.interactions[p] == m.interaction)

        return sorted((m for m in unique.values()
                       if not m.is_retweet and m.author_id != BOT_ID and not superseded(m)),
                      key=lambda m: int(m.post_id))

    def poll_here(self, uow: UnitOfWorkFactory | None = None, api: FakeSocialApi | None = None) -> Any:
        return poll_mentions(uow or self.uow, api or self.api, self.catalog, self.clock,
                             bot_user_id=BOT_ID, batch_posts=BATCH_POSTS)

    @rule(replay=st.booleans(), x_fails=st.booleans())
    def poll(self, replay: bool, x_fails: bool) -> None:
        """Poll mentions; X may serve old posts again, or fail (then the next poll does the work)."""
        fresh = self.fresh()
        self.api.replay_next = replay
        if x_fails:
            self.api.mention_errors.append(TransientApiError("X is having a moment"))
            try:
                self.poll_here()
            except TransientApiError:
                self.api.replay_next = False
                return
            raise AssertionError("the X failure was swallowed")
        report = self.poll_here()
        assert report.handled == len(fresh)
        for m in fresh:
            self.model.handle(m)

    # Replies -------------------------------------------------------------------------------

    @rule(x_fails=st.booleans())
    def send(self, x_fails: bool) -> None:
        """A few minutes on, queue credit notices (two at a time), then send what is due; X may fail
        one reply and one DM (they are retried later)."""
        self.clock.advance(minutes=3)
        queue_credit_notices(self.uow, self.catalog, self.clock, limit=2)
        if x_fails:
            self.api.reply_errors.append(TransientApiError("X timed out"))
            self.api.dm_errors.append(TransientApiError("X timed out"))
        self.send_here()
        self.api.reply_errors.clear()
        self.api.dm_errors.clear()

    def send_here(self) -> None:
        """Send as this instance; every earlier instance has died."""
        me = self.instance
        send_replies(self.uow, self.api, self.renderer, self.clock, me=me, gone=lambda sender: sender != me)

    # Transaction files ---------------------------------------------------------------------

    def new_file(self, data: st.DataObject) -> tuple[Path, FileInfo]:
        """Draw a file of new purchases and refunds, with some rows repeated from earlier files."""
        lines: list[str] = []
        for n in range(data.draw(st.integers(1, 6), label="rows")):
            kinds = ["purchase", "purchase", "purchase", "refund"]
            if self.purchases:
                kinds += ["refund of", "refund of"]
            if n > 0:  # the first row is new, so every new file differs from all earlier ones
                kinds.append("repeat")
            kind = data.draw(st.sampled_from(kinds), label="row kind")
            if kind == "repeat":
                lines.append(data.draw(st.sampled_from(self.lines + lines), label="repeated row"))
                continue
            tid = f"T{self.next_tid}"
            self.next_tid += 1
            if kind == "refund of":  # mostly of a purchase that earned a credit: the refunds that matter
                credited = {r[0] for r in self.sql("SELECT transaction_id FROM credits")}
                earned = [p for p in self.purchases if p[0] in credited]
                original, card, mid, amount = data.draw(st.sampled_from(earned * 2 + self.purchases),
                                                        label="refunded")
                amount = data.draw(st.sampled_from([amount, "1.00"]), label="refund amount")
                reference = data.draw(st.sampled_from([original, ""]), label="reference")
                lines.append(tx_row(tid, card, mid, amount, day="2026-11-24", kind="refund",
                                    original=reference))
            else:
                # Mostly linked members at their campaigns' merchants: the rows that can earn something.
                enrolled = sorted({m for m, _ in self.model.enrolled} & self.model.linked)
                whose = [*enrolled, *enrolled, *sorted(self.model.linked), *sorted(MEMBERS), None]
                member = data.draw(st.sampled_from(whose), label="card of")
                card = MEMBERS[member][1] if member else OUTSIDER_CARD
                theirs = sorted({mid for (m, cid) in self.model.enrolled if m == member
                                 for mid in BY_ID[cid].merchant_ids})
                mid = data.draw(st.sampled_from(theirs * 3 + MIDS), label="merchant")
                amount = data.draw(st.sampled_from(AMOUNTS), label="amount")
                day = data.draw(st.sampled_from(DAYS), label="day")
                if kind == "purchase":
                    lines.append(tx_row(tid, card, mid, amount, day=day))
                    self.purchases.append((tid, card, mid, amount))
                else:
                    # No reference, an unknown one, or someone else's purchase (never theirs to undo).
                    others = [p[0] for p in self.purchases if p[1] != card]
                    lines.append(tx_row(tid, card, mid, amount, day=day, kind="refund",
                                        original=data.draw(st.sampled_from(["", "T0", *others[-3:]]),
                                                           label="reference")))
            self.owner.setdefault(tid, next((m for m, (_, c) in MEMBERS.items() if c in lines[-1]), None))
        self.lines.extend(lines)
        self.uploads += 1
        info = FileInfo(f"day{self.uploads:03d}.csv", "\n".join((HEADER, *lines)) + "\n")
        self.files.append(info)
        path = self.tmp / info.name
        path.write_text(info.content, encoding="utf-8")
        return path, info

    def reconcile_here(self, path: Path, deps: ReconcileDeps | None = None) -> Summary:
        return reconcile_file(deps or self.deps, self.catalog, path)

    def credit_ids(self) -> set[str]:
        return {r[0] for r in self.sql("SELECT credit_id FROM credits")}

    def check_new_credits(self, before: set[str]) -> None:
        """Credits a run added went to members whose card was linked on the transaction's date (any
        date, for a card linked once and never unlinked)."""
        for credit_id, member, kind, day in self.sql("SELECT credit_id, member_id, kind, day FROM credits"):
            if credit_id not in before:
                on = date.fromisoformat(str(day))
                assert self.model.card_was_linked(member, on, refund=kind == "clawback"), \
                    f"credit {credit_id} for {member}, whose card was not linked on {on}"

    @rule(data=st.data())
    def reconcile(self, data: st.DataObject) -> None:
        """Reconcile a new day's file."""
        path, info = self.new_file(data)
        before = self.credit_ids()
        summary = self.reconcile_here(path)
        assert summary.status == "reconciled"
        assert summary.rows == info.content.count("\n") - 1
        info.finished = True
        self.check_new_credits(before)

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def upload_again(self, data: st.DataObject) -> None:
        """The bank sends a file again under another name: nothing new, or a crashed run finishes."""
        info = data.draw(st.sampled_from(self.files), label="file")
        self.uploads += 1
        path = self.tmp / f"again{self.uploads:03d}-{info.name}"
        path.write_text(info.content, encoding="utf-8")
        before, credits = snapshot(self.engine), self.credit_ids()
        summary = self.reconcile_here(path)
        if info.finished:
            assert summary.status == "already reconciled"
            assert snapshot(self.engine) == before
        else:
            assert summary.status == "reconciled"
            info.finished = True
            self.check_new_credits(credits)
        assert all(Path(p).exists() for p in summary.exports.values())

    # Crashes -------------------------------------------------------------------------------

    @rule(work=st.sampled_from(["poll", "reconcile", "send", "notices"]), at=st.integers(1, 6),
          after=st.booleans(), rerun_now=st.booleans(), data=st.data())
    def crash(self, work: str, at: int, after: bool, rerun_now: bool, data: st.DataObject) -> None:
        """Die at a commit of some work, restart, and rerun it now (checked against a crash-free
        twin) or leave it to later steps."""
        getattr(self, f"crash_{work}")(at, after, rerun_now, data)

    @contextmanager
    def crashing(self, at: int, *, after: bool) -> Iterator[None]:
        """Run the block as a process that dies at its ``at``-th commit (``plan.fired`` says if it did)."""
        self.plan.arm(at, after=after)
        try:
            yield
        except Crash:
            pass  # the process is gone; the caller restarts the bot
        finally:
            self.plan.disarm()

    def crash_poll(self, at: int, after: bool, rerun_now: bool, data: st.DataObject) -> None:
        fresh = self.fresh()
        twin = None
        if rerun_now:
            twin = clone_database(self.engine)
            self.clones.append(twin)
            twin_api = ReplayingApi(posts=list(self.api.posts), page_size=PAGE_SIZE)
            self.poll_here(unit_of_work_factory(twin), twin_api)
        with self.crashing(at, after=after):
            self.poll_here()
        self.restart()
        if twin is not None:
            self.poll_here()
            assert snapshot(self.engine) == snapshot(twin)
            handled = len(fresh)
        else:
            done = {r[0] for r in self.sql("SELECT post_id FROM posts")} - self.model.seen
            handled = len(done)
            # Oldest first, whole transactions at a time: what was kept is a prefix.
            assert done == {m.post_id for m in fresh[:handled]}, "a crashed poll kept posts out of order"
        for m in fresh[:handled]:
            self.model.handle(m)

    def crash_reconcile(self, at: int, after: bool, rerun_now: bool, data: st.DataObject) -> None:
        path, info = self.new_file(data)
        before = self.credit_ids()
        twin = clean = None
        if rerun_now:
            twin = clone_database(self.engine)
            self.clones.append(twin)
            twin_uow = unit_of_work_factory(twin)
            twin_locks = locks_for(twin, "stateful:twin", self.clock, timedelta(minutes=5))
            twin_deps = ReconcileDeps(twin_uow, self.fingerprinter, self.clock, self.tmp / "twin-exports",
                                      UTC, twin_locks, batch_rows=BATCH_ROWS)
            clean = reconcile_file(twin_deps, Catalog(CAMPAIGNS), path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            with self.crashing(at, after=after):
                self.reconcile_here(path)
            if self.plan.fired:
                assert not list((self.tmp / "exports").glob(f"{path.stem}.*")), "a dead run left an export"
            gc.collect()
        leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
        assert not leaks, f"a run that raised after its last commit left files open: {leaks}"
        self.restart()
        if twin is not None and clean is not None:
            summary = self.reconcile_here(path)
            assert summary.status in ("reconciled", "already reconciled")
            assert counts(summary) == counts(clean)
            assert snapshot(self.engine) == snapshot(twin)
            assert exported(summary.exports["credits.csv"]) == exported(clean.exports["credits.csv"])
            info.finished = True
        else:
            status = self.sql("SELECT status FROM transaction_files WHERE sha256 = :s", s=info.sha256)
            info.finished = bool(status) and status[0][0] == "reconciled"
        self.check_new_credits(before)

    def crash_send(self, at: int, after: bool, rerun_now: bool, data: st.DataObject) -> None:
        self.clock.advance(minutes=3)
        with self.crashing(at, after=after):
            self.send_here()
        self.restart()
        if rerun_now:  # the new instance takes over what the dead one had claimed, at once
            self.send_here()

    def crash_notices(self, at: int, after: bool, rerun_now: bool, data: st.DataObject) -> None:
        before = snapshot(self.engine)
        with self.crashing(at, after=after):
            queue_credit_notices(self.uow, self.catalog, self.clock, limit=2)
        if self.plan.fired and not after:
            assert snapshot(self.engine) == before
        self.restart()
        if rerun_now:
            queue_credit_notices(self.uow, self.catalog, self.clock, limit=2)

    # Invariants ----------------------------------------------------------------------------

    @invariant()
    def members_match_the_model(self) -> None:
        """Exactly the model's members have a card on file."""
        linked = {r[0] for r in self.sql("SELECT user_id FROM members WHERE card_fingerprint IS NOT NULL")}
        assert linked == self.model.linked

    @invariant()
    def every_post_is_handled_once(self) -> None:
        """The posts table holds each handled post id once: the model's seen set."""
        ids = [r[0] for r in self.sql("SELECT post_id FROM posts")]
        assert len(ids) == len(set(ids))
        assert set(ids) == self.model.seen

    @invariant()
    def enrolments_match_the_model(self) -> None:
        """One enrolment per member and campaign, first post wins, limited quantity kept, counters right."""
        rows = self.sql("SELECT member_id, campaign_id, post_id FROM enrolments")
        found = {(m, c): p for m, c, p in rows}
        assert len(found) == len(rows)
        assert found == self.model.enrolled
        enrolled = dict(self.sql("SELECT id, enrolled FROM campaigns"))
        for c in CAMPAIGNS:
            n = self.model.count(c.id)
            assert enrolled[c.id] == n
            assert c.max_enrolments is None or n <= c.max_enrolments

    @invariant()
    def replies_are_queued_once_for_linked_authors(self) -> None:
        """One confirmation per post, only for authors linked when it was handled; one per STOP."""
        rows = self.sql("SELECT dedupe_key, member_id, in_reply_to, template, status FROM outbox")
        keys = [r[0] for r in rows]
        assert len(keys) == len(set(keys))
        confirmations = {r[2]: r for r in rows if r[0].startswith("post:")}
        assert len(confirmations) == sum(1 for r in rows if r[0].startswith("post:"))
        assert self.model.replies <= set(confirmations)
        assert set(confirmations) <= self.model.replies | self.model.voided
        for post_id, (key, member, _, template, status) in confirmations.items():
            assert key == f"post:{post_id}"
            assert template == "reply.j2"
            assert member == self.model.authors[post_id]
            if member not in self.model.linked:
                assert status != "pending", f"{key} still pending for unlinked member {member}"
        stops = {r[2]: r for r in rows if r[0].startswith("stop:")}
        assert set(stops) == self.model.stops, "each linked member's STOP has one confirmation queued"
        assert all(r[3] == "stopped.j2" and r[1] == self.model.authors[p] for p, r in stops.items())
        edits = {r[2]: r for r in rows if r[0].startswith("edit:")}
        assert set(edits) <= self.model.edits, "an edit reply for an edit that should have none"
        for post_id, (key, member, _, template, _) in edits.items():
            assert (key, member, template) == (f"edit:{self.model.interactions[post_id]}",
                                               self.model.authors[post_id], "reply.j2")
        credit_ids = dict(self.sql("SELECT credit_id, member_id FROM credits"))
        posts = self.model.enrolled
        for key, member, in_reply_to, _, _ in rows:
            if key.startswith("credit:"):
                credit_member = credit_ids.get(key.removeprefix("credit:"))
                assert credit_member == member, f"{key} queued for no credit of {member}"
                assert in_reply_to in {p for (m, _), p in posts.items() if m == member}

    @invariant()
    def x_sees_one_reply_per_member_post(self) -> None:
        """On X each interaction (a member post and its edits) has at most one reply from the bot on
        it, the others chained under the bot's; a linked member's STOP gets its confirmation."""
        replies = self.api.replies
        targets = Counter(self.model.interactions[to] for _, to, _ in replies if to in self.model.authors)
        twice = {post: n for post, n in targets.items() if n > 1}
        assert not twice, f"member posts answered more than once: {twice}"
        ours = {reply_id: to for _, to, reply_id in replies}

        def root(to: str) -> str:
            """Follow a chain of the bot's replies up to the member post it hangs from."""
            chain: set[str] = set()
            while to not in self.model.authors:
                assert to in ours, f"a reply went under {to}: neither a member post nor the bot's"
                assert to not in chain, f"replies under {to} go round in a circle"
                chain.add(to)
                to = ours[to]
            return to

        for _, to, _ in replies:
            post = root(to)
            assert post in self.model.replies | self.model.voided | self.model.stops | self.model.edits, \
                f"post {post} should have had no reply"
        # A reply only goes out to a member linked when it was sent (no step both sends and unlinks),
        # but for the confirmation of an opt-out, the one message an unlinked member gets.
        for text_, to, _ in replies[self.replies_checked:]:
            post = root(to)
            confirmation = text_.startswith("You're unsubscribed") and (
                post in self.model.stops or self.model.interactions[post] in self.model.stopped)
            assert confirmation or self.model.authors[post] in self.model.linked
        self.replies_checked = len(replies)

    @invariant()
    def notices_go_privately_once_to_linked_members(self) -> None:
        """Credit notices are DMs, never public replies; one per credit, to a member linked when sent."""
        assert not any("credit" in text for text, _, _ in self.api.replies), "a notice was posted publicly"
        refs = Counter(text.rsplit("Ref ", 1)[-1] for text, _, _ in self.api.dms)
        assert all(n == 1 for n in refs.values()), f"a notice was sent twice: {refs}"
        for _, member, _ in self.api.dms[self.dms_checked:]:
            assert member in self.model.linked, f"a notice went to {member}, who is not linked"
        self.dms_checked = len(self.api.dms)

    @invariant()
    def credits_are_unique_and_within_budgets(self) -> None:
        """One credit per transaction, campaign and kind; spent equals the credits, never past the budget."""
        assert not self.sql("SELECT transaction_id, campaign_id, kind FROM credits "
                            "GROUP BY transaction_id, campaign_id, kind HAVING COUNT(*) > 1")
        sums = dict(self.sql("SELECT campaign_id, SUM(cents) FROM credits GROUP BY campaign_id"))
        for campaign_id, spent, budget in self.sql("SELECT id, spent_cents, budget_cents FROM campaigns"):
            assert spent == sums.get(campaign_id, 0), f"{campaign_id}: spent {spent}, credits {sums}"
            assert spent >= 0
            assert budget is None or spent <= budget

    @invariant()
    def credits_follow_the_rules(self) -> None:
        """Held credits within per_member; each credit earned by an enrolled member's qualifying purchase."""
        held = self.sql("SELECT member_id, campaign_id, COUNT(*) FROM credits "
                        "WHERE kind = 'credit' AND reversed_cents < cents GROUP BY member_id, campaign_id")
        for member, campaign_id, n in held:
            assert n <= BY_ID[campaign_id].per_member, f"{member} holds {n} credits of {campaign_id}"
        credits = self.sql("SELECT credit_id, transaction_id, campaign_id, member_id, kind, cents, "
                           "basis_cents, day, reverses, reversed_cents, last4 FROM credits")
        by_id = {r[0]: r for r in credits}
        clawed: Counter[str] = Counter()
        for _, tid, cid, member, kind, cents, basis, day, reverses, reversed_cents, last4 in credits:
            assert self.owner.get(tid) == member, f"{tid} credited to {member}, not the card's owner"
            assert last4 == MEMBERS[member][1][-4:]
            c = BY_ID[cid]
            assert (member, cid) in self.model.enrolled, f"{member} credited in {cid} without enrolling"
            if kind == "credit":
                day = date.fromisoformat(str(day))
                assert date(2026, 11, 23) <= day <= c.redeem_by
                assert basis >= c.min_spend * 100
                assert cents == expected_credit(c, basis) > 0
                assert 0 <= reversed_cents <= cents
            else:
                assert kind == "clawback"
                assert cents < 0
                original = by_id[reverses]
                assert original[2:5] == (cid, member, "credit")
                clawed[reverses] -= cents
        for credit_id, total in clawed.items():
            assert by_id[credit_id][9] == total, f"{credit_id}: reversed_cents disagrees with its clawbacks"

    @invariant()
    def finished_files_are_reconciled(self) -> None:
        """Files known to be finished are 'reconciled' in the ledger."""
        status = dict(self.sql("SELECT sha256, status FROM transaction_files"))
        for info in self.files:
            if info.finished:
                assert status[info.sha256] == "reconciled"


class Script:
    """Stands in for Hypothesis's data object: hands out the given draws in order."""

    def __init__(self, *draws: Any) -> None:
        self.draws = list(draws)

    def draw(self, strategy: Any, label: str | None = None) -> Any:
        return self.draws.pop(0)


INVARIANTS = ("members_match_the_model", "every_post_is_handled_once", "enrolments_match_the_model",
              "replies_are_queued_once_for_linked_authors", "x_sees_one_reply_per_member_post",
              "notices_go_privately_once_to_linked_members",
              "credits_are_unique_and_within_budgets", "credits_follow_the_rules",
              "finished_files_are_reconciled")


def run_steps(*steps: tuple[str, dict[str, Any]]) -> None:
    """Run the machine through fixed steps, checking every invariant after each."""
    machine = BotMachine()
    try:
        for name, kwargs in steps:
            getattr(machine, name)(**kwargs)
            for check in INVARIANTS:
                getattr(machine, check)()
    finally:
        machine.teardown()


@pytest.mark.slow  # the state machine: 40 runs of 30 random steps (the fixed-step tests below are quick)
def test_the_bot_keeps_its_promises_under_random_steps_and_crashes() -> None:
    """Random links, mentions, polls, sends, files and crashes never break an invariant of the model."""
    # No shrinking: a run costs a quarter of a second and shrinking 30 steps runs into Hypothesis's
    # five-minute cap. A failure prints its whole run; the fixed-step tests below are the short ones.
    run_state_machine_as_test(BotMachine, settings=settings(
        max_examples=40, stateful_step_count=30, deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]))


ANN_CARD = MEMBERS["2001"][1]
ANN_ENROLS = ("members_sign_up", {"unlinked": set(), "silent": {"2002", "2003", "2004"},
                                  "tags": [["#StFixed"]] * len(MEMBERS)})


def ann_buys_and_returns() -> tuple[str, dict[str, Any]]:
    return "reconcile", {"data": Script(2, "purchase", "2001", "MID-FIX-1", "12.50", "2026-11-23",
                                        "refund of", ("T1", ANN_CARD, "MID-FIX-1", "12.50"), "12.50", "T1")}


def ann_posts(kind: str) -> tuple[str, dict[str, Any]]:
    return "post", {"member": "2001", "kind": kind, "tags": ["#StFixed"], "again": False, "data": None}


def test_a_file_killed_between_batches_and_rerun_matches_a_clean_run() -> None:
    """A reconciliation killed after its first batch, rerun after a restart, equals a crash-free twin."""
    run_steps(ANN_ENROLS, ("send", {"x_fails": False}),
              ("crash", {"work": "reconcile", "at": 2, "after": True, "rerun_now": True, "data": Script(
                  3, "purchase", "2001", "MID-FIX-1", "12.50", "2026-11-23",
                  "purchase", "2001", "MID-SHARED", "30.00", "2026-11-24",
                  "refund of", ("T1", ANN_CARD, "MID-FIX-1", "12.50"), "12.50", "T1")}),
              ("send", {"x_fails": False}), ("send", {"x_fails": False}))


def test_notices_after_a_cancelled_confirmation_leave_one_reply_on_the_members_post() -> None:
    """A member re-synced before the confirmation went out; a credit and its clawback still make one reply."""
    run_steps(ANN_ENROLS, ("unlink", {"member": "2001", "relink": True}), ann_buys_and_returns(),
              ("send", {"x_fails": False}))


def test_notices_after_a_stop_in_the_same_poll_leave_one_reply_on_the_members_post() -> None:
    """A member enrolled and sent STOP in one poll, then linked again; two notices still make one reply."""
    run_steps(("members_sign_up", {"unlinked": set(), "silent": set(MEMBERS), "tags": [["#StFixed"]] * 4}),
              ann_posts("tags"), ann_posts("stop"),
              ("poll", {"replay": False, "x_fails": False}),
              ("link", {"member": "2001", "renewed_consent": True}),
              ann_buys_and_returns(), ("send", {"x_fails": False}))
