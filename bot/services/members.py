"""Member sync: link an X account to a card, import many, unlink."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.domain.cards import CardNumberInvalid, CardRef, Fingerprinter, normalise_card_number
from bot.domain.members import MemberInvalid, normalise_handle, normalise_user_id
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
        return f"line {self.line}: {self.column}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did: every data row is either linked, unchanged or a problem."""

    linked: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)


def link_member(uow: UnitOfWorkFactory, fingerprinter: Fingerprinter, clock: Clock,
                user_id: str, handle: str, card_number: str) -> CardRef:
    """Link one X account to a card; return what is kept of the card."""
    report = import_members(uow, fingerprinter, clock, [
        (1, {"user_id": user_id, "handle": handle, "card_number": card_number})])
    if report.problems:
        raise MemberError(report.problems[0].reason)
    with uow(readonly=True) as tx:
        member = tx.members.get(normalise_user_id(user_id))
    assert member is not None and member.card is not None
    return member.card


def import_members(uow: UnitOfWorkFactory, fingerprinter: Fingerprinter, clock: Clock,
                   rows: Iterable[tuple[int, Mapping[str, str]]]) -> ImportReport:
    """Link each (line, row) with user_id, handle and card_number; report bad rows, keep going."""
    report = ImportReport()
    batch: list[tuple[int, str, str, CardRef]] = []
    seen_users: dict[str, int] = {}
    seen_cards: dict[str, int] = {}
    for line, row in rows:
        parsed = _parse_row(line, row, fingerprinter, report)
        if parsed is None:
            continue
        user_id, handle, card = parsed
        if user_id in seen_users:
            report.problems.append(RowProblem(
                line, "user_id", f"user id {user_id} is also on line {seen_users[user_id]}"))
            continue
        if card.fingerprint in seen_cards:
            report.problems.append(RowProblem(
                line, "card_number", f"the same card is also on line {seen_cards[card.fingerprint]}"))
            continue
        seen_users[user_id], seen_cards[card.fingerprint] = line, line
        batch.append((line, user_id, handle, card))
        if len(batch) >= _BATCH:
            _link_batch(uow, clock, batch, report)
            batch = []
    _link_batch(uow, clock, batch, report)
    return report


def _parse_row(line: int, row: Mapping[str, str], fingerprinter: Fingerprinter,
               report: ImportReport) -> tuple[str, str, CardRef] | None:
    try:
        user_id = normalise_user_id(row.get("user_id") or "")
    except MemberInvalid as exc:
        report.problems.append(RowProblem(line, "user_id", str(exc)))
        return None
    try:
        handle = normalise_handle(row.get("handle") or "")
    except MemberInvalid as exc:
        report.problems.append(RowProblem(line, "handle", str(exc)))
        return None
    try:
        digits = normalise_card_number(row.get("card_number") or "")
    except CardNumberInvalid as exc:
        report.problems.append(RowProblem(line, "card_number", str(exc)))
        return None
    return user_id, handle, fingerprinter.card_ref(digits)


def _link_batch(uow: UnitOfWorkFactory, clock: Clock, batch: list[tuple[int, str, str, CardRef]],
                report: ImportReport) -> None:
    if not batch:
        return
    with uow() as tx:
        owners = tx.members.card_owners([card.fingerprint for _, _, _, card in batch])
        current = tx.members.get_many(uid for _, uid, _, _ in batch)
        links = []
        for line, user_id, handle, card in batch:
            owner = owners.get(card.fingerprint)
            if owner is not None and owner != user_id:
                report.problems.append(RowProblem(
                    line, "card_number", f"card ending {card.last4} is already linked to X user id "
                    f"{owner}; run `offerbot sync remove {owner}` first if it changed hands"))
                continue
            member = current.get(user_id)
            if member is not None and member.card == card and member.handle == handle:
                report.unchanged += 1
                continue
            links.append((user_id, handle, card))
        tx.members.link_many(links, clock())
        tx.commit()
    report.linked += len(links)


def unlink_member(uow: UnitOfWorkFactory, clock: Clock, user_id: str) -> bool:
    """Unlink an account's card and cancel its unsent replies; False if it had no card."""
    try:
        uid = normalise_user_id(user_id)
    except MemberInvalid as exc:
        raise MemberError(str(exc)) from exc
    with uow() as tx:
        done = tx.members.unlink(uid, clock())
        tx.outbox.cancel_for_member(uid, "member was unlinked")
        tx.commit()
    return done
