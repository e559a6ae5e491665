"""Repositories and the unit of work: domain objects in, domain objects out, SQL in between."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from types import TracebackType
from typing import Any, NamedTuple, Self

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from bot.adapters.database import READONLY
from bot.adapters.tables import (
    CampaignRow,
    CardLinkRow,
    CardTransactionRow,
    CreditRow,
    CursorRow,
    EnrolmentRow,
    FingerprintKeyRow,
    LeaseRow,
    MemberRow,
    OutboxRow,
    PendingRefundRow,
    PostRow,
    RejectRow,
    StagedTransactionRow,
    TransactionFileRow,
)
from bot.adapters.x_ids import remember_x_ids
from bot.domain.campaigns import Campaign
from bot.domain.cards import CardRef, KeyCheck
from bot.domain.enrolment import Enrolment
from bot.domain.members import CardLink, LinkEnd, LinkPeriod, Member, link_period
from bot.domain.money import to_cents
from bot.domain.reconcile import Credit, CreditedPurchase, Key, Txn
from bot.domain.replies import Delivery, OutboxItem, ReplyIntent
from bot.domain.transactions import Reject
from bot.ports import UnitOfWorkFactory

members_t: Table = MemberRow.__table__  # type: ignore[attr-defined]
campaigns_t: Table = CampaignRow.__table__  # type: ignore[attr-defined]
enrolments_t: Table = EnrolmentRow.__table__  # type: ignore[attr-defined]
posts_t: Table = PostRow.__table__  # type: ignore[attr-defined]
outbox_t: Table = OutboxRow.__table__  # type: ignore[attr-defined]
cursors_t: Table = CursorRow.__table__  # type: ignore[attr-defined]
files_t: Table = TransactionFileRow.__table__  # type: ignore[attr-defined]
transactions_t: Table = CardTransactionRow.__table__  # type: ignore[attr-defined]
credits_t: Table = CreditRow.__table__  # type: ignore[attr-defined]
rejects_t: Table = RejectRow.__table__  # type: ignore[attr-defined]
leases_t: Table = LeaseRow.__table__  # type: ignore[attr-defined]
card_links_t: Table = CardLinkRow.__table__  # type: ignore[attr-defined]
keys_t: Table = FingerprintKeyRow.__table__  # type: ignore[attr-defined]
staged_t: Table = StagedTransactionRow.__table__  # type: ignore[attr-defined]
pending_t: Table = PendingRefundRow.__table__  # type: ignore[attr-defined]
_CHUNK = 500  # ids per IN (...) list, well under every driver's parameter limit


def _insert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """Return the dialect's INSERT, which knows ON CONFLICT."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_PG_CHUNK = 20_000  # ids per PostgreSQL array parameter: one round trip for a whole batch


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _key_in(conn: Connection, column: Column[Any], keys: Sequence[str],
            size: int = _CHUNK) -> Iterator[ColumnElement[bool]]:
    """Yield ``column IN keys`` conditions, one per chunk of ``keys``.

    On PostgreSQL each is ``column = ANY(one array parameter)``: one statement shape whatever
    the count, so neither SQLAlchemy nor the server re-parses a list of hundreds of parameters.
    """
    if conn.dialect.name == "postgresql":
        for chunk in _chunks(keys, max(size, _PG_CHUNK)):
            yield _any_of(column, list(chunk))
    else:
        for chunk in _chunks(keys, size):
            yield column.in_(chunk)


def _any_of(column: Column[Any], keys: list[str] | None = None) -> ColumnElement[bool]:
    """Return ``column = ANY(:keys)``, the keys as one PostgreSQL array parameter."""
    return column == any_(bindparam("keys", keys, type_=postgresql.ARRAY(String)))


class _Bulk:
    """A multi-row INSERT run through the driver: for the hot tables, SQLAlchemy's per-row
    parameter handling costs more than the database's own work.

    Rows are tuples in ``columns`` order holding driver-ready values: ``native`` turns dates
    and datetimes into what the dialect stores.
    """

    def __init__(self, table: Table, columns: Sequence[str], *, ignore_conflicts: Sequence[str] = ()) -> None:
        self._table, self._columns, self._ignore = table, tuple(columns), tuple(ignore_conflicts)
        self._compiled: dict[str, tuple[str, tuple[int, ...] | None]] = {}

    COPY_FROM = 200  # rows; below this a COPY's extra statements cost more than they save

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in one executemany (on PostgreSQL, a COPY for many rows)."""
        if not rows:
            return
        if conn.dialect.name == "postgresql" and len(rows) >= self.COPY_FROM:
            self._copy(conn, rows)
            return
        sql, order = self._compiled.get(conn.dialect.name) or self._compile(conn)
        if order is None:  # named parameters (psycopg)
            conn.exec_driver_sql(sql, [dict(zip(self._columns, row, strict=True)) for row in rows])
        else:
            conn.exec_driver_sql(sql, [tuple(row[i] for i in order) for row in rows]
                                 if order != tuple(range(len(self._columns))) else list(rows))

    def _copy(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """COPY ``rows`` in: psycopg's executemany still sends one INSERT per row.

        COPY has no ON CONFLICT, so a table with ignored conflicts is filled through a
        temporary staging table (emptied at commit) and one INSERT ... SELECT.
        """
        # Every name comes from our own table models and is quoted by the dialect.
        quote = conn.dialect.identifier_preparer.quote
        table, columns = quote(self._table.name), ", ".join(quote(c) for c in self._columns)
        stage = quote(f"stage_{self._table.name}")
        keys = ", ".join(quote(c) for c in self._ignore)
        create = (f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "  # noqa: S608
                  f"AS SELECT {columns} FROM {table} WITH NO DATA")
        move = (f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "  # noqa: S608
                f"ON CONFLICT ({keys}) DO NOTHING")
        if self._ignore:
            conn.exec_driver_sql(create)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {stage if self._ignore else table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if self._ignore:
            conn.exec_driver_sql(move)
            conn.exec_driver_sql(f"TRUNCATE {stage}")

    def _compile(self, conn: Connection) -> tuple[str, tuple[int, ...] | None]:
        stmt = _insert(conn, self._table).values({c: bindparam(c) for c in self._columns})
        if self._ignore:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(self._ignore))
        compiled = stmt.compile(dialect=conn.dialect)
        extra = set(compiled.positiontup or compiled.binds) - set(self._columns)
        if extra:  # a column with a Python-side default: give it a server default instead
            raise TypeError(f"bulk insert into {self._table.name} would need {sorted(extra)}")
        order = (tuple(self._columns.index(name) for name in compiled.positiontup or ())
                 if compiled.positional else None)
        self._compiled[conn.dialect.name] = found = (str(compiled), order)
        return found


class _InLookup:
    """SELECT ... WHERE key IN (a fixed number of parameters), compiled once per dialect.

    SQLAlchemy re-expands an IN list on every execution, which costs more than the query for
    thousands of keys; a fixed-size statement padded with a repeated key avoids that.
    """

    SIZE = 1000

    def __init__(self, table: Table, key: str, columns: Sequence[str], *, scope: str | None = None) -> None:
        self._table, self._key, self._columns, self._scope = table, key, tuple(columns), scope
        self._compiled: dict[str, tuple[str, bool]] = {}

    def run(self, conn: Connection, keys: Sequence[str], scope: Any = None) -> list[tuple[Any, ...]]:
        """Return the rows whose key is among ``keys`` (and whose scope column is ``scope``)."""
        if not keys:
            return []
        sql, positional = self._compiled.get(conn.dialect.name) or self._compile(conn)
        found: list[tuple[Any, ...]] = []
        scoped = {} if self._scope is None else {"scope": scope}
        if conn.dialect.name == "postgresql":  # one array parameter: see _key_in
            for chunk in _chunks(keys, _PG_CHUNK):
                found.extend(tuple(row) for row in conn.exec_driver_sql(sql, {"keys": list(chunk), **scoped}))
            return found
        for start in range(0, len(keys), self.SIZE):
            chunk = list(keys[start:start + self.SIZE])
            chunk += [chunk[0]] * (self.SIZE - len(chunk))
            # The scope's parameter is compiled last (see _compile).
            params: Any = ((*chunk, *scoped.values()) if positional
                           else {f"k{i}": k for i, k in enumerate(chunk)} | scoped)
            found.extend(tuple(row) for row in conn.exec_driver_sql(sql, params))
        return found

    def _compile(self, conn: Connection) -> tuple[str, bool]:
        table = self._table
        key = table.c[self._key]
        where = (_any_of(key) if conn.dialect.name == "postgresql"
                 else key.in_([bindparam(f"k{i}") for i in range(self.SIZE)]))
        if self._scope is not None:
            # "+ 0": not an index on the scope column, whatever the planner guesses, but the one
            # that leads with the key (SQLite would otherwise scan the whole scope for each list).
            where = and_(where, table.c[self._scope] + literal_column("0") == bindparam("scope"))
        compiled = select(*(table.c[c] for c in self._columns)).where(where).compile(dialect=conn.dialect)
        assert self._scope is None or not compiled.positional or (compiled.positiontup or [])[-1] == "scope"
        self._compiled[conn.dialect.name] = found = (str(compiled), bool(compiled.positional))
        return found


def _raw_rows(conn: Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    """Yield plain tuples from the driver's cursor: for the few queries that load a whole
    table into memory, SQLAlchemy's per-row Row objects would cost more than the query."""
    cursor = conn.exec_driver_sql(sql).cursor
    assert cursor is not None
    while chunk := cursor.fetchmany(10_000):
        yield from chunk


def native(conn: Connection) -> Callable[[date | datetime], Any]:
    """Return how this dialect stores a date or an aware datetime (naive UTC, as UTCDateTime)."""
    if conn.dialect.name == "sqlite":
        def to_sqlite(value: date | datetime) -> str:
            if isinstance(value, datetime):
                return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            return value.isoformat()
        return to_sqlite

    def to_driver(value: date | datetime) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    return to_driver


def _day_writer(conn: Connection) -> Callable[[date], Any] | None:
    """Return how this dialect stores a date, remembering each day converted (a batch's rows share
    a few days); None where the driver takes dates as they are."""
    if conn.dialect.name != "sqlite":
        return None
    texts: dict[date, str] = {}

    def write(day: date) -> str:
        text = texts.get(day)
        if text is None:
            text = texts[day] = day.isoformat()
        return text
    return write


class MemberRepository:
    """Linked X accounts, the history of their card links, and the fingerprint keys used."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, user_id: str) -> Member | None:
        """Return the member with ``user_id``, linked or not."""
        return self.get_many([user_id]).get(user_id)

    def get_many(self, user_ids: Iterable[str]) -> dict[str, Member]:
        """Return the known members among ``user_ids``."""
        found: dict[str, Member] = {}
        for where in _key_in(self._conn, members_t.c.user_id, list(dict.fromkeys(user_ids))):
            rows = self._conn.execute(select(members_t).where(where))
            for row in rows:
                card = CardRef(row.card_fingerprint, row.card_last4) if row.card_fingerprint else None
                found[row.user_id] = Member(row.user_id, row.handle, card, row.linked_at, row.opted_out_at,
                                            row.key_id)
        return found

    def card_owners(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """Return the user id each of ``fingerprints`` is linked to, where it is linked."""
        found: dict[str, str] = {}
        for where in _key_in(self._conn, members_t.c.card_fingerprint, fingerprints):
            rows = self._conn.execute(select(members_t.c.card_fingerprint, members_t.c.user_id)
                                      .where(where))
            found.update({row.card_fingerprint: row.user_id for row in rows})
        return found

    def link_many(self, links: Sequence[tuple[str, str, CardRef]], now: datetime, *,
                  key: KeyCheck | None = None) -> None:
        """Link each (user id, handle, card) made with ``key``: a new current link, the member's
        earlier one ended as replaced. Clears an opt-out (callers link an opted-out member only
        with renewed consent).

        Callers check ``card_owners`` first; a card linked to someone else still fails here,
        on the unique fingerprint, rather than being moved silently.
        """
        if not links:
            return
        key_id = None if key is None else key.key_id
        if key is not None:
            self.record_key(key, now)
        rows = [{"user_id": uid, "handle": handle, "card_fingerprint": card.fingerprint,
                 "card_last4": card.last4, "linked_at": now, "unlinked_at": None, "key_id": key_id,
                 "opted_out_at": None}
                for uid, handle, card in links]
        stmt = _insert(self._conn, members_t)
        # Members first: the row lock it takes orders two concurrent links of one member, so the
        # second closes the link the first opened.
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "user_id"}), rows)
        self._end_links([uid for uid, _, _ in links], now, LinkEnd.REPLACED)
        self._conn.execute(card_links_t.insert(), [
            {"member_id": uid, "fingerprint": card.fingerprint, "last4": card.last4, "key_id": key_id,
             "linked_at": now} for uid, _, card in links])

    def relink_in_place(self, links: Sequence[tuple[str, str, CardRef]], now: datetime, *,
                        key: KeyCheck) -> None:
        """Update the handle, or the fingerprint (the same card under a new key), of current links.

        The link itself goes on: its start date, which decides what it covers, is kept.
        """
        if not links:
            return
        self.record_key(key, now)
        rows = [{"b_uid": uid, "b_handle": handle, "b_fp": card.fingerprint, "b_last4": card.last4,
                 "b_key": key.key_id} for uid, handle, card in links]
        self._conn.execute(_RELINK_MEMBER, rows)
        self._conn.execute(_RELINK_LINK, rows)

    def unlink(self, user_id: str, now: datetime, *, ended_by: LinkEnd = LinkEnd.REMOVED) -> bool:
        """Forget the card of ``user_id`` and end its link; return False when it had none."""
        result = self._conn.execute(
            update(members_t)
            .where(members_t.c.user_id == user_id, members_t.c.card_fingerprint.is_not(None))
            .values(card_fingerprint=None, card_last4=None, key_id=None, unlinked_at=now))
        if result.rowcount != 1:
            return False
        self._end_links([user_id], now, ended_by)
        return True

    def _end_links(self, user_ids: Sequence[str], now: datetime, ended_by: LinkEnd) -> None:
        for where in _key_in(self._conn, card_links_t.c.member_id, user_ids):
            self._conn.execute(update(card_links_t).where(where, card_links_t.c.unlinked_at.is_(None))
                               .values(unlinked_at=now, ended_by=ended_by.value))

    def opt_out(self, user_id: str, handle: str | None, now: datetime) -> None:
        """Record that ``user_id`` sent STOP (kept from the first STOP until a renewed consent).

        Recorded for accounts the bot has never linked too, so no later import links them.
        """
        stmt = _insert(self._conn, members_t).values(user_id=user_id, handle=(handle or "")[:15],
                                                     opted_out_at=now)
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"opted_out_at": func.coalesce(members_t.c.opted_out_at, stmt.excluded.opted_out_at)}))

    def links_of(self, user_id: str) -> list[CardLink]:
        """Return every link of an account to a card, oldest first."""
        c = card_links_t.c
        rows = self._conn.execute(select(card_links_t).where(c.member_id == user_id)
                                  .order_by(c.linked_at, c.id))
        return [CardLink(r.member_id, r.last4, r.linked_at, r.unlinked_at,
                         LinkEnd(r.ended_by) if r.ended_by else None, r.key_id) for r in rows]

    def fingerprint_index(self) -> dict[str, str]:
        """Return member user id by card fingerprint, for every linked member."""
        return dict(_raw_rows(self._conn, "SELECT card_fingerprint, user_id FROM members "
                                          "WHERE card_fingerprint IS NOT NULL"))

    def card_index(self, tz: tzinfo) -> tuple[dict[str, str], dict[str, tuple[LinkPeriod, ...]]]:
        """Return who owns each card, as reconciliation matches them.

        First, member by fingerprint for the cards with one current link and no history: the
        scanner's one-lookup fast path. Second, for every card with an ended link, each link's
        days (in ``tz``), latest first: a transaction of such a card goes to the member whose link
        covered its date.
        """
        current = self.fingerprint_index()
        history = self.card_history(tz)
        for fingerprint in history:
            current.pop(fingerprint, None)
        return current, history

    def card_history(self, tz: tzinfo) -> dict[str, tuple[LinkPeriod, ...]]:
        """Return the links of every card that has an ended link, latest first, as days in ``tz``."""
        c = card_links_t.c
        ended = select(c.fingerprint).where(c.unlinked_at.is_not(None))
        rows = self._conn.execute(
            select(c.fingerprint, c.member_id, c.linked_at, c.unlinked_at)
            .where(c.fingerprint.in_(ended))
            .order_by(c.fingerprint, c.linked_at.desc(), c.id.desc()))
        found: dict[str, list[LinkPeriod]] = defaultdict(list)
        for fingerprint, member_id, linked_at, unlinked_at in rows:
            found[fingerprint].append(link_period(member_id, linked_at, unlinked_at, tz))
        return {fingerprint: tuple(periods) for fingerprint, periods in found.items()}

    def linked_count(self) -> int:
        """Return how many members have a card linked."""
        return self._conn.execute(
            select(func.count()).where(members_t.c.card_fingerprint.is_not(None))).scalar_one()

    def key_use(self) -> dict[str | None, int]:
        """Return how many linked members' fingerprints were made with each key id (None: not known)."""
        rows = self._conn.execute(
            select(members_t.c.key_id, func.count())
            .where(members_t.c.card_fingerprint.is_not(None)).group_by(members_t.c.key_id))
        return {key_id: count for key_id, count in rows}

    def key_checks(self) -> dict[str, str]:
        """Return the check value of every key fingerprints were made with, by key id."""
        rows = self._conn.execute(select(keys_t.c.key_id, keys_t.c.check_value))
        return {key_id: check for key_id, check in rows}

    def record_key(self, key: KeyCheck, now: datetime) -> None:
        """Remember a key fingerprints are made with (by its check value: never the key)."""
        self._conn.execute(_insert(self._conn, keys_t).values(
            key_id=key.key_id, check_value=key.check_value, first_used_at=now)
            .on_conflict_do_nothing(index_elements=["key_id"]))

    def adopt_key(self, key: KeyCheck, now: datetime) -> int:
        """Take fingerprints of unknown key (made before keys were checked) to be ``key``'s;
        return how many linked members that concerned."""
        self.record_key(key, now)
        adopted = self._conn.execute(
            update(members_t).where(members_t.c.key_id.is_(None), members_t.c.card_fingerprint.is_not(None))
            .values(key_id=key.key_id)).rowcount
        self._conn.execute(update(card_links_t).where(card_links_t.c.key_id.is_(None))
                           .values(key_id=key.key_id))
        return adopted

    def unkeyed_links(self) -> int:
        """Return how many card links have no key id (made before keys were checked)."""
        return self._conn.execute(
            select(func.count()).where(card_links_t.c.key_id.is_(None))).scalar_one()


_RELINK_MEMBER = (update(members_t).where(members_t.c.user_id == bindparam("b_uid"))
                  .values(handle=bindparam("b_handle"), card_fingerprint=bindparam("b_fp"),
                          card_last4=bindparam("b_last4"), key_id=bindparam("b_key")))
_RELINK_LINK = (update(card_links_t)
                .where(card_links_t.c.member_id == bindparam("b_uid"), card_links_t.c.unlinked_at.is_(None))
                .values(fingerprint=bindparam("b_fp"), last4=bindparam("b_last4"), key_id=bindparam("b_key")))


@dataclass(frozen=True)
class CampaignRecord:
    """A campaign as the database knows it: its counters and the last good version kept."""

    id: str
    hashtag: str
    source: str | None  # its file, relative to offers/
    definition: dict[str, Any] | None  # Campaign.definition() of the last good version
    loaded_at: datetime | None
    enrolled: int
    spent_cents: int


class CampaignRepository:
    """Campaign counters (enrolments reserved, budget spent) and the last good version of each."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def sync(self, campaigns: Iterable[Campaign], now: datetime) -> None:
        """Create or update the row of each campaign, keeping its counters."""
        self._upsert([_campaign_row(c, now) for c in campaigns])

    def install(self, versions: Iterable[tuple[Campaign, str]], now: datetime) -> None:
        """Save each (campaign, file) as the campaign's last good version, keeping its counters."""
        self._upsert([{**_campaign_row(c, now), "source": source, "loaded_at": now,
                       "definition": json.dumps(c.definition(), sort_keys=True, separators=(",", ":"))}
                      for c, source in versions])

    def ensure(self, campaigns: Iterable[Campaign], now: datetime) -> None:
        """Create the rows of campaigns the database does not know yet; leave the others alone."""
        rows = [_campaign_row(c, now) for c in campaigns]
        if rows:
            self._conn.execute(_insert(self._conn, campaigns_t).on_conflict_do_nothing(
                index_elements=["id"]), rows)

    def forget(self, campaign_ids: Sequence[str]) -> None:
        """Drop the kept version of campaigns no file defines any more (their counters stay)."""
        if campaign_ids:
            self._conn.execute(update(campaigns_t).where(campaigns_t.c.id.in_(list(campaign_ids)))
                               .values(definition=None, source=None, loaded_at=None))

    def _upsert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        stmt = _insert(self._conn, campaigns_t)
        keep = [k for k in rows[0] if k not in ("id", "enrolled", "spent_cents")]
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["id"], set_={k: stmt.excluded[k] for k in keep}), rows)

    def records(self) -> list[CampaignRecord]:
        """Return every campaign the database knows, with its last good version if one is kept."""
        c = campaigns_t.c
        rows = self._conn.execute(select(c.id, c.hashtag, c.source, c.definition, c.loaded_at, c.enrolled,
                                         c.spent_cents).order_by(c.id))
        return [CampaignRecord(r.id, r.hashtag, r.source, _json_object(r.definition), r.loaded_at,
                               r.enrolled, r.spent_cents) for r in rows]

    def credit_counts(self, campaign_ids: Sequence[str]) -> dict[str, int]:
        """Return how many credits (not clawbacks) each of ``campaign_ids`` has issued."""
        found: dict[str, int] = {}
        for where in _key_in(self._conn, credits_t.c.campaign_id, list(campaign_ids)):
            rows = self._conn.execute(select(credits_t.c.campaign_id, func.count())
                                      .where(where, credits_t.c.kind == "credit")
                                      .group_by(credits_t.c.campaign_id))
            found.update({campaign_id: count for campaign_id, count in rows})
        return found

    def enrolment_counts(self, *, limited_only: bool = False) -> dict[str, int]:
        """Return enrolments so far per campaign id (only limited-quantity ones if asked)."""
        query = select(campaigns_t.c.id, campaigns_t.c.enrolled)
        if limited_only:
            query = query.where(campaigns_t.c.max_enrolments.is_not(None))
        return {row.id: row.enrolled for row in self._conn.execute(query)}

    def spent_cents(self) -> dict[str, int]:
        """Return the cents each campaign with a budget has spent (credits net of clawbacks)."""
        rows = self._conn.execute(select(campaigns_t.c.id, campaigns_t.c.spent_cents)
                                  .where(campaigns_t.c.budget_cents.is_not(None)))
        return {row.id: row.spent_cents for row in rows}

    def reserve(self, campaign_id: str) -> bool:
        """Take one place of a campaign's limited quantity; False when none is left.

        One conditional UPDATE, never read-then-write, so concurrent pollers cannot oversell.
        """
        return self._conn.execute(_RESERVE, {"campaign_id": campaign_id}).rowcount == 1

    def add_enrolled(self, counts: Mapping[str, int]) -> None:
        """Count enrolments in campaigns without a limited quantity (nothing to reserve)."""
        if counts:
            self._conn.execute(_ADD_ENROLLED, [{"campaign_id": c, "n": n} for c, n in counts.items()])


def _campaign_row(c: Campaign, now: datetime) -> dict[str, Any]:
    return {"id": c.id, "hashtag": c.hashtag, "merchant": c.merchant, "max_enrolments": c.max_enrolments,
            "budget_cents": None if c.budget is None else to_cents(c.budget), "updated_at": now}


def _json_object(text: str | None) -> dict[str, Any] | None:
    """Return the JSON object in ``text``, or None when there is none (or it is not readable)."""
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


# Built once: constructing a SQL expression costs more than running it on SQLite.
_OUTBOX = _Bulk(outbox_t, ("dedupe_key", "member_id", "in_reply_to", "template", "context", "status",
                           "attempts", "next_attempt_at", "created_at", "thread", "channel"),
                ignore_conflicts=["dedupe_key"])
_ENROLMENTS = _Bulk(enrolments_t, ("member_id", "campaign_id", "post_id", "enrolled_at"))
_POSTS = _Bulk(posts_t, ("post_id", "interaction_id", "hashtags", "author_id", "created_at", "processed_at",
                         "outcome"))
_RESERVE = (update(campaigns_t)
            .where(campaigns_t.c.id == bindparam("campaign_id"),
                   or_(campaigns_t.c.max_enrolments.is_(None),
                       campaigns_t.c.enrolled < campaigns_t.c.max_enrolments))
            .values(enrolled=campaigns_t.c.enrolled + 1))
_ADD_ENROLLED = (update(campaigns_t).where(campaigns_t.c.id == bindparam("campaign_id"))
                 .values(enrolled=campaigns_t.c.enrolled + bindparam("n")))


class EnrolmentRepository:
    """Who is enrolled in what."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def campaigns_of(self, member_ids: Iterable[str]) -> dict[str, set[str]]:
        """Return the campaign ids each of ``member_ids`` is enrolled in."""
        found: dict[str, set[str]] = defaultdict(set)
        for where in _key_in(self._conn, enrolments_t.c.member_id, list(dict.fromkeys(member_ids))):
            rows = self._conn.execute(
                select(enrolments_t.c.member_id, enrolments_t.c.campaign_id).where(where))
            for row in rows:
                found[row.member_id].add(row.campaign_id)
        return found

    def add_many(self, enrolments: Sequence[Enrolment]) -> None:
        """Record new enrolments."""
        if enrolments:
            when = native(self._conn)
            _ENROLMENTS.run(self._conn, [(e.member_id, e.campaign_id, e.post_id, when(e.enrolled_at))
                                         for e in enrolments])

    def days_by_key(self, tz: tzinfo) -> dict[str, date]:
        """Return the enrolment day of every enrolment, by enrolment_key(member, campaign).

        The day is the calendar day in ``tz``, the zone campaign dates are read in. Members who
        unlinked are included: with no card on file, none of their transactions reach the rules.
        """
        # Straight from the driver: SQLAlchemy's datetime parsing would cost more than the query.
        rows = _raw_rows(self._conn, "SELECT member_id, campaign_id, enrolled_at FROM enrolments")
        utc = getattr(tz, "key", None) in ("UTC", "Etc/UTC") or tz is UTC
        days: dict[str, date] = {}
        found: dict[str, date] = {}
        for member_id, campaign_id, enrolled_at in rows:
            if utc and isinstance(enrolled_at, str):  # SQLite keeps "YYYY-MM-DD HH:MM:SS..." in UTC
                text = enrolled_at[:10]
                day = days.get(text) or days.setdefault(text, date.fromisoformat(text))
            else:
                moment = datetime.fromisoformat(enrolled_at) if isinstance(enrolled_at, str) else enrolled_at
                day = moment.replace(tzinfo=UTC).astimezone(tz).date()
            found[f"{member_id}\t{campaign_id}"] = day
        return found

    def posts_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Return the enrolment post id for each (member, campaign) that has one."""
        wanted = set(keys)
        found: dict[tuple[str, str], str] = {}
        for where in _key_in(self._conn, enrolments_t.c.member_id, sorted({m for m, _ in wanted})):
            rows = self._conn.execute(
                select(enrolments_t.c.member_id, enrolments_t.c.campaign_id, enrolments_t.c.post_id)
                .where(where))
            found.update({(m, c): post for m, c, post in rows if (m, c) in wanted})
        return found

    def get(self, member_id: str, campaign_id: str) -> Enrolment | None:
        """Return the enrolment of ``member_id`` in ``campaign_id``, if any."""
        row = self._conn.execute(select(enrolments_t).where(
            enrolments_t.c.member_id == member_id, enrolments_t.c.campaign_id == campaign_id)).first()
        return None if row is None else Enrolment(
            row.member_id, row.campaign_id, row.post_id, row.enrolled_at)


class PostRepository:
    """Mentions already handled: the guard that makes polling idempotent."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def seen(self, post_ids: Sequence[str]) -> set[str]:
        """Return which of ``post_ids`` were handled before."""
        found: set[str] = set()
        for where in _key_in(self._conn, posts_t.c.post_id, post_ids):
            found.update(self._conn.execute(select(posts_t.c.post_id).where(where)).scalars())
        return found

    def versions(self, interaction_ids: Sequence[str]) -> dict[str, dict[str, tuple[str, ...]]]:
        """Return the handled posts of each interaction: interaction -> post id -> hashtag keys.

        An original is its own interaction, so this answers "was this post handled?" as well.
        """
        found: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
        for interaction, post_id, hashtags in _VERSIONS.run(self._conn, list(dict.fromkeys(interaction_ids))):
            found[interaction][post_id] = tuple(hashtags.split())
        return found

    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record handled posts (post_id, author_id, created_at, processed_at, outcome, and
        interaction_id and hashtags: by default the post's own id and none)."""
        if rows:
            when = native(self._conn)
            _POSTS.run(self._conn, [
                (r["post_id"], r.get("interaction_id") or r["post_id"], r.get("hashtags", "")[:500],
                 r["author_id"], r["created_at"] and when(r["created_at"]), when(r["processed_at"]),
                 r["outcome"])
                for r in rows])


@dataclass(frozen=True)
class OutboxRecord:
    """A message of the outbox as an operator sees it (`offerbot replies`)."""

    id: int
    dedupe_key: str
    channel: str
    member_id: str
    template: str
    status: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    sent_at: datetime | None
    reason: str | None

    @property
    def when(self) -> datetime:
        """Return the moment that matters for its status: sent, due, or last tried (or queued)."""
        if self.status == "sent" and self.sent_at is not None:
            return self.sent_at
        if self.status == "pending":
            return self.next_attempt_at
        return self.last_attempt_at or self.created_at


class OutboxRepository:
    """Replies and direct messages waiting to be sent, each at most once."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_many(self, intents: Sequence[ReplyIntent], now: datetime) -> None:
        """Queue replies; one already queued under the same key is left as it is."""
        if not intents:
            return
        when = native(self._conn)(now)
        _OUTBOX.run(self._conn, [
            (i.dedupe_key, i.member_id, i.in_reply_to, i.template,
             json.dumps(i.context, separators=(",", ":")), "pending", 0, when, when, i.thread, i.channel)
            for i in intents])

    def claim(self, now: datetime, limit: int, lease: timedelta, me: str,
              gone: Callable[[str], bool]) -> list[OutboxItem]:
        """Mark up to ``limit`` due replies as being sent by ``me`` and return them.

        A row left 'sending' belonged to a sender that died: it is due again once its lease has
        run out, or at once when ``gone`` says its sender no longer runs. X's duplicate-content
        check stops a second copy if the first one did go out.
        """
        senders = self._conn.execute(select(outbox_t.c.claimed_by).distinct()
                                     .where(outbox_t.c.status == "sending")).scalars().all()
        dead = [s for s in senders if s and s != me and gone(s)]
        due = or_(and_(outbox_t.c.status == "pending", outbox_t.c.next_attempt_at <= now),
                  and_(outbox_t.c.status == "sending",
                       or_(outbox_t.c.claimed_at < now - lease, outbox_t.c.claimed_by.in_(dead))))
        rows = self._conn.execute(
            select(outbox_t).where(due).order_by(outbox_t.c.id).limit(limit)
            .with_for_update(skip_locked=True)).all()
        if not rows:
            return []
        self._conn.execute(
            update(outbox_t).where(outbox_t.c.id.in_([r.id for r in rows]))
            .values(status="sending", claimed_at=now, claimed_by=me, attempts=outbox_t.c.attempts + 1))
        remember_x_ids(*(r.member_id for r in rows), *(r.in_reply_to for r in rows))
        return [OutboxItem(r.id, r.dedupe_key, r.member_id, r.in_reply_to, r.template,
                           json.loads(r.context), r.attempts + 1, r.thread, r.channel) for r in rows]

    def record(self, item_id: int, delivery: Delivery, now: datetime) -> None:
        """Store the result of sending a claimed reply."""
        values: dict[str, Any] = {"status": delivery.status, "last_error": (delivery.note or None)
                                  and delivery.note[:500]}
        if delivery.status == "sent":
            values.update(sent_post_id=delivery.post_id, sent_at=now)
        elif delivery.status == "pending":
            values.update(next_attempt_at=delivery.retry_at or now, claimed_at=None, claimed_by=None)
        self._conn.execute(update(outbox_t).where(outbox_t.c.id == item_id).values(**values))

    def cancel_for_member(self, member_id: str, reason: str) -> int:
        """Cancel every unsent reply to ``member_id``; return how many."""
        result = self._conn.execute(
            update(outbox_t)
            .where(outbox_t.c.member_id == member_id, outbox_t.c.status == "pending")
            .values(status="cancelled", last_error=reason))
        return result.rowcount

    def earlier_in_thread(self, thread: str, item_id: int) -> list[tuple[str, str | None]]:
        """Return (status, sent post id) of the replies queued in ``thread`` before ``item_id``,
        latest first."""
        rows = self._conn.execute(
            select(outbox_t.c.status, outbox_t.c.sent_post_id)
            .where(outbox_t.c.thread == thread, outbox_t.c.id < item_id).order_by(outbox_t.c.id.desc()))
        return [(status, post_id) for status, post_id in rows]

    def earlier_dm_unsent(self, member_id: str, item_id: int) -> bool:
        """Return True while a DM queued for ``member_id`` before ``item_id`` is still on its way."""
        c = outbox_t.c
        found = self._conn.execute(
            select(c.id).where(c.member_id == member_id, c.channel == "dm", c.id < item_id,
                               c.status.in_(("pending", "sending"))).limit(1)).first()
        return found is not None

    def listing(self, statuses: Sequence[str], limit: int) -> list[OutboxRecord]:
        """Return up to ``limit`` messages in ``statuses``, the latest first."""
        rows = self._conn.execute(select(outbox_t).where(outbox_t.c.status.in_(list(statuses)))
                                  .order_by(outbox_t.c.id.desc()).limit(limit))
        return [_outbox_record(r) for r in rows]

    def get(self, item_id: int) -> OutboxRecord | None:
        """Return message ``item_id``, if there is one."""
        row = self._conn.execute(select(outbox_t).where(outbox_t.c.id == item_id)).first()
        return None if row is None else _outbox_record(row)

    def requeue(self, item_id: int, now: datetime, *, attempts: int, note: str) -> bool:
        """Make a failed or undeliverable message due again, having made ``attempts`` attempts;
        False when it is in neither status (any more)."""
        result = self._conn.execute(
            update(outbox_t).where(outbox_t.c.id == item_id,
                                   outbox_t.c.status.in_(("failed", "undeliverable")))
            .values(status="pending", next_attempt_at=now, claimed_at=None, claimed_by=None,
                    attempts=attempts, last_error=note[:500]))
        return result.rowcount == 1

    def counts(self) -> dict[str, int]:
        """Return the number of replies in each status."""
        rows = self._conn.execute(select(outbox_t.c.status, func.count()).group_by(outbox_t.c.status))
        return {status: count for status, count in rows}


class CursorRepository:
    """Named positions, such as the mentions timeline's since_id."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, name: str) -> str | None:
        """Return the cursor ``name``, or None before the first poll."""
        return self._conn.execute(select(cursors_t.c.value).where(cursors_t.c.name == name)).scalar()

    def set(self, name: str, value: str, now: datetime) -> None:
        """Move cursor ``name`` to ``value``."""
        stmt = _insert(self._conn, cursors_t).values(name=name, value=value, updated_at=now)
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "updated_at": now}))


@dataclass(frozen=True)
class FileRecord:
    """A transaction file as the ledger knows it."""

    id: int
    sha256: str
    name: str
    status: str
    rows_done: int
    counters: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None
    phase: str = "stage"  # stage (reading the file) | decide (in time order) | done
    decided: Key | None = None  # the last transaction decided in this run
    run: int = 1  # 2 and up: `reconcile --again`
    credits_before: int = 0  # this run's credits are the file's credits with a greater seq
    earlier_runs: tuple[dict[str, Any], ...] = ()  # the summaries of the runs before


class Seen(NamedTuple):
    """Where a transaction id was kept, and (for a refund) what became of it."""

    file_id: int
    line: int
    kind: str
    refund_state: str | None


class LedgerRepository:
    """Transaction files, the transactions that mattered, credits and rejected rows."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def file(self, sha256: str) -> FileRecord | None:
        """Return the file with this SHA-256, if it was ever seen."""
        row = self._conn.execute(select(files_t).where(files_t.c.sha256 == sha256)).first()
        return None if row is None else _file_record(row)

    def latest_file(self) -> FileRecord | None:
        """Return the file most recently started."""
        row = self._conn.execute(select(files_t).order_by(files_t.c.id.desc()).limit(1)).first()
        return None if row is None else _file_record(row)

    def start_file(self, sha256: str, name: str, now: datetime, *, file_id: int | None = None) -> FileRecord:
        """Record a new file as running (or return the one with this SHA-256)."""
        values: dict[str, Any] = {} if file_id is None else {"id": file_id}
        self._conn.execute(_insert(self._conn, files_t).values(
            sha256=sha256, name=name, status="running", rows_done=0, counters="{}",
            started_at=now, **values).on_conflict_do_nothing(index_elements=["sha256"]))
        found = self.file(sha256)
        assert found is not None
        return found

    def last_file_id(self) -> int:
        """Return the highest file id given so far (0 for none)."""
        return int(self._conn.execute(select(func.coalesce(func.max(files_t.c.id), 0))).scalar_one())

    def start_again(self, record: FileRecord, now: datetime) -> FileRecord:
        """Open the next run of a reconciled file (`reconcile --again`), keeping the last run's summary."""
        before = self._conn.execute(select(func.coalesce(func.max(credits_t.c.seq), 0))).scalar_one()
        self._conn.execute(update(files_t).where(files_t.c.id == record.id).values(
            status="running", phase="stage", rows_done=0, counters="{}", decided_day=None,
            decided_id=None, run=record.run + 1, credits_before=int(before), started_at=now,
            finished_at=None, earlier_runs=json.dumps([*record.earlier_runs, record.counters])))
        found = self.file(record.sha256)
        assert found is not None
        return found

    def enter_phase(self, file_id: int, phase: str) -> None:
        """Move a running file to its next phase (decide, once every row is staged)."""
        self._conn.execute(update(files_t).where(files_t.c.id == file_id).values(phase=phase))

    def save_cursor(self, file_id: int, decided: Key | None, counters: Mapping[str, Any]) -> None:
        """Store the last transaction decided and the counters so far."""
        day, tid = decided if decided is not None else (None, None)
        self._conn.execute(update(files_t).where(files_t.c.id == file_id).values(
            decided_day=day, decided_id=tid, counters=json.dumps(counters)))

    def finish_file(self, file_id: int, counters: Mapping[str, Any], now: datetime) -> None:
        """Mark the file reconciled (its new credits' notices are then due) and drop its staged rows."""
        self._conn.execute(update(files_t).where(files_t.c.id == file_id).values(
            status="reconciled", phase="done", counters=json.dumps(counters), finished_at=now,
            notices_done=False))
        others = self._conn.execute(select(staged_t.c.file_id).where(staged_t.c.file_id != file_id)
                                    .limit(1)).first()
        # Without a WHERE, SQLite empties the table at once instead of deleting row by row.
        self._conn.execute(delete(staged_t) if others is None else
                           delete(staged_t).where(staged_t.c.file_id == file_id))

    def file_names(self, file_ids: Iterable[int]) -> dict[int, str]:
        """Return the name of each of these files."""
        wanted = sorted(set(file_ids))
        if not wanted:
            return {}
        rows = self._conn.execute(select(files_t.c.id, files_t.c.name).where(files_t.c.id.in_(wanted)))
        return {file_id: name for file_id, name in rows}

    def save_progress(self, file_id: int, rows_done: int, counters: Mapping[str, Any]) -> None:
        """Store how many of the file's rows were read, and its counters."""
        self._conn.execute(update(files_t).where(files_t.c.id == file_id).values(
            rows_done=rows_done, counters=json.dumps(counters)))

    def seen(self, transaction_ids: Sequence[str]) -> dict[str, Seen]:
        """Return where each of ``transaction_ids`` was kept, for those kept before."""
        return {tid: Seen(fid, line, kind, state)
                for tid, fid, line, kind, state in _SEEN.run(self._conn, transaction_ids)}

    def add_transactions(self, rows: Sequence[tuple[Any, ...]], *, replace: bool = False) -> None:
        """Keep the transactions that matter, with their outcomes (``replace``: over earlier ones).

        Each row: transaction_id, file_id, line, member_id, merchant_id, cents, currency, day,
        kind, original_id, outcomes, refund_state.
        """
        if not rows:
            return
        if replace:
            for where in _key_in(self._conn, transactions_t.c.transaction_id, [r[0] for r in rows]):
                self._conn.execute(delete(transactions_t).where(where))
        day = _day_writer(self._conn)
        _TRANSACTIONS.run(self._conn, rows if day is None else [(*r[:7], day(r[7]), *r[8:]) for r in rows])

    def outcomes_of(self, file_id: int, transaction_ids: Sequence[str]) -> dict[str, str]:
        """Return the outcomes kept for these transactions of one file."""
        found: dict[str, str] = {}
        for where in _key_in(self._conn, transactions_t.c.transaction_id, transaction_ids):
            rows = self._conn.execute(select(transactions_t.c.transaction_id, transactions_t.c.outcomes)
                                      .where(where, transactions_t.c.file_id == file_id))
            found.update({tid: text for tid, text in rows})
        return found

    def update_transactions(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store new outcomes for kept transactions (rows as add_transactions takes them)."""
        if rows:
            self._conn.execute(_UPDATE_OUTCOMES, [{"tid": r[0], "outcomes": r[10], "state": r[11]}
                                                  for r in rows])

    # The file being reconciled: its relevant rows, staged to be decided in time order.

    def stage(self, file_id: int, txns: Sequence[Txn]) -> None:
        """Stage a batch of the file's relevant rows (each transaction id once)."""
        if txns:
            day = _day_writer(self._conn) or (lambda d: d)
            _STAGED.run(self._conn, [(file_id, day(t.day), *t[1:6], t.currency, t.kind, t.original_id, t.line)
                                     for t in txns])

    def staged_lines(self, file_id: int, transaction_ids: Sequence[str]) -> dict[str, int]:
        """Return the line each of ``transaction_ids`` was staged from, for those staged."""
        return {tid: line for tid, line in _STAGED_LINES.run(self._conn, transaction_ids, file_id)}

    def staged_count(self, file_id: int) -> int:
        """Return how many rows of the file are staged."""
        return int(self._conn.execute(select(func.count()).where(staged_t.c.file_id == file_id)).scalar_one())

    def staged_after(self, file_id: int, after: Key | None, limit: int) -> list[Txn]:
        """Return up to ``limit`` staged rows after ``after``, in decision order (day, then id)."""
        query = _STAGED_AFTER if after is not None else _STAGED_FIRST
        params: dict[str, Any] = {"file_id": file_id, "limit": limit}
        if after is not None:
            params |= {"day": native(self._conn)(after[0]), "tid": after[1]}
        day = _day_reader()
        return [Txn(line, tid, member, last4, mid, cents, currency, day(d), kind, original)
                for line, tid, member, last4, mid, cents, currency, d, kind, original
                in query.rows(self._conn, params)]

    # Refunds waiting for their purchase.

    def add_pending(self, refunds: Sequence[tuple[Txn, int]]) -> None:
        """Keep refunds (with the file each came in) waiting for their purchase."""
        if not refunds:
            return
        rows = [{"transaction_id": t.transaction_id, "file_id": file_id, "line": t.line,
                 "member_id": t.member_id, "last4": t.last4, "merchant_id": t.merchant_id,
                 "cents": t.cents, "currency": t.currency, "day": t.day, "original_id": t.original_id}
                for t, file_id in refunds]
        stmt = _insert(self._conn, pending_t)
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["transaction_id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "transaction_id"}), rows)

    def remove_pending(self, transaction_ids: Sequence[str]) -> None:
        """Stop keeping these refunds as waiting (applied, expired or decided again)."""
        for where in _key_in(self._conn, pending_t.c.transaction_id, list(transaction_ids)):
            self._conn.execute(delete(pending_t).where(where))

    def pending_members(self, since: date | None) -> set[str]:
        """Return the members with a refund waiting (dated ``since`` or later)."""
        query = select(pending_t.c.member_id).distinct()
        if since is not None:
            query = query.where(pending_t.c.day >= since)
        return set(self._conn.execute(query).scalars())

    def pending_between(self, exclude_file: int, after: Key | None, upto: Key | None,
                        since: date | None) -> list[tuple[Txn, int]]:
        """Return the waiting refunds of other files placed after ``after`` up to ``upto``, in order."""
        where = [pending_t.c.file_id != exclude_file]
        if after is not None:
            where.append(tuple_(pending_t.c.day, pending_t.c.transaction_id) > tuple_(*after))
        if upto is not None:
            where.append(tuple_(pending_t.c.day, pending_t.c.transaction_id) <= tuple_(*upto))
        return self._pending(where, since)

    def pending_of(self, member_ids: Sequence[str], upto: Key, since: date | None) -> list[tuple[Txn, int]]:
        """Return these members' waiting refunds placed up to ``upto``, in decision order."""
        found: list[tuple[Txn, int]] = []
        for where in _key_in(self._conn, pending_t.c.member_id, member_ids):
            placed = tuple_(pending_t.c.day, pending_t.c.transaction_id) <= tuple_(*upto)
            found += self._pending([where, placed], since)
        return sorted(found, key=lambda item: (item[0].day, item[0].transaction_id))

    def pending_before(self, day: date) -> list[tuple[Txn, int]]:
        """Return the waiting refunds dated before ``day`` (past their window)."""
        return self._pending([pending_t.c.day < day], None)

    def _pending(self, where: list[ColumnElement[bool]], since: date | None) -> list[tuple[Txn, int]]:
        if since is not None:
            where = [*where, pending_t.c.day >= since]
        rows = self._conn.execute(select(pending_t).where(*where)
                                  .order_by(pending_t.c.day, pending_t.c.transaction_id))
        return [(Txn(r.line, r.transaction_id, r.member_id, r.last4, r.merchant_id, r.cents, r.currency,
                     r.day, "refund", r.original_id), r.file_id) for r in rows]

    def add_credits(self, credits: Sequence[Credit], file_id: int, now: datetime) -> None:
        """Record credits and clawbacks; one already recorded (a rerun) is left as it is."""
        if not credits:
            return
        when = native(self._conn)(now)
        day = _day_writer(self._conn) or (lambda d: d)
        _CREDITS.run(self._conn, [
            (c.credit_id, c.transaction_id, c.campaign_id, c.member_id, c.kind, c.cents, c.currency,
             c.last4, c.basis_cents, c.merchant_id, day(c.day), c.reverses, file_id, when)
            for c in credits])

    def update_refunds(self, items: Iterable[CreditedPurchase]) -> None:
        """Store how much of each credited purchase was refunded and clawed back."""
        rows = [{"tid": i.credit.transaction_id, "cid": i.credit.campaign_id, "k": i.credit.kind,
                 "refunded": i.refunded_cents, "reversed": i.reversed_cents} for i in items]
        if rows:
            self._conn.execute(_UPDATE_REFUNDS, rows)

    def copy_refund_state(self, items: Iterable[CreditedPurchase], file_id: int, now: datetime) -> None:
        """Store whole credits with how much was refunded and clawed back (a dry run's own copy)."""
        rows = [{**i.credit._asdict(), "refunded_cents": i.refunded_cents, "reversed_cents": i.reversed_cents,
                 "file_id": file_id, "created_at": now} for i in items]
        if rows:
            stmt = _insert(self._conn, credits_t)
            self._conn.execute(stmt.on_conflict_do_update(
                index_elements=["transaction_id", "campaign_id", "kind"],
                set_={k: stmt.excluded[k] for k in ("refunded_cents", "reversed_cents")}), rows)

    def credited_purchases(self, purchase_ids: Sequence[str]) -> list[CreditedPurchase]:
        """Return the credits given on these purchases."""
        found = []
        for where in _key_in(self._conn, credits_t.c.transaction_id, purchase_ids, 5000):
            found.extend(self._purchases(where))
        return found

    def refundable(self, member_ids: Sequence[str], since: date) -> list[CreditedPurchase]:
        """Return these members' credited purchases on or after ``since`` not yet refunded."""
        # Through the member's kept transactions (indexed by member): an index on credits by
        # member would cost every insert, for the few refunds that name no purchase.
        found = []
        for where in _key_in(self._conn, transactions_t.c.member_id, member_ids):
            found.extend(self._purchases(
                credits_t.c.transaction_id.in_(
                    select(transactions_t.c.transaction_id).where(
                        where, transactions_t.c.day >= since,
                        transactions_t.c.kind == "purchase")),
                credits_t.c.refunded_cents == 0))
        return found

    def _purchases(self, *where: Any) -> list[CreditedPurchase]:
        rows = self._conn.execute(select(credits_t).where(credits_t.c.kind == "credit", *where))
        return [CreditedPurchase(_credit(r), r.refunded_cents, r.reversed_cents) for r in rows]

    def credits_held(self) -> dict[tuple[str, str], int]:
        """Return how many credits each (member, campaign) holds, net of full reversals."""
        rows = self._conn.execute(
            select(credits_t.c.member_id, credits_t.c.campaign_id, func.count())
            .where(credits_t.c.kind == "credit", credits_t.c.reversed_cents < credits_t.c.cents)
            .group_by(credits_t.c.member_id, credits_t.c.campaign_id))
        return {(member, campaign): count for member, campaign, count in rows}

    def spent(self) -> dict[str, int]:
        """Return cents credited net of clawbacks, per campaign (the counter budgets guard)."""
        rows = self._conn.execute(select(campaigns_t.c.id, campaigns_t.c.spent_cents))
        return {campaign: int(total) for campaign, total in rows}

    def export_rows(self, file_id: int, after: int = 0
                    ) -> Iterator[tuple[str, str, str, int, str, str, str, str | None]]:
        """Yield a file's credits (those after seq ``after``) for the export, streamed: id,
        transaction, campaign, cents, currency, last4, kind, reversed credit (no dates, so
        nothing to convert per row)."""
        c = credits_t.c
        rows = self._conn.execute(
            select(c.credit_id, c.transaction_id, c.campaign_id, c.cents, c.currency, c.last4, c.kind,
                   c.reverses).where(c.file_id == file_id, c.seq > after).order_by(c.seq))
        for row in rows:
            yield tuple(row)

    def notices_due(self) -> tuple[int, int] | None:
        """Return (file id, credit seq queued last) of the oldest reconciled file whose credit
        notices are not all queued yet."""
        row = self._conn.execute(
            select(files_t.c.id, files_t.c.notices_after)
            .where(files_t.c.status == "reconciled", files_t.c.notices_done.is_(False))
            .order_by(files_t.c.id).limit(1)).first()
        return None if row is None else (row.id, row.notices_after)

    def credits_after(self, file_id: int, after: int, limit: int) -> list[tuple[int, Credit]]:
        """Return up to ``limit`` (seq, credit) of a file's credits after seq ``after``."""
        rows = self._conn.execute(
            select(credits_t).where(credits_t.c.file_id == file_id, credits_t.c.seq > after)
            .order_by(credits_t.c.seq).limit(limit))
        return [(r.seq, _credit(r)) for r in rows]

    def notices_queued(self, file_id: int, last: int, *, done: bool) -> None:
        """Move a file's notice cursor (and say when all its notices are queued)."""
        self._conn.execute(update(files_t).where(files_t.c.id == file_id)
                           .values(notices_after=last, notices_done=done))

    def reversed_credits(self, clawbacks: Sequence[Credit]) -> dict[str, Credit]:
        """Return the credits these clawbacks reverse, by credit id.

        Found through the members' kept purchases (indexed by member, then the credits' unique
        index), not by credit id, which has no index of its own.
        """
        wanted = {c.reverses for c in clawbacks if c.reverses}
        members = sorted({c.member_id for c in clawbacks if c.reverses})
        found: dict[str, Credit] = {}
        for where in _key_in(self._conn, transactions_t.c.member_id, members):
            rows = self._conn.execute(select(credits_t).where(
                credits_t.c.kind == "credit",
                credits_t.c.transaction_id.in_(select(transactions_t.c.transaction_id).where(
                    where, transactions_t.c.kind == "purchase"))))
            found.update({r.credit_id: _credit(r) for r in rows if r.credit_id in wanted})
        return found

    def credits_of(self, member_id: str, campaign_id: str) -> list[Credit]:
        """Return a member's credits and clawbacks in a campaign."""
        rows = self._conn.execute(select(credits_t).where(
            credits_t.c.member_id == member_id, credits_t.c.campaign_id == campaign_id)
            .order_by(credits_t.c.day, credits_t.c.transaction_id))
        return [_credit(r) for r in rows]

    def transactions_of(self, member_id: str) -> list[Mapping[str, Any]]:
        """Return the kept transactions of a member, oldest first."""
        rows = self._conn.execute(select(transactions_t).where(transactions_t.c.member_id == member_id)
                                  .order_by(transactions_t.c.day, transactions_t.c.line))
        return [dict(r._mapping) for r in rows]

    def add_rejects(self, file_id: int, rejects: Sequence[Reject]) -> None:
        """Record rejected rows (a rerun of the same rows changes nothing)."""
        _REJECTS.run(self._conn, [(file_id, r.line, r.column, r.reason[:300], r.transaction_id[:64])
                                  for r in rejects])

    def rejects_of_file(self, file_id: int) -> list[Reject]:
        """Return a file's rejected rows by line."""
        rows = self._conn.execute(select(rejects_t).where(rejects_t.c.file_id == file_id)
                                  .order_by(rejects_t.c.line))
        return [Reject(r.line, r.column, r.reason, r.transaction_id) for r in rows]

    def add_spent(self, deltas: Mapping[str, int]) -> list[str]:
        """Move each campaign's spent total by the given cents, never past its budget.

        One conditional UPDATE per campaign (never read-then-write); returns the campaigns
        whose budget the increase would have passed, which were left unchanged.
        """
        refused = []
        for campaign_id, delta in deltas.items():
            if delta and self._conn.execute(_ADD_SPENT, {"campaign_id": campaign_id,
                                                         "delta": delta}).rowcount != 1:
                refused.append(campaign_id)
        return refused


_TRANSACTIONS = _Bulk(transactions_t, (
    "transaction_id", "file_id", "line", "member_id", "merchant_id", "cents", "currency", "day", "kind",
    "original_id", "outcomes", "refund_state"))
_UPDATE_OUTCOMES = (update(transactions_t).where(transactions_t.c.transaction_id == bindparam("tid"))
                    .values(outcomes=bindparam("outcomes"), refund_state=bindparam("state")))
_STAGED = _Bulk(staged_t, ("file_id", "day", "transaction_id", "member_id", "last4", "merchant_id", "cents",
                           "currency", "kind", "original_id", "line"))
_STAGED_LINES = _InLookup(staged_t, "transaction_id", ("transaction_id", "line"), scope="file_id")
_CREDITS = _Bulk(credits_t, (
    "credit_id", "transaction_id", "campaign_id", "member_id", "kind", "cents", "currency", "last4",
    "basis_cents", "merchant_id", "day", "reverses", "file_id", "created_at"),
    ignore_conflicts=["transaction_id", "campaign_id", "kind"])
_SEEN = _InLookup(transactions_t, "transaction_id", ("transaction_id", "file_id", "line", "kind",
                                                    "refund_state"))
_VERSIONS = _InLookup(posts_t, "interaction_id", ("interaction_id", "post_id", "hashtags"))
_REJECTS = _Bulk(rejects_t, ("file_id", "line", "column", "reason", "transaction_id"),
                 ignore_conflicts=["file_id", "line"])
_UPDATE_REFUNDS = (update(credits_t).where(credits_t.c.transaction_id == bindparam("tid"),
                                           credits_t.c.campaign_id == bindparam("cid"),
                                           credits_t.c.kind == bindparam("k"))
                   .values(refunded_cents=bindparam("refunded"), reversed_cents=bindparam("reversed")))
_ADD_SPENT = (update(campaigns_t)
              .where(campaigns_t.c.id == bindparam("campaign_id"),
                     or_(campaigns_t.c.budget_cents.is_(None), bindparam("delta") <= 0,
                         campaigns_t.c.spent_cents + bindparam("delta") <= campaigns_t.c.budget_cents))
              .values(spent_cents=campaigns_t.c.spent_cents + bindparam("delta")))


def _outbox_record(r: Any) -> OutboxRecord:
    return OutboxRecord(r.id, r.dedupe_key, r.channel, r.member_id, r.template, r.status, r.attempts,
                        r.created_at, r.claimed_at, r.next_attempt_at, r.sent_at, r.last_error)


class _Query:
    """A SELECT compiled once per dialect, its rows read as plain tuples from the driver's cursor."""

    def __init__(self, statement: Any) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
        """Yield the rows for ``params`` (parameters the dialect added, such as OFFSET, as compiled)."""
        found = self._compiled.get(conn.dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=conn.dialect)
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            self._compiled[conn.dialect.name] = found = (str(compiled), order, dict(compiled.params))
        sql, order, defaults = found
        values = defaults | dict(params)
        cursor = conn.exec_driver_sql(sql, tuple(values[n] for n in order) if order is not None
                                      else values).cursor
        assert cursor is not None
        while chunk := cursor.fetchmany(10_000):
            yield from chunk


def _day_reader() -> Callable[[Any], date]:
    """Return a converter of the driver's dates (SQLite gives text), remembering each day it read."""
    days: dict[Any, date] = {}

    def read(value: Any) -> date:
        if isinstance(value, date):
            return value
        found = days.get(value)
        if found is None:
            found = days[value] = date.fromisoformat(value)
        return found
    return read


_staged_order = staged_t.c.day, staged_t.c.transaction_id
_STAGED_COLUMNS = select(staged_t.c.line, staged_t.c.transaction_id, staged_t.c.member_id, staged_t.c.last4,
                         staged_t.c.merchant_id, staged_t.c.cents, staged_t.c.currency, staged_t.c.day,
                         staged_t.c.kind, staged_t.c.original_id)
_STAGED_FIRST = _Query(_STAGED_COLUMNS.where(staged_t.c.file_id == bindparam("file_id"))
                       .order_by(*_staged_order).limit(bindparam("limit")))
_STAGED_AFTER = _Query(_STAGED_COLUMNS.where(
    staged_t.c.file_id == bindparam("file_id"),
    tuple_(*_staged_order) > tuple_(bindparam("day", type_=staged_t.c.day.type), bindparam("tid")))
    .order_by(*_staged_order).limit(bindparam("limit")))


def _file_record(row: Any) -> FileRecord:
    decided = (row.decided_day, row.decided_id) if row.decided_id is not None else None
    return FileRecord(row.id, row.sha256, row.name, row.status, row.rows_done, json.loads(row.counters),
                      row.started_at, row.finished_at, row.phase, decided, row.run, row.credits_before,
                      tuple(json.loads(row.earlier_runs)))


def _credit(r: Any) -> Credit:
    return Credit(r.credit_id, r.transaction_id, r.campaign_id, r.member_id, r.kind, r.cents, r.currency,
                  r.last4, r.basis_cents, r.merchant_id, r.day, r.reverses)


class SqlUnitOfWork:
    """One database transaction: rolled back on leaving unless ``commit()`` was called."""

    members: MemberRepository
    campaigns: CampaignRepository
    enrolments: EnrolmentRepository
    posts: PostRepository
    outbox: OutboxRepository
    cursors: CursorRepository
    ledger: LedgerRepository

    def __init__(self, engine: Engine, *, readonly: bool = False) -> None:
        self._engine = engine
        self._readonly = readonly

    def __enter__(self) -> Self:
        conn = self._engine.connect()
        if self._readonly:
            conn = conn.execution_options(**{READONLY: True})
        self._conn = conn
        self._tx = conn.begin()
        self.members = MemberRepository(conn)
        self.campaigns = CampaignRepository(conn)
        self.enrolments = EnrolmentRepository(conn)
        self.posts = PostRepository(conn)
        self.outbox = OutboxRepository(conn)
        self.cursors = CursorRepository(conn)
        self.ledger = LedgerRepository(conn)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self._conn.close()

    def commit(self) -> None:
        """Make the transaction's writes permanent."""
        self._tx.commit()


def unit_of_work_factory(engine: Engine) -> UnitOfWorkFactory:
    """Return a callable that opens a new unit of work (``readonly=True`` for reads)."""

    def start(*, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, readonly=readonly)

    return start
