"""Reconcile a daily transaction file into statement credits: streamed, resumable, once only.

A run has two phases over one file record. It reads the whole file, counting every row and
staging the rows that can matter (services/staging.py); then it decides the staged rows in time
order, a chunk at a time (services/deciding.py). Both phases commit as they go with the position
reached, so a run killed at any point resumes where it stopped. A dry run takes the same path
against a private scratch ledger (the UnitOfWorkFactory's ``scratch``) and leaves the database
as it was. This module holds the lock, the resume and that path; the exports are written by
services/reconcile_exports.py, and the summary is bot.domain.reconcile_summary. About 300
lines: the lock, the resume and the one path every kind of run takes, kept together so the order
of their steps reads from top to bottom.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, tzinfo
from pathlib import Path

from bot.adapters.transaction_csv import FileFacts, Inspection, ReadLimits
from bot.clock import Clock
from bot.domain.cards import Fingerprinter
from bot.domain.ledger import FilePhase, FileRecord, FileStatus
from bot.domain.members import LinkPeriod
from bot.domain.reconcile import Reconciler
from bot.domain.reconcile_summary import NO_DATA_ROWS, RunStatus, Summary
from bot.domain.transactions import Columns
from bot.errors import BotError, Busy
from bot.ports import LedgerSessions, Locks, Scanner, UnitOfWorkFactory
from bot.services.campaigns import Catalog
from bot.services.deciding import Decider, Progress
from bot.services.file_scan import Interest, read_columns, scan_batches, scan_here
from bot.services.reconcile_exports import (
    RunExports,
    export_paths,
    exports_missing,
    write_exports,
    write_summary,
)
from bot.services.staging import Stager

logger = logging.getLogger(__name__)
LOCK = "reconcile"
BATCH_ROWS = 200_000  # rows per transaction, unless [reconcile] batch_rows says otherwise
Totals = tuple[dict[tuple[str, str], int], dict[str, int]]  # credits held, cents spent


class NotReconciledYet(BotError):
    """`reconcile --again` was asked of a file that was never reconciled to the end."""


@dataclass
class ReconcileDeps:
    """What reconciliation needs from the app."""

    uow: UnitOfWorkFactory
    fingerprinter: Fingerprinter
    clock: Clock
    exports_dir: Path
    tz: tzinfo
    locks: Locks
    batch_rows: int = BATCH_ROWS
    limits: ReadLimits = field(default_factory=ReadLimits)  # what one row and the header may hold
    previous_fingerprinter: Fingerprinter | None = None  # during a key rotation: the old key too
    # Where a large file is scanned: here unless told (bootstrap gives a second process).
    scanner: Scanner = scan_here


def reconcile_file(deps: ReconcileDeps, catalog: Catalog, path: Path, *, dry_run: bool = False,
                   assume_enrolled: bool = False, backtest: bool = False, again: bool = False,
                   progress: Progress | None = None) -> Summary:
    """Reconcile one file; a file reconciled before (same SHA-256) issues nothing new.

    Work is committed every ``batch_rows`` rows together with the position reached, so a run
    killed at any point and started again gives exactly the credits of one clean run.
    ``again`` re-decides every row of a file reconciled before and issues only what was not
    issued then. ``dry_run`` decides everything and writes nothing; a ``backtest`` (a dry run,
    also implied by ``assume_enrolled``) evaluates every row as new, on an empty ledger.
    """
    backtest = backtest or assume_enrolled
    if backtest and not dry_run:
        raise BotError("a backtest writes nothing: run it as a dry run")
    if backtest and again:
        raise BotError("a backtest evaluates every row as new; --again is for a file reconciled before")
    # One reconciliation at a time across instances: per-member limits and budgets are decided
    # in memory from the ledger, which no one else may change meanwhile. A dry run only reads.
    if not dry_run and not deps.locks.acquire(LOCK):
        raise Busy(f"another reconciliation is running ({deps.locks.holder(LOCK) or 'another instance'}); "
                   "try again when it has finished")
    try:
        with _few_collections():
            if dry_run:
                return _dry_run(deps, catalog, path, backtest=backtest, everyone_enrolled=assume_enrolled,
                                again=again, progress=progress)
            return _real_run(deps, catalog, path, again, progress)
    finally:
        if not dry_run:
            deps.locks.release(LOCK)


@contextmanager
def _few_collections() -> Iterator[None]:
    """Collect garbage rarely while a run holds a large live heap (enrolments, fingerprints).

    The run builds few reference cycles, yet with default thresholds the collector would
    traverse the whole heap again and again; that cost about a tenth of the run.
    """
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass
class _Input:
    """The file, checked whole, and what the ledger knows of it."""

    facts: FileFacts
    members: dict[str, str]  # card fingerprint -> member id (cards with one link, never ended)
    history: dict[str, tuple[LinkPeriod, ...]]  # the cards with an ended link: who held each, and when
    record: FileRecord | None
    last_file_id: int


@dataclass
class _Run:
    """Where one kind of run writes what it decides, and what it starts from: the one thing a
    real run, a dry run and a backtest do differently on the path they share (``_decide``)."""

    sessions: LedgerSessions  # the unit of work, or the scratch ledger
    totals: Callable[[], Totals]  # credits held and budgets spent before this file
    renew: Callable[[], None] = lambda: None  # keeps the lock (a real run), raising once it is lost
    exports: RunExports | None = None  # a clean real run writes its exports as it goes
    everyone_enrolled: bool = False  # a backtest: every linked member counts as enrolled
    warn_budgets: bool = False  # a real run tells ops when a budget crosses 80% and 100%


def _read(deps: ReconcileDeps, path: Path) -> _Input:
    inspection = Inspection(path, deps.limits)  # hashing in a thread while the card index loads
    with deps.uow(readonly=True) as tx:
        members, history = tx.members.card_index(deps.tz)  # STOP keeps what a linked card earned
    facts = inspection.result()
    with deps.uow(readonly=True) as tx:
        return _Input(facts, members, history, tx.ledger.file(facts.sha256), tx.ledger.last_file_id())


def _ledger_totals(deps: ReconcileDeps) -> Totals:
    with deps.uow(readonly=True) as tx:
        return tx.ledger.credits_held(), tx.campaigns.spent_totals()


def _real_run(deps: ReconcileDeps, catalog: Catalog, path: Path, again: bool,
              progress: Progress | None) -> Summary:
    found = _read(deps, path)
    record = found.record
    if record is not None and record.status == FileStatus.RUNNING and record.run > 1:
        again = True  # a --again run killed earlier: it resumes as what it was
    elif again:
        record = _open_again(deps, record, path.name)
    elif record is not None and record.status == FileStatus.RECONCILED:
        return _already_reconciled(deps, record, catalog, path)
    columns = read_columns(found.facts)  # refuse a bad header before anything is written
    if record is None:
        with deps.uow() as tx:
            record = tx.ledger.start_file(found.facts.sha256, path.name, deps.clock())
            tx.commit()
    resume = bool(record.counters)
    summary = (Summary.from_dict(record.counters) if resume
               else Summary(path.name, found.facts.sha256, run=record.run))
    summary.status = RunStatus.RUNNING
    paths = export_paths(deps.exports_dir, summary)
    if resume:
        logger.info("%s: resuming (%s) after row %d", path.name, record.phase, summary.rows)

    def renew() -> None:
        if not deps.locks.acquire(LOCK):  # renews the lease; a lost lock stops the run here
            raise Busy("this run lost the reconciliation lock; run it again to resume")

    # A clean run writes its exports as it goes; a resumed one rebuilds them at the end.
    run = _Run(deps.uow, lambda: _ledger_totals(deps), renew, None if resume else RunExports(paths),
               warn_budgets=True)
    try:
        _decide(deps, catalog, found, columns, record, summary, run, again=again, progress=progress)
        return _finish(deps, record, summary, catalog, paths, run.exports)
    except BaseException:
        if run.exports is not None:
            run.exports.abandon()  # a rerun resumes, and rebuilds the exports from the ledger
        raise


def _reconciled_before(record: FileRecord | None, name: str) -> FileRecord:
    """Return the record of a file reconciled to the end, or refuse --again on it."""
    if record is None or record.status != FileStatus.RECONCILED:
        raise NotReconciledYet(
            f"{name} was never reconciled{' to the end' if record is not None else ''}, so there is "
            f"nothing to do again; run `offerbot reconcile {name}` (without --again)")
    return record


def _open_again(deps: ReconcileDeps, record: FileRecord | None, name: str) -> FileRecord:
    """Start the next run of a reconciled file, or refuse a file never reconciled to the end."""
    record = _reconciled_before(record, name)
    with deps.uow() as tx:
        record = tx.ledger.start_again(record, deps.clock())
        tx.commit()
    logger.info("%s: reconciling again (run %d): only what earlier runs did not issue", name, record.run)
    return record


def _already_reconciled(deps: ReconcileDeps, record: FileRecord, catalog: Catalog, path: Path) -> Summary:
    summary = Summary.from_dict(record.counters)
    if exports_missing(summary):
        write_exports(deps.uow, record, summary, catalog)  # the run died before writing them
    summary.status = RunStatus.ALREADY_RECONCILED
    logger.info("%s was reconciled on %s (same SHA-256): no new credits", path.name, record.finished_at)
    return summary


def _dry_run(deps: ReconcileDeps, catalog: Catalog, path: Path, *, backtest: bool, everyone_enrolled: bool,
             again: bool, progress: Progress | None) -> Summary:
    """Decide the file as a real run would, into a scratch ledger; a backtest sees no ledger at all."""
    found = _read(deps, path)
    record = None if backtest else found.record
    if again:
        record = _reconciled_before(record, path.name)
    elif record is not None and record.status == FileStatus.RECONCILED:
        summary = Summary.from_dict(record.counters)
        summary.status = RunStatus.ALREADY_RECONCILED
        return summary
    columns = read_columns(found.facts)
    # The scratch file record takes the real one's id for --again (this file's own rows are
    # then recognised as such), else one no real file has.
    file_id = record.id if again and record is not None else found.last_file_id + 1
    number = record.run + 1 if again and record is not None else 1
    with deps.uow.scratch(deps.clock(), over_ledger=not backtest) as scratch:
        with scratch.own() as tx:
            own = tx.ledger.start_file(found.facts.sha256, path.name, deps.clock(), file_id=file_id)
            tx.commit()
        summary = Summary(path.name, found.facts.sha256, status=RunStatus.DRY_RUN, run=number)
        # A backtest evaluates every row as if new: nothing used, nothing spent.
        run = _Run(scratch.session, (lambda: ({}, {})) if backtest else (lambda: _ledger_totals(deps)),
                   everyone_enrolled=everyone_enrolled)
        _decide(deps, catalog, found, columns, own, summary, run, again=again, progress=progress)
    summary.status = RunStatus.DRY_RUN
    return summary


def _decide(deps: ReconcileDeps, catalog: Catalog, found: _Input, columns: Columns, record: FileRecord,
            summary: Summary, run: _Run, *, again: bool, progress: Progress | None) -> None:
    """Stage the file (unless that was done), then decide what is staged: every kind of run's path."""
    facts, file_id = found.facts, record.id
    # A backtest needs no enrolments: everyone counts as enrolled.
    enrolled_on: Mapping[str, date] | None = {} if run.everyone_enrolled else None
    started = time.perf_counter()
    if record.phase == FilePhase.STAGE:
        interest = Interest(catalog.ids_by_merchant_id, found.members, found.history,
                            deps.previous_fingerprinter)
        # The scanner starts now and reads while the enrolments are loaded here.
        with scan_batches(facts, columns, record.rows_done, interest, deps.fingerprinter, deps.batch_rows,
                          deps.scanner) as batches:
            if enrolled_on is None:
                enrolled_on = _enrolments(deps)
                batches.share(frozenset(enrolled_on))
            stager = Stager(run.sessions, file_id, summary, catalog, enrolled_on,
                            everyone_enrolled=run.everyone_enrolled, again=again, renew=run.renew,
                            exports=run.exports)
            expected = max(facts.lines - 1, 1)  # quoted newlines make it an estimate
            for batch in batches:
                stager.stage(batch)
                if progress is not None:
                    progress("reading", summary.rows, max(expected, summary.rows))
        with run.sessions() as session:
            session.ledger.enter_phase(file_id, FilePhase.DECIDE)
            session.commit()
        logger.info("%s: %d rows read, %d staged to decide in time order (%.1fs)", facts.path.name,
                    summary.rows, summary.matched, time.perf_counter() - started)
        if summary.rows == 0 and NO_DATA_ROWS not in summary.warnings:
            summary.warnings.append(NO_DATA_ROWS)  # recorded all the same: a re-send is recognised
            logger.warning("%s: %s", facts.path.name, NO_DATA_ROWS)
        started = time.perf_counter()
    if enrolled_on is None:
        enrolled_on = _enrolments(deps)
    used, spent = run.totals()
    today = deps.clock().astimezone(deps.tz).date()
    reconciler = Reconciler(catalog.by_id, catalog.by_merchant_id, enrolled_on, used, spent, today=today,
                            everyone_enrolled=run.everyone_enrolled)
    decider = Decider(run.sessions, file_id, summary, catalog, reconciler, today=today, again=again,
                      batch_rows=deps.batch_rows, clock=deps.clock, renew=run.renew, exports=run.exports,
                      progress=progress, warn_budgets=run.warn_budgets)
    decider.run(record.decided)
    logger.info("%s: %d staged rows decided (%.1fs)", facts.path.name, decider.decided,
                time.perf_counter() - started)


def _enrolments(deps: ReconcileDeps) -> dict[str, date]:
    with deps.uow(readonly=True) as tx:
        return tx.enrolments.days_by_key(deps.tz)


def _finish(deps: ReconcileDeps, record: FileRecord, summary: Summary, catalog: Catalog,
            paths: dict[str, str], exports: RunExports | None) -> Summary:
    """Mark the file reconciled, then put its exports in place (or rebuild them from the ledger)."""
    summary.status = RunStatus.RECONCILED
    summary.exports = paths
    with deps.uow() as tx:
        tx.ledger.finish_file(record.id, summary.to_dict(), deps.clock())
        tx.commit()
    if exports is not None:
        exports.finish()
        write_summary(summary, catalog)
    else:
        write_exports(deps.uow, record, summary, catalog)
    logger.info("reconciled %s: %d rows, %d rejected, %d credits", summary.file, summary.rows,
                summary.rejected, sum(t["credits"] for t in summary.campaigns.values()))
    return summary
