"""Scanning a transaction file: every row checked, relevant rows fingerprinted and batched.

The batching (``scan``) is pure: it imports no database code and keeps no state beyond the batch
in hand; it sees card numbers only on the way to their fingerprint. A large file is scanned by
the Scanner port (bot.adapters.scan_process: in a second process, while this one decides and
writes the batches before it, so both cores work); a small one right here, as it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from itertools import compress, count, islice
from operator import itemgetter, not_
from typing import Generic, TypeVar

from bot.adapters.transaction_csv import FileFacts, Lines, Unreadable, plain_row, read_header, read_stretches
from bot.domain.cards import Fingerprinter
from bot.domain.members import LinkPeriod, owner_on
from bot.domain.reconcile import Txn, enrolled_in_none
from bot.domain.transactions import (
    Columns,
    HeaderInvalid,
    LineParser,
    Reject,
    SensitiveColumn,
    parse_header,
    parse_row,
)
from bot.errors import FileRejected, SensitiveFileRejected
from bot.ports import Batches, Scanner

IN_PROCESS_BELOW = 4 << 20  # bytes: a smaller file is not worth starting a process for
T = TypeVar("T")


@dataclass
class ScanBatch:
    """What one stretch of rows held."""

    rows: int = 0
    txns: list[Txn] = field(default_factory=list)  # linked members' rows at campaign merchants
    # Purchases by members enrolled in none of the merchant's campaigns: never decided, only kept
    # for the merchant dashboard (new or returning, before and after, the comparison group).
    kept_only: list[Txn] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    other_merchant: int = 0  # rows at merchants no campaign has
    not_linked: int = 0  # rows of cards no member linked
    # Once the scanner knows the enrolments it drops purchases by members enrolled in none of
    # the merchant's campaigns (they can never earn nor lose a credit) and counts them here.
    filtered: bool = False
    not_enrolled: int = 0
    not_enrolled_outcomes: int = 0  # the same, once per campaign, as outcomes are counted


@dataclass(frozen=True)
class Interest:
    """What makes a row worth deciding: a campaign's merchant id, and a card linked on its date."""

    campaigns_of: dict[str, tuple[str, ...]]  # merchant id -> its campaigns' ids
    # card fingerprint -> member id, for cards with one current link and no history (the fast path)
    members: dict[str, str]
    # card fingerprint -> its links, latest first, for cards with an ended link: decided by date
    history: dict[str, tuple[LinkPeriod, ...]] = field(default_factory=dict)
    previous: Fingerprinter | None = None  # during a key rotation: cards linked with the old key

    def slow_owner(self) -> Callable[[str, str, date | None, str], str | None] | None:
        """Return ``owner`` when there are cards the fast map cannot answer for, else None (so a
        file costs one look-up per row when no card has history and no rotation is under way)."""
        return self.owner if self.history or self.previous is not None else None

    def owner(self, fingerprint: str, card: str, day: date | None, kind: str) -> str | None:
        """Return the member a card not in ``members`` belonged to on ``day`` (None: not linked)."""
        periods = self.history.get(fingerprint)
        if periods is not None and day is not None:
            return owner_on(periods, day, refund=kind == "refund")
        if self.previous is None:
            return None
        old = self.previous.fingerprint(card)
        member = self.members.get(old)
        if member is not None:
            return member
        periods = self.history.get(old)
        return None if periods is None or day is None else owner_on(periods, day, refund=kind == "refund")


def read_columns(facts: FileFacts) -> Columns:
    """Return the file's column map, or refuse the whole file."""
    try:
        return parse_header(read_header(facts))
    except SensitiveColumn as exc:
        raise SensitiveFileRejected(f"{facts.path.name}: line 1: {exc}") from exc
    except HeaderInvalid as exc:
        raise FileRejected(f"{facts.path.name}: line 1: {exc}") from exc


def scan(facts: FileFacts, columns: Columns, skip: int, interest: Interest, fingerprinter: Fingerprinter,
         batch_rows: int, enrolments: Callable[[], frozenset[str] | None] = lambda: None
         ) -> Iterator[ScanBatch]:
    """Yield batches of data rows (after skipping ``skip``), in file order; ``columns`` is the
    file's header as read_columns read it (once per run).

    The first batch is a quarter of ``batch_rows``, so the caller has work while the next one is
    read. Between batches ``enrolments`` is asked for the enrolment keys (member<TAB>campaign);
    once it has given them, later batches come filtered.
    """
    stretches = read_stretches(facts, skip=skip)
    limits = facts.limits
    quick = limits.max_line_bytes // 4  # this many characters, line end included, are within the limit
    parser = LineParser(columns)
    fast, day_of, each_line = parser.fields, parser.day, parser.each_line
    fingerprint = fingerprinter.fingerprint
    campaigns_of, members = interest.campaigns_of, interest.members
    at_campaign = campaigns_of.__contains__
    slow_owner = interest.slow_owner()
    enrolled = enrolments()
    batch = ScanBatch(filtered=enrolled is not None)
    txns, kept_only, rejects = batch.txns, batch.kept_only, batch.rejects
    size = max(batch_rows // 4, 1)
    cents_of: dict[str, int] = {}
    # The batch's counts are kept here and written to it when it is handed over: a local is
    # cheaper than an attribute, a million times over.
    rows = other_merchant = not_linked = not_enrolled = not_enrolled_outcomes = 0
    for start, stretch in stretches:
        loose: str | list[str] | Unreadable | None = None
        if isinstance(stretch, Lines):  # a run of plain lines, matched all at once
            found, ending = each_line(stretch.text), stretch.ending
            odd, whens = _odd_lines(found, quick - ending + 1, parser)
        else:  # one row as read_rows yields it
            found, loose, odd, whens, ending = _ONE_ROW, stretch, [0], {}, 1
        at, end = 0, len(found)
        odd.append(end)
        next_odd = iter(odd).__next__
        upto = next_odd()  # the next line the run's pattern does not vouch for
        while at < end:
            if rows == size:  # the batch is full: handed over before the next row is taken
                batch.rows, batch.other_merchant, batch.not_linked = rows, other_merchant, not_linked
                batch.not_enrolled, batch.not_enrolled_outcomes = not_enrolled, not_enrolled_outcomes
                yield batch
                enrolled = enrolled or enrolments()
                batch = ScanBatch(filtered=enrolled is not None)
                txns, kept_only, rejects = batch.txns, batch.kept_only, batch.rejects
                size = batch_rows
                rows = other_merchant = not_linked = not_enrolled = not_enrolled_outcomes = 0
            if at < upto:  # good rows, as many as the batch has room for: most at no campaign's merchant
                stop = min(upto, at + size - rows)
                rows += stop - at
                hits = [(start + index, found[index]) for index in
                        compress(range(at, stop), map(at_campaign, map(_MID, islice(found, at, stop))))]
                other_merchant += stop - at - len(hits)
                at = stop
            else:
                # A row read alone, or a line the pattern cannot vouch for (as LineParser.fields
                # would not): read and checked as read_rows and parse_row take it.
                line, upto = start + at, next_odd()
                row = plain_row(found[at][8], limits, ending) if loose is None else loose
                at += 1
                if row is None:  # a blank line is not a row
                    continue
                rows += 1
                checked: tuple[str, ...] | None = fast(row) if isinstance(row, str) else None
                if checked is None:
                    checked = _checked(row, columns, line, rejects, day_of)
                    if checked is None:
                        continue
                if checked[2] not in campaigns_of:
                    other_merchant += 1
                    continue
                hits = [(line, (*checked, ""))]  # shaped as a run's line: its values, then a line
            for line, values in hits:  # good rows at a campaign's merchant
                tid, card, mid, amount, currency, day, kind, original, _ = values
                campaigns = campaigns_of[mid]
                when = whens.get(day)
                if when is None:
                    when = day_of(day)
                member = members.get(fp := fingerprint(card))
                if member is None and slow_owner is not None:
                    member = slow_owner(fp, card, when, kind)
                if member is None:
                    not_linked += 1
                    continue
                cents = cents_of.get(amount)
                if cents is None:
                    cents = _cents(amount)
                    if len(cents_of) < 100_000:  # amounts repeat: worked out once each, within bounds
                        cents_of[amount] = cents
                if (enrolled is not None and kind == "purchase"
                        and enrolled_in_none(enrolled, member, campaigns)):
                    not_enrolled += 1
                    not_enrolled_outcomes += len(campaigns)
                    kept_only.append(Txn(line, tid, member, "", mid, cents, currency,
                                         when, kind))  # type: ignore[arg-type]
                else:
                    txns.append(Txn(line, tid, member, card[-4:], mid, cents, currency,
                                    when, kind, original or None))  # type: ignore[arg-type]
    if rows:
        batch.rows, batch.other_merchant, batch.not_linked = rows, other_merchant, not_linked
        batch.not_enrolled, batch.not_enrolled_outcomes = not_enrolled, not_enrolled_outcomes
        yield batch


# One row read alone goes through the loop over a run's lines as a line nothing is vouched for.
_ONE_ROW: list[tuple[str, ...]] = [("", "", "", "", "", "", "", "", "")]


def _odd_lines(found: list[tuple[str, ...]], quick: int, parser: LineParser
               ) -> tuple[list[int], dict[str, date | None]]:
    """Return the positions (in order) of the lines of a run that LineParser.fields would not
    vouch for, and the date each distinct date text names; checked column by column, at C speed."""
    odd = list(compress(count(), map(not_, map(_TID, found))))  # blank, or refused by the pattern
    whens = {}
    bad = set()
    days_get, day_of = parser.days.get, parser.day
    for text in set(map(_DATE, found)):
        when = days_get(text)
        whens[text] = when = day_of(text) if when is None else when
        if when is None and text:  # no such date (the lines the pattern refused have none)
            bad.add(text)
    more = False
    if bad:
        odd += compress(count(), map(bad.__contains__, map(_DATE, found)))
        more = True
    if max(map(len, map(_LINE, found))) >= quick:  # may be over the limit: counted as read alone
        odd += (index for index, values in enumerate(found) if len(values[8]) >= quick)
        more = True
    if "purchase" in compress(map(_KIND, found), map(_ORIGINAL, found)):  # only refunds have one
        odd += (index for index, values in enumerate(found) if values[7] and values[6] == "purchase")
        more = True
    return sorted(set(odd)) if more else odd, whens


_TID, _MID, _DATE, _KIND, _ORIGINAL, _LINE = (itemgetter(n) for n in (0, 2, 5, 6, 7, 8))


def _checked(row: str | list[str] | Unreadable, columns: Columns, line: int, rejects: list[Reject],
             day_of: Callable[[str], date | None]) -> tuple[str, str, str, str, str, str, str, str] | None:
    """Check a row field by field (the slow path), recording why it is rejected."""
    if isinstance(row, Unreadable):
        rejects.append(Reject(line, "", row.message))
        return None
    parsed = parse_row(row.split(",") if isinstance(row, str) else row, columns, line)
    if isinstance(parsed, Reject):
        rejects.append(parsed)
        return None
    day = parsed.day.isoformat()
    day_of(day)
    return (parsed.transaction_id, parsed.card_number, parsed.merchant_id, str(parsed.amount),
            parsed.currency, day, parsed.kind, parsed.original_id or "")


def _cents(amount: str) -> int:
    whole, _, fraction = amount.partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])


class InProcessScan(Generic[T]):
    """A scan run right here as its batches are taken (the Scanner for small files)."""

    def __init__(self, work: Callable[[Callable[[], frozenset[str] | None]], Iterator[T]]) -> None:
        self._enrolled: frozenset[str] | None = None
        self._batches = work(lambda: self._enrolled)

    def share(self, enrolled: frozenset[str]) -> None:
        """Filter the batches read from now on by these enrolment keys."""
        self._enrolled = enrolled

    def __enter__(self) -> InProcessScan[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __iter__(self) -> Iterator[T]:
        return self._batches


def scan_here(work: Callable[[Callable[[], frozenset[str] | None]], Iterator[T]], *,
              name: str) -> InProcessScan[T]:
    """Run ``work`` in this process (a Scanner: what reconciliation uses unless given another)."""
    return InProcessScan(work)


def scan_batches(facts: FileFacts, columns: Columns, skip: int, interest: Interest,
                 fingerprinter: Fingerprinter, batch_rows: int, scanner: Scanner) -> Batches[ScanBatch]:
    """Start scanning: in this process for small files, with ``scanner`` for large ones."""
    work = partial(scan, facts, columns, skip, interest, fingerprinter, batch_rows)
    if facts.size < IN_PROCESS_BELOW:
        return scan_here(work, name=facts.path.name)
    return scanner(work, name=facts.path.name)
