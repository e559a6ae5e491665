"""Members: linked X accounts (members), the history of their card links (card_links) and the
fingerprint keys their cards were fingerprinted with (fingerprint_keys). The only writer of the three."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo

from sqlalchemy import Connection, bindparam, func, select, update

from bot.adapters.sql.tables import card_links_t, keys_t, members_t
from bot.adapters.sql.toolkit import key_in, raw_rows, upsert
from bot.domain.cards import CardRef, KeyCheck
from bot.domain.members import CardIndex, CardLink, LinkEnd, LinkPeriod, Member, NewLink, link_period


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
        for where in key_in(self._conn, members_t.c.user_id, list(dict.fromkeys(user_ids))):
            rows = self._conn.execute(select(members_t).where(where))
            for row in rows:
                card = CardRef(row.card_fingerprint, row.card_last4) if row.card_fingerprint else None
                found[row.user_id] = Member(row.user_id, row.handle, card, row.linked_at, row.opted_out_at,
                                            row.key_id)
        return found

    def card_owners(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """Return the user id each of ``fingerprints`` is linked to, where it is linked."""
        found: dict[str, str] = {}
        for where in key_in(self._conn, members_t.c.card_fingerprint, fingerprints):
            rows = self._conn.execute(select(members_t.c.card_fingerprint, members_t.c.user_id)
                                      .where(where))
            found.update({row.card_fingerprint: row.user_id for row in rows})
        return found

    def link_many(self, links: Sequence[NewLink], now: datetime, *, key: KeyCheck | None = None) -> None:
        """Link each account to its card, made with ``key``: a new current link, the member's
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
        rows = [{"user_id": link.user_id, "handle": link.handle, "card_fingerprint": link.card.fingerprint,
                 "card_last4": link.card.last4, "linked_at": now, "unlinked_at": None, "key_id": key_id,
                 "opted_out_at": None}
                for link in links]
        stmt = upsert(self._conn, members_t)
        # Members first: the row lock it takes orders two concurrent links of one member, so the
        # second closes the link the first opened.
        self._conn.execute(stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "user_id"}), rows)
        self._end_links([link.user_id for link in links], now, LinkEnd.REPLACED)
        self._conn.execute(card_links_t.insert(), [
            {"member_id": link.user_id, "fingerprint": link.card.fingerprint, "last4": link.card.last4,
             "key_id": key_id, "linked_at": now} for link in links])

    _RELINK_MEMBER = (update(members_t).where(members_t.c.user_id == bindparam("b_uid"))
                      .values(handle=bindparam("b_handle"), card_fingerprint=bindparam("b_fp"),
                              card_last4=bindparam("b_last4"), key_id=bindparam("b_key")))
    _RELINK_LINK = (update(card_links_t)
                    .where(card_links_t.c.member_id == bindparam("b_uid"),
                           card_links_t.c.unlinked_at.is_(None))
                    .values(fingerprint=bindparam("b_fp"), last4=bindparam("b_last4"),
                            key_id=bindparam("b_key")))

    def relink_in_place(self, links: Sequence[NewLink], now: datetime, *, key: KeyCheck) -> None:
        """Update the handle, or the fingerprint (the same card under a new key), of current links.

        The link itself goes on: its start date, which decides what it covers, is kept.
        """
        if not links:
            return
        self.record_key(key, now)
        rows = [{"b_uid": link.user_id, "b_handle": link.handle, "b_fp": link.card.fingerprint,
                 "b_last4": link.card.last4, "b_key": key.key_id} for link in links]
        self._conn.execute(self._RELINK_MEMBER, rows)
        self._conn.execute(self._RELINK_LINK, rows)

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
        for where in key_in(self._conn, card_links_t.c.member_id, user_ids):
            self._conn.execute(update(card_links_t).where(where, card_links_t.c.unlinked_at.is_(None))
                               .values(unlinked_at=now, ended_by=ended_by.value))

    def opt_out(self, user_id: str, handle: str | None, now: datetime) -> None:
        """Record that ``user_id`` sent STOP (kept from the first STOP until a renewed consent).

        Recorded for accounts the bot has never linked too, so no later import links them.
        """
        stmt = upsert(self._conn, members_t).values(user_id=user_id, handle=(handle or "")[:15],
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
        return dict(raw_rows(self._conn, "SELECT card_fingerprint, user_id FROM members "
                                         "WHERE card_fingerprint IS NOT NULL"))

    def card_index(self, tz: tzinfo) -> CardIndex:
        """Return who owns each card, as reconciliation matches them (see CardIndex), days in ``tz``."""
        current = self.fingerprint_index()
        history = self.card_history(tz)
        for fingerprint in history:
            current.pop(fingerprint, None)
        return CardIndex(current, history)

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
        self._conn.execute(upsert(self._conn, keys_t).values(
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
