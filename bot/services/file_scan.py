"""Scanning a transaction file: every row checked, relevant rows fingerprinted and batched.

A large file is scanned in a second process while this one decides and writes the batches
before it, so both cores work. The scanner imports no database code and keeps no state beyond
the batch in hand; it sees card numbers only on the way to their fingerprint.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.connection import Connection
from typing import Any

from bot.adapters.transaction_csv import FileFacts, Unreadable, read_header, read_rows
from bot.domain.cards import Fingerprinter
from bot.domain.members import LinkPeriod, owner_on
from bot.domain.reconcile import Txn, enrolled_in_none
from bot.domain.transactions import Columns, HeaderInvalid, LineParser, Reject, SensitiveColumn, parse_row
from bot.domain.transactions import read_header as parse_header
from bot.errors import BotError, FileRejected, SensitiveFileRejected

IN_PROCESS_BELOW = 4 << 20  # bytes: a smaller file is not worth starting a process for
AHEAD = 3  # batches the scanner may have ready before the parent takes them


@dataclass
class ScanBatch:
    """What one stretch of rows held."""

    rows: int = 0
    txns: list[Txn] = field(default_factory=list)  # linked members' rows at campaign merchants
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

    def owner_of(self, fingerprint: str, card: str, day: date | None, kind: str) -> str | None:
        """Return the member a card belonged to on ``day``: the fast map, then ``owner``."""
        return self.members.get(fingerprint) or self.owner(fingerprint, card, day, kind)


def read_columns(facts: FileFacts) -> Columns:
    """Return the file's column map, or refuse the whole file."""
    try:
        return parse_header(read_header(facts))
    except SensitiveColumn as exc:
        raise SensitiveFileRejected(f"{facts.path.name}: line 1: {exc}") from exc
    except HeaderInvalid as exc:
        raise FileRejected(f"{facts.path.name}: line 1: {exc}") from exc


def scan(facts: FileFacts, skip: int, interest: Interest, fingerprinter: Fingerprinter,
         batch_rows: int, enrolments: Callable[[], frozenset[str] | None] = lambda: None
         ) -> Iterator[ScanBatch]:
    """Yield batches of data rows (after skipping ``skip``), in file order.

    The first batch is a quarter of ``batch_rows``, so the caller has work while the next one is
    read. Between batches ``enrolments`` is asked for the enrolment keys (member<TAB>campaign);
    once it has given them, later batches come filtered.
    """
    columns = parse_header(read_header(facts))
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


class BackgroundScan:
    """Batches of a file, scanned in a second process from the moment this is created.

    Use it as a context manager: leaving the block stops the process, whatever happened.
    """

    def __init__(self, facts: FileFacts, skip: int, interest: Interest, fingerprinter: Fingerprinter,
                 batch_rows: int) -> None:
        self._name = facts.path.name
        context: Any = multiprocessing.get_context(_start_method())
        self._receive, send = context.Pipe(duplex=False)
        hear, self._tell = context.Pipe(duplex=False)
        self._worker = context.Process(target=_scan_worker, daemon=True, name="offerbot-scan",
                                       args=(send, hear, facts, skip, interest, fingerprinter, batch_rows))
        self._sharing: threading.Thread | None = None
        self._worker.start()
        send.close()
        hear.close()

    def share(self, enrolled: frozenset[str]) -> None:
        """Give the scanner the enrolment keys; it filters the batches it reads from then on.

        Sent from a thread: the scanner takes the keys only between batches, and the pipe holds
        far less than the keys, so sending here would stall this process meanwhile.
        """
        data = pickle.dumps(enrolled, pickle.HIGHEST_PROTOCOL)

        def send() -> None:
            with suppress(OSError):  # the scanner finished first: its batches come unfiltered
                self._tell.send_bytes(data)

        self._sharing = threading.Thread(target=send, name="offerbot-scan-share", daemon=True)
        self._sharing.start()

    def __enter__(self) -> BackgroundScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self._receive.close()
        if self._worker.is_alive():
            self._worker.kill()  # finished or not, nothing it still holds is wanted
        self._worker.join()
        if self._sharing is not None:
            self._sharing.join()  # the scanner is gone, so the send has ended
        self._tell.close()

    def __iter__(self) -> Iterator[ScanBatch]:
        while True:
            try:
                # Our own child process on a private pipe: pickle is safe here.
                kind, payload = pickle.loads(self._receive.recv_bytes())  # noqa: S301
            except EOFError as exc:
                raise BotError(f"{self._name}: the file scanner stopped unexpectedly") from exc
            if kind == "batch":
                yield payload
            elif kind == "done":
                return
            else:
                raise BotError(f"{self._name}: the file scanner failed: {payload}")


class _InProcessScan:
    """The same interface for small files, scanned right here as they are read."""

    def __init__(self, facts: FileFacts, skip: int, interest: Interest, fingerprinter: Fingerprinter,
                 batch_rows: int) -> None:
        self._enrolled: frozenset[str] | None = None
        self._batches = scan(facts, skip, interest, fingerprinter, batch_rows, lambda: self._enrolled)

    def share(self, enrolled: frozenset[str]) -> None:
        """Filter the batches read from now on by these enrolment keys."""
        self._enrolled = enrolled

    def __enter__(self) -> _InProcessScan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __iter__(self) -> Iterator[ScanBatch]:
        return self._batches


def scan_batches(facts: FileFacts, skip: int, interest: Interest, fingerprinter: Fingerprinter,
                 batch_rows: int) -> BackgroundScan | _InProcessScan:
    """Start scanning: in this process for small files, in a second process for large ones."""
    if facts.size < IN_PROCESS_BELOW:
        return _InProcessScan(facts, skip, interest, fingerprinter, batch_rows)
    return BackgroundScan(facts, skip, interest, fingerprinter, batch_rows)


def _start_method() -> str:
    """Fork when this process has one thread: the scanner inherits its state at no cost.

    With threads running (the scheduler) forking is unsafe, so a fresh process is started and
    the state pickled to it instead.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _scan_worker(send: Connection, hear: Connection, facts: FileFacts, skip: int, interest: Interest,
                 fingerprinter: Fingerprinter, batch_rows: int) -> None:
    """Run ``scan``, handing each pickled batch to a sender thread (AHEAD at most in hand).

    The scanner pickles; the thread only writes bytes, which releases the GIL, so reading
    goes on while the parent is busy with earlier batches. If the parent dies (kill -9), the
    scanner stops too rather than wait for it forever.
    """
    gc.set_threshold(50_000, 20, 100)  # see reconciliation: few collections over a large heap
    outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)
    parent, stop = os.getppid(), threading.Event()

    def sender() -> None:
        try:
            while (data := outbox.get()) is not None:
                send.send_bytes(data)
        except OSError:  # the pipe broke: the parent has gone
            stop.set()

    def hand_over(data: bytes | None) -> bool:
        """Queue data for the sender; False once there is no one left to send it to."""
        while not stop.is_set() and os.getppid() == parent:
            try:
                outbox.put(data, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def enrolments() -> frozenset[str] | None:
        if not hear.poll():
            return None
        found: frozenset[str] = pickle.loads(hear.recv_bytes())  # noqa: S301 - from our parent
        return found

    thread = threading.Thread(target=sender, name="offerbot-scan-send", daemon=True)
    thread.start()
    try:
        for batch in scan(facts, skip, interest, fingerprinter, batch_rows, enrolments):
            if not hand_over(pickle.dumps(("batch", batch), pickle.HIGHEST_PROTOCOL)):
                return
        hand_over(pickle.dumps(("done", None)))
    except Exception as exc:  # reported to the parent, which raises it
        hand_over(pickle.dumps(("error", f"{type(exc).__name__}: {exc}")))
    finally:
        if hand_over(None):
            thread.join()
        send.close()
