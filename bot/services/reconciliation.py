"""Reconcile a daily transaction file into statement credits: streamed, resumable, once only.

A run has two phases over one file record. It reads the whole file, counting every row and
staging the rows that can matter (services/staging.py); then it decides the staged rows in time
order, a chunk at a time (services/deciding.py). Both phases commit as they go with the position
reached, so a run killed at any point resumes where it stopped. A dry run does the same against
a private scratch ledger (adapters/scratch.py) and leaves the database as it was.
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

from bot.adapters.exports import (
    CREDIT_COLUMNS,
    CREDIT_OUTSIDE,
    REJECT_COLUMNS,
    REJECT_OUTSIDE,
    CsvAppender,
    write_csv,
    write_json,
    write_text,
)
from bot.adapters.repository import FileRecord
from bot.adapters.scratch import ScratchLedger
from bot.adapters.transaction_csv import FileFacts, Inspection, ReadLimits
from bot.clock import Clock
from bot.domain.campaigns import Campaign
from bot.domain.cards import Fingerprinter
from bot.domain.members import LinkPeriod
from bot.domain.reconcile import Reconciler
from bot.errors import BotError, Busy
from bot.ports import LedgerSessions, Locks, UnitOfWorkFactory
from bot.services.campaigns import Catalog
from bot.services.deciding import Decider, Progress, export_row
from bot.services.file_scan import Interest, read_columns, scan_batches
from bot.services.reconcile_summary import NO_DATA_ROWS, Summary
from bot.services.staging import Stager

__all__ = ["BATCH_ROWS", "LOCK", "NotReconciledYet", "Progress", "ReconcileDeps", "Summary", "currency_of",
           "reconcile_file"]

logger = logging.getLogger(__name__)
LOCK = "reconcile"
BATCH_ROWS = 200_000  # rows per transaction, unless [reconcile] batch_rows says otherwise


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


class _EveryoneEnrolled(Mapping[str, date]):
    """For backtests: every linked member counts as enrolled in every campaign from its start."""

    def __init__(self, campaigns: Mapping[str, Campaign]) -> None:
        self._all = {cid: c.enrol_from for cid, c in campaigns.items()}

    def __getitem__(self, key: str) -> date:
        return self._all[key.partition("\t")[2]]

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


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
                return _dry_run(deps, catalog, path, backtest, assume_enrolled, again, progress)
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


def _read(deps: ReconcileDeps, path: Path) -> _Input:
    inspection = Inspection(path, deps.limits)  # hashing in a thread while the card index loads
    with deps.uow(readonly=True) as tx:
        members, history = tx.members.card_index(deps.tz)  # STOP keeps what a linked card earned
    facts = inspection.result()
    with deps.uow(readonly=True) as tx:
        return _Input(facts, members, history, tx.ledger.file(facts.sha256), tx.ledger.last_file_id())


def _real_run(deps: ReconcileDeps, catalog: Catalog, path: Path, again: bool,
              progress: Progress | None) -> Summary:
    found = _read(deps, path)
    record = found.record
    if record is not None and record.status == "running" and record.run > 1:
        again = True  # a --again run killed earlier: it resumes as what it was
    elif again:
        record = _open_again(deps, record, path.name)
    elif record is not None and record.status == "reconciled":
        return _already_reconciled(deps, record, catalog, path)
    read_columns(found.facts)  # refuse a bad header before anything is written
    if record is None:
        with deps.uow() as tx:
            record = tx.ledger.start_file(found.facts.sha256, path.name, deps.clock())
            tx.commit()
    resume = bool(record.counters)
    summary = (Summary.from_dict(record.counters) if resume
               else Summary(path.name, found.facts.sha256, run=record.run))
    summary.status = "running"
    paths = _export_paths(deps, summary)
    # A clean run writes its exports as it goes; a resumed one rebuilds them at the end.
    exports = None if resume else _Exports(paths)
    if resume:
        logger.info("%s: resuming (%s) after row %d", path.name, record.phase, summary.rows)

    def renew() -> None:
        if not deps.locks.acquire(LOCK):  # renews the lease; a lost lock stops the run here
            raise Busy("this run lost the reconciliation lock; run it again to resume")

    def totals() -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        with deps.uow(readonly=True) as tx:
            return tx.ledger.credits_held(), tx.ledger.spent()

    try:
        _phases(deps, catalog, found, record, summary, deps.uow, again=again, everyone_enrolled=False,
                totals=totals, renew=renew, exports=exports, progress=progress, real=True)
        return _finish(deps, record, summary, catalog, paths, exports)
    except BaseException:
        if exports is not None:
            exports.abandon()  # a rerun resumes, and rebuilds the exports from the ledger
        raise


def _reconciled_before(record: FileRecord | None, name: str) -> FileRecord:
    """Return the record of a file reconciled to the end, or refuse --again on it."""
    if record is None or record.status != "reconciled":
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
    if not all(Path(p).exists() for p in summary.exports.values()):
        _write_exports(deps, record, summary, catalog)  # the run died before writing them
    summary.status = "already reconciled"
    logger.info("%s was reconciled on %s (same SHA-256): no new credits", path.name, record.finished_at)
    return summary


def _dry_run(deps: ReconcileDeps, catalog: Catalog, path: Path, backtest: bool, assume_enrolled: bool,
             again: bool, progress: Progress | None) -> Summary:
    """Decide the file as a real run would, into a scratch ledger; a backtest sees no ledger at all."""
    found = _read(deps, path)
    record = None if backtest else found.record
    if again:
        record = _reconciled_before(record, path.name)
    elif record is not None and record.status == "reconciled":
        summary = Summary.from_dict(record.counters)
        summary.status = "already reconciled"
        return summary
    read_columns(found.facts)
    # The scratch file record takes the real one's id for --again (this file's own rows are
    # then recognised as such), else one no real file has.
    file_id = record.id if again and record is not None else found.last_file_id + 1
    run = record.run + 1 if again and record is not None else 1
    with ScratchLedger(None if backtest else deps.uow, deps.clock()) as scratch:
        with scratch.own() as tx:
            own = tx.ledger.start_file(found.facts.sha256, path.name, deps.clock(), file_id=file_id)
            tx.commit()
        summary = Summary(path.name, found.facts.sha256, status="dry run", run=run)

        def totals() -> tuple[dict[tuple[str, str], int], dict[str, int]]:
            if backtest:  # every row as if new: nothing used, nothing spent
                return {}, {}
            with deps.uow(readonly=True) as tx:
                return tx.ledger.credits_held(), tx.ledger.spent()

        _phases(deps, catalog, found, own, summary, scratch.session, again=again,
                everyone_enrolled=assume_enrolled, totals=totals, renew=lambda: None, exports=None,
                progress=progress, real=False)
    summary.status = "dry run"
    return summary


def _phases(deps: ReconcileDeps, catalog: Catalog, found: _Input, record: FileRecord, summary: Summary,
            sessions: LedgerSessions, *, again: bool, everyone_enrolled: bool,
            totals: Callable[[], tuple[dict[tuple[str, str], int], dict[str, int]]],
            renew: Callable[[], None], exports: _Exports | None, progress: Progress | None,
            real: bool) -> None:
    """Stage the file (unless that was done), then decide what is staged: shared by every kind of run."""
    facts, file_id = found.facts, record.id
    enrolled_on: Mapping[str, date] | None = _EveryoneEnrolled(catalog.by_id) if everyone_enrolled else None
    started = time.perf_counter()
    if record.phase == "stage":
        interest = Interest(catalog.ids_by_merchant_id, found.members, found.history,
                            deps.previous_fingerprinter)
        # The scanner starts now and reads while the enrolments are loaded here.
        with scan_batches(facts, record.rows_done, interest, deps.fingerprinter, deps.batch_rows) as batches:
            if enrolled_on is None:
                enrolled_on = _enrolments(deps)
                batches.share(frozenset(enrolled_on))
            stager = Stager(sessions, file_id, summary, catalog, enrolled_on,
                            everyone_enrolled=everyone_enrolled, again=again, renew=renew,
                            rejects_out=exports.rejects if exports is not None else None)
            expected = max(facts.lines - 1, 1)  # quoted newlines make it an estimate
            for batch in batches:
                stager.stage(batch)
                if progress is not None:
                    progress("reading", summary.rows, max(expected, summary.rows))
        with sessions() as session:
            session.ledger.enter_phase(file_id, "decide")
            session.commit()
        logger.info("%s: %d rows read, %d staged to decide in time order (%.1fs)", facts.path.name,
                    summary.rows, summary.matched, time.perf_counter() - started)
        if summary.rows == 0 and NO_DATA_ROWS not in summary.warnings:
            summary.warnings.append(NO_DATA_ROWS)  # recorded all the same: a re-send is recognised
            logger.warning("%s: %s", facts.path.name, NO_DATA_ROWS)
        started = time.perf_counter()
    if enrolled_on is None:
        enrolled_on = _enrolments(deps)
    used, spent = totals()
    today = deps.clock().astimezone(deps.tz).date()
    reconciler = Reconciler(catalog.by_id, catalog.by_merchant_id, enrolled_on, used, spent, today=today)
    decider = Decider(sessions, file_id, summary, catalog, reconciler, today=today, again=again,
                      batch_rows=deps.batch_rows, clock=deps.clock, renew=renew,
                      credits_out=exports.credits if exports is not None else None, progress=progress,
                      warn_budgets=real)
    decider.run(record.decided)
    logger.info("%s: %d staged rows decided (%.1fs)", facts.path.name, decider.decided,
                time.perf_counter() - started)


def _enrolments(deps: ReconcileDeps) -> dict[str, date]:
    with deps.uow(readonly=True) as tx:
        return tx.enrolments.days_by_key(deps.tz)


class _Exports:
    """A clean run's credits and rejects files, filled after each commit, put in place at the end."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self.credits = CsvAppender(Path(paths["credits.csv"]), CREDIT_COLUMNS, CREDIT_OUTSIDE)
        self.rejects = CsvAppender(Path(paths["rejects.csv"]), REJECT_COLUMNS, REJECT_OUTSIDE)

    def finish(self) -> None:
        """Put both files in place."""
        self.credits.finish()
        self.rejects.finish()

    def abandon(self) -> None:
        """Drop what was written (the run failed)."""
        self.credits.abandon()
        self.rejects.abandon()


def _export_paths(deps: ReconcileDeps, summary: Summary) -> dict[str, str]:
    """Return where a run's exports go: NAME.SHA8[.again-N].KIND."""
    again = f".again-{summary.run - 1}" if summary.run > 1 else ""
    stem = f"{Path(summary.file).stem}.{summary.sha256[:8]}{again}"
    return {kind: str(deps.exports_dir / f"{stem}.{kind}") for kind in
            ("credits.csv", "rejects.csv", "summary.txt", "summary.json")}


def _finish(deps: ReconcileDeps, record: FileRecord, summary: Summary, catalog: Catalog,
            paths: dict[str, str], exports: _Exports | None) -> Summary:
    """Mark the file reconciled, then put its exports in place (or rebuild them from the ledger)."""
    summary.status = "reconciled"
    summary.exports = paths
    with deps.uow() as tx:
        tx.ledger.finish_file(record.id, summary.to_dict(), deps.clock())
        tx.commit()
    if exports is not None:
        exports.finish()
        _write_summary(summary, catalog)
    else:
        _write_exports(deps, record, summary, catalog)
    logger.info("reconciled %s: %d rows, %d rejected, %d credits", summary.file, summary.rows,
                summary.rejected, sum(t["credits"] for t in summary.campaigns.values()))
    return summary


def _write_exports(deps: ReconcileDeps, record: FileRecord, summary: Summary, catalog: Catalog) -> None:
    """Write the run's credits export, the rejects and the summary from what the ledger holds."""
    exports = summary.exports
    for kind in ("credits.csv", "rejects.csv"):  # what a killed run's appenders left behind
        path = Path(exports[kind])
        path.with_name(f".{path.name}.partial").unlink(missing_ok=True)
    with deps.uow(readonly=True) as tx:  # rows stream from the database into the files
        write_csv(Path(exports["credits.csv"]), CREDIT_COLUMNS,
                  (export_row(*row) for row in tx.ledger.export_rows(record.id, record.credits_before)))
        write_csv(Path(exports["rejects.csv"]), REJECT_COLUMNS,
                  ((r.line, r.column, r.transaction_id, r.reason)
                   for r in tx.ledger.rejects_of_file(record.id)))
    _write_summary(summary, catalog)


def _write_summary(summary: Summary, catalog: Catalog) -> None:
    write_text(Path(summary.exports["summary.txt"]), summary.render(currency_of(catalog)) + "\n")
    write_json(Path(summary.exports["summary.json"]), summary.to_dict())


def currency_of(catalog: Catalog) -> Callable[[str], str]:
    """Return a campaign id -> currency lookup for ``Summary.render`` (USD for unknown ids)."""
    return lambda campaign_id: getattr(catalog.by_id.get(campaign_id), "currency", "USD")
