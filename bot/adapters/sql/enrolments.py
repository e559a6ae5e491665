"""Enrolments: who is enrolled in what, by which post. The only writer of the enrolments table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, tzinfo

from sqlalchemy import Connection, select

from bot.adapters.sql.bulk_insert import BulkInsert
from bot.adapters.sql.tables import enrolments_t
from bot.adapters.sql.toolkit import key_in, native, raw_rows
from bot.domain.enrolment import Enrolment


class EnrolmentRepository:
    """Who is enrolled in what."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def campaigns_of(self, member_ids: Iterable[str]) -> dict[str, set[str]]:
        """Return the campaign ids each of ``member_ids`` is enrolled in."""
        found: dict[str, set[str]] = defaultdict(set)
        for where in key_in(self._conn, enrolments_t.c.member_id, list(dict.fromkeys(member_ids))):
            rows = self._conn.execute(
                select(enrolments_t.c.member_id, enrolments_t.c.campaign_id).where(where))
            for row in rows:
                found[row.member_id].add(row.campaign_id)
        return found

    # Built once: constructing a SQL expression costs more than running it on SQLite.
    _ADD = BulkInsert(enrolments_t, ("member_id", "campaign_id", "post_id", "enrolled_at"))

    def add_many(self, enrolments: Sequence[Enrolment]) -> None:
        """Record new enrolments."""
        if enrolments:
            when = native(self._conn)
            self._ADD.run(self._conn, [(e.member_id, e.campaign_id, e.post_id, when(e.enrolled_at))
                                       for e in enrolments])

    def days_by_key(self, tz: tzinfo) -> dict[str, date]:
        """Return the enrolment day of every enrolment, by enrolment_key(member, campaign).

        The day is the calendar day in ``tz``, the zone campaign dates are read in. Members who
        unlinked are included: with no card on file, none of their transactions reach the rules.
        """
        # Straight from the driver: SQLAlchemy's datetime parsing would cost more than the query.
        rows = raw_rows(self._conn, "SELECT member_id, campaign_id, enrolled_at FROM enrolments")
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
        for where in key_in(self._conn, enrolments_t.c.member_id, sorted({m for m, _ in wanted})):
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
