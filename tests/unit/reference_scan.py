"""Today's scan as it stood before the block fast path: the reference the fast scan is proven equal to.

``read_rows`` here reads a line at a time with the text file's own readline, and ``scan`` takes one
row at a time, exactly as bot.services.file_scan and bot.adapters.transaction_csv did; the property
tests in test_scan_blocks.py compare every batch of the product's scan with this one, field by field.
The slow path (``_checked``) and ``_cents`` did not change and are the product's own.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

from bot.adapters.transaction_csv import LINE_ENDINGS, FileFacts, RawRow, Unreadable, _open, _Records, _size
from bot.domain.cards import Fingerprinter
from bot.domain.reconcile import Txn, enrolled_in_none
from bot.domain.transactions import Columns, LineParser
from bot.services.file_scan import Interest, ScanBatch, _cents, _checked


def read_rows(facts: FileFacts, *, skip: int = 0) -> Generator[RawRow, None, None]:
    """Yield (first line, row) for each data row after the header, one readline at a time."""
    limit = facts.limits.max_line_bytes
    cap, quick = limit + 1, limit // 4
    with _open(facts) as handle:
        read = handle.readline
        records = _Records(read, limit)
        header = records.next()
        number = max(header.lines, 1) if header else 1
        while text := records.pending() or read(cap):
            number += 1
            start = number
            row: str | list[str] | Unreadable
            if '"' not in text and text.endswith(LINE_ENDINGS) and (
                    len(text) <= quick or _size(text) <= limit):
                row = text.rstrip("\r\n")
                if not row:
                    continue
            else:
                record = records.rest(text)
                number += record.lines - 1
                row = record.row(facts.limits)
            if skip:
                skip -= 1
                continue
            yield start, row


def scan(facts: FileFacts, columns: Columns, skip: int, interest: Interest, fingerprinter: Fingerprinter,
         batch_rows: int, enrolments: Callable[[], frozenset[str] | None] = lambda: None
         ) -> Iterator[ScanBatch]:
    """Yield batches of data rows as the scan did a row at a time."""
    rows = read_rows(facts, skip=skip)
    parser = LineParser(columns)
    fast, day_of = parser.fields, parser.day
    fingerprint = fingerprinter.fingerprint
    campaigns_of, members = interest.campaigns_of, interest.members
    slow_owner = interest.slow_owner()
    enrolled = enrolments()
    batch = ScanBatch(filtered=enrolled is not None)
    txns, rejects = batch.txns, batch.rejects
    size = max(batch_rows // 4, 1)
    for line, row in rows:
        batch.rows += 1
        values = fast(row) if row.__class__ is str else None
        if values is None:
            values = _checked(row, columns, line, rejects, day_of)
        if values is not None:
            tid, card, mid, amount, currency, day, kind, original = values
            campaigns = campaigns_of.get(mid)
            if campaigns is None:
                batch.other_merchant += 1
            else:
                member = members.get(fp := fingerprint(card))
                if member is None and slow_owner is not None:
                    member = slow_owner(fp, card, day_of(day), kind)
                if member is None:
                    batch.not_linked += 1
                elif (enrolled is not None and kind == "purchase"
                      and enrolled_in_none(enrolled, member, campaigns)):
                    batch.not_enrolled += 1
                    batch.not_enrolled_outcomes += len(campaigns)
                    batch.kept_only.append(Txn(line, tid, member, "", mid, _cents(amount), currency,
                                               day_of(day), kind))  # type: ignore[arg-type]
                else:
                    txns.append(Txn(line, tid, member, card[-4:], mid, _cents(amount), currency,
                                    day_of(day), kind, original or None))  # type: ignore[arg-type]
        if batch.rows == size:
            yield batch
            enrolled = enrolled or enrolments()
            batch = ScanBatch(filtered=enrolled is not None)
            txns, rejects = batch.txns, batch.rejects
            size = batch_rows
    if batch.rows:
        yield batch
