"""Member sync: link an X account to a card, import many, unlink.

An import keeps the good rows and reports every bad one (all-or-nothing only for a file refused
whole: not UTF-8, or a column missing). Each row is judged the same wherever it is in the file:
against the links as they were when the import began, plus the rows above it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import NamedTuple

from bot.adapters.member_csv import read_member_file
from bot.clock import Clock
from bot.domain.cards import CardNumberInvalid, CardRef, Fingerprinter, normalise_card_number
from bot.domain.members import MemberInvalid, NewLink, normalise_handle, normalise_user_id
from bot.errors import MemberError
from bot.ports import UnitOfWorkFactory

logger = logging.getLogger(__name__)
IMPORT_COLUMNS = ("user_id", "handle", "card_number")
_BATCH = 1000


@dataclass(frozen=True)
class RowProblem:
    """A row that was not imported, and why (never with its card number)."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.column}: {self.reason}" if self.column else \
            f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class OptedOut:
    """A row of a member who sent STOP: skipped, since only their renewed consent re-links them."""

    line: int
    user_id: str
    day: str  # the opt-out's date, YYYY-MM-DD

    def __str__(self) -> str:
        return f"line {self.line}: opted out on {self.day}, skipped"


@dataclass
class ImportReport:
    """What an import did: every data row is linked, unchanged, skipped (opted out) or a problem."""

    linked: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    skipped: list[OptedOut] = field(default_factory=list)
    rekeyed: int = 0  # of the linked: the same card, fingerprinted again with the current key

    def lines(self, file: Path | str) -> Iterator[str]:
        """Yield one 'FILE:line N: ...' line per rejected row, then per skipped row, each in line order."""
        for problem in sorted(self.problems, key=lambda p: p.line):
            yield f"{file}:{problem}"
        for skipped in sorted(self.skipped, key=lambda s: s.line):
            yield f"{file}:{skipped}"

    def describe(self) -> str:
        """Return the summary line, e.g. '2 linked, 0 unchanged, 1 rejected, 1 opted out (skipped)'."""
        moved = f" ({self.rekeyed} moved to the current fingerprint key)" if self.rekeyed else ""
        return (f"{self.linked} linked{moved}, {self.unchanged} unchanged, {len(self.problems)} rejected, "
                f"{len(self.skipped)} opted out (skipped)")


class _Row(NamedTuple):
    line: int
    user_id: str
    handle: str
    card: CardRef
    previous: str | None  # the card's fingerprint under the previous key, during a rotation


def link_member(uow: UnitOfWorkFactory, fingerprinter: Fingerprinter, clock: Clock,
                user_id: str, handle: str, card_number: str, *, previous: Fingerprinter | None = None,
                renewed_consent: bool = False, tz: tzinfo = UTC) -> CardRef:
    """Link one X account to a card; return what is kept of the card.

    A member who sent STOP is linked again only with ``renewed_consent`` (which clears the opt-out).
    """
    report = import_members(uow, fingerprinter, clock, [
        (1, {"user_id": user_id, "handle": handle, "card_number": card_number})],
        previous=previous, renewed_consent=renewed_consent, tz=tz)
    if report.problems:
        raise MemberError(report.problems[0].reason)
    if report.skipped:
        raise MemberError(f"X user {report.skipped[0].user_id} opted out (STOP) on {report.skipped[0].day}; "
                          "link them again only with their renewed consent: "
                          "`offerbot sync add --renewed-consent ...`")
    with uow(readonly=True) as tx:
        member = tx.members.get(normalise_user_id(user_id))
    assert member is not None and member.card is not None
    return member.card


def import_member_file(uow: UnitOfWorkFactory, fingerprinter: Fingerprinter, clock: Clock, path: Path, *,
                       previous: Fingerprinter | None = None, tz: tzinfo = UTC) -> ImportReport:
    """Import the member file at ``path`` (see ``import_members``).

    A file that is not UTF-8 from end to end, or whose header lacks a column, is refused whole
    (FileRejected) before any row is linked.
    """
    return import_members(uow, fingerprinter, clock, read_member_file(path, IMPORT_COLUMNS),
                          previous=previous, tz=tz)


def import_members(uow: UnitOfWorkFactory, fingerprinter: Fingerprinter, clock: Clock,
                   rows: Iterable[tuple[int, Mapping[str, str] | str]], *,
                   previous: Fingerprinter | None = None, renewed_consent: bool = False,
                   tz: tzinfo = UTC) -> ImportReport:
    """Link each (line, row) with user_id, handle and card_number; report bad rows, keep going.

    A row given as a string is one the file reader could not read, and the string says why.
    Rows are linked a batch at a time; should a batch fail (the database gone), the error says
    how many rows were linked before it, and importing the file again finishes the job.

    Members who sent STOP are skipped (reported with the date) unless ``renewed_consent``. Links
    are always made with ``fingerprinter``'s key; during a rotation ``previous`` recognises cards
    linked with the old key, so importing the member file again moves them to the new one.
    """
    report = ImportReport()
    batch: list[_Row] = []
    seen_users: dict[str, int] = {}
    seen_cards: dict[str, int] = {}
    # Cards this import moved off their account, by that account: still theirs to a later batch,
    # as they are to the rest of the batch that moved them, so a batch boundary changes nothing.
    released: dict[str, str] = {}
    for line, row in rows:
        parsed = _parse_row(line, row, fingerprinter, previous, report)
        if parsed is None:
            continue
        if parsed.user_id in seen_users:
            report.problems.append(RowProblem(
                line, "user_id", f"user id {parsed.user_id} is also on line {seen_users[parsed.user_id]}; "
                "keep one row per member"))
            continue
        if parsed.card.fingerprint in seen_cards:
            report.problems.append(RowProblem(
                line, "card_number", f"the same card is also on line {seen_cards[parsed.card.fingerprint]}; "
                "a card links to one account: keep the row of its holder"))
            continue
        seen_users[parsed.user_id], seen_cards[parsed.card.fingerprint] = line, line
        batch.append(parsed)
        if len(batch) >= _BATCH:
            _link_batch_saying_so(uow, fingerprinter, clock, batch, report, renewed_consent, tz, released)
            batch = []
    _link_batch_saying_so(uow, fingerprinter, clock, batch, report, renewed_consent, tz, released)
    return report


_NORMALISE: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("user_id", normalise_user_id), ("handle", normalise_handle), ("card_number", normalise_card_number))


def _parse_row(line: int, row: Mapping[str, str] | str, fingerprinter: Fingerprinter,
               previous: Fingerprinter | None, report: ImportReport) -> _Row | None:
    if isinstance(row, str):  # the file reader could not split this row (bad quoting): why
        report.problems.append(RowProblem(line, "", row))
        return None
    values: dict[str, str] = {}
    for column, normalise in _NORMALISE:  # the first bad field is the row's problem
        try:
            values[column] = normalise(row.get(column) or "")
        except (MemberInvalid, CardNumberInvalid) as exc:
            report.problems.append(RowProblem(line, column, str(exc)))
            return None
    user_id, handle, digits = (values[column] for column in IMPORT_COLUMNS)
    old = None if previous is None else previous.fingerprint(digits)
    return _Row(line, user_id, handle, fingerprinter.card_ref(digits), old)


def _link_batch_saying_so(uow: UnitOfWorkFactory, fingerprinter: Fingerprinter, clock: Clock,
                          batch: list[_Row], report: ImportReport, renewed_consent: bool, tz: tzinfo,
                          released: dict[str, str]) -> None:
    """Link one batch; a failure names what earlier batches linked, so no partial import is silent."""
    try:
        _link_batch(uow, fingerprinter, clock, batch, report, renewed_consent, tz, released)
    except BaseException as exc:  # Ctrl-C too
        if report.linked:  # counted once a batch is committed
            exc.add_note(f"the member import stopped at line {batch[0].line}; the {report.linked} rows "
                         "linked above it are kept: import the file again to finish (they then count "
                         "as unchanged)")
        raise


def _link_batch(uow: UnitOfWorkFactory, fingerprinter: Fingerprinter, clock: Clock, batch: list[_Row],
                report: ImportReport, renewed_consent: bool, tz: tzinfo, released: dict[str, str]) -> None:
    if not batch:
        return
    with uow() as tx:
        owners = tx.members.card_owners([fp for r in batch for fp in (r.card.fingerprint, r.previous) if fp])
        current = tx.members.get_many(r.user_id for r in batch)
        links: list[NewLink] = []
        in_place: list[NewLink] = []
        for r in batch:
            member = current.get(r.user_id)
            if member is not None and member.opted_out_at is not None and not renewed_consent:
                report.skipped.append(OptedOut(r.line, r.user_id, _day(member.opted_out_at, tz)))
                continue
            owner = next((o for fp in (r.card.fingerprint, r.previous) for o in (_owner(owners, fp),
                          _owner(released, fp)) if o is not None), None)
            if owner is not None and owner != r.user_id:
                report.problems.append(RowProblem(
                    r.line, "card_number", f"card ending {r.card.last4} is already linked to X user id "
                    f"{owner}; run `offerbot sync remove {owner}` first if it changed hands"))
                continue
            held = member.card if member is not None else None
            if held is not None and member is not None and held.fingerprint == r.card.fingerprint:
                if member.handle == r.handle:
                    report.unchanged += 1
                else:
                    in_place.append(NewLink(r.user_id, r.handle, r.card))
            elif held is not None and r.previous is not None and held.fingerprint == r.previous:
                in_place.append(NewLink(r.user_id, r.handle, r.card))  # the same card: moved to the new key
                report.rekeyed += 1
            else:
                links.append(NewLink(r.user_id, r.handle, r.card))
                if held is not None and member is not None:
                    released[held.fingerprint] = member.user_id
        now = clock()
        tx.members.link_many(links, now, key=fingerprinter.check)
        tx.members.relink_in_place(in_place, now, key=fingerprinter.check)
        tx.commit()
    report.linked += len(links) + len(in_place)


def _owner(owners: Mapping[str, str], fingerprint: str | None) -> str | None:
    return owners.get(fingerprint) if fingerprint else None


def _day(moment: datetime, tz: tzinfo) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d}"


def unlink_member(uow: UnitOfWorkFactory, clock: Clock, user_id: str) -> bool:
    """Unlink an account's card and cancel its unsent replies; False if it had no card.

    An ops action, not an opt-out: a later import links the member again.
    """
    try:
        uid = normalise_user_id(user_id)
    except MemberInvalid as exc:
        raise MemberError(str(exc)) from exc
    with uow() as tx:
        done = tx.members.unlink(uid, clock())
        tx.outbox.cancel_for_member(uid, "member was unlinked")
        tx.commit()
    return done
