"""Reconcile a daily transaction file into statement credits: streamed, resumable, once only."""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo
from pathlib import Path
from typing import Any

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
from bot.adapters.repository import SqlUnitOfWork
from bot.adapters.transaction_csv import Inspection, ReadLimits
from bot.clock import Clock
from bot.domain.campaigns import Campaign
from bot.domain.cards import Fingerprinter
from bot.domain.money import cents_text, format_cents
from bot.domain.reconcile import (
    REFUND_MATCH_DAYS,
    Credit,
    Outcome,
    Reconciler,
    Txn,
    Verdict,
    enrolled_in_none,
)
from bot.domain.transactions import Reject, shown_id
from bot.errors import BotError, Busy
from bot.ports import Locks, UnitOfWorkFactory
from bot.services.campaigns import Catalog, warn_budget_crossings
from bot.services.file_scan import Interest, ScanBatch, read_columns, scan_batches

logger = logging.getLogger(__name__)
LOCK = "reconcile"
BATCH_ROWS = 200_000  # rows per transaction, unless [reconcile] batch_rows says otherwise
SHOWN_REJECTS = 50  # rejects a dry run lists; the rest are counted
NO_DATA_ROWS = "the file has a header and no data rows"
Progress = Callable[[int, int], None]  # (data rows read so far, rows expected about)


@dataclass
class Summary:
    """What reconciling one file did; saved with the file, printed and written beside exports."""

    file: str
    sha256: str
    status: str = "running"  # running | reconciled | already reconciled | dry run
    rows: int = 0
    rejected: int = 0
    other_merchant: int = 0
    not_linked: int = 0
    matched: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    campaigns: dict[str, dict[str, int]] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # printed, logged and saved with the summary
    # A dry run's first SHOWN_REJECTS rejects, by line, for the command to print (never saved).
    shown_rejects: list[Reject] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Return the data rows that were read and used (rows = accepted + rejected)."""
        return self.rows - self.rejected

    def add_credit(self, campaign_id: str, kind: str, cents: int) -> None:
        """Count a credit or clawback against its campaign."""
        totals = self.campaigns.get(campaign_id)
        if totals is None:
            totals = self.campaigns[campaign_id] = {"credits": 0, "credited_cents": 0, "clawbacks": 0,
                                                    "clawed_back_cents": 0}
        if kind == "credit":
            totals["credits"] += 1
            totals["credited_cents"] += cents
        else:
            totals["clawbacks"] += 1
            totals["clawed_back_cents"] += -cents

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-safe data."""
        return {"file": self.file, "sha256": self.sha256, "status": self.status, "rows": self.rows,
                "accepted": self.accepted, "rejected": self.rejected,
                "other_merchant": self.other_merchant, "not_linked": self.not_linked,
                "matched": self.matched, "outcomes": dict(sorted(self.outcomes.items())),
                "campaigns": self.campaigns, "exports": self.exports, "warnings": self.warnings}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """Rebuild a summary saved by ``to_dict``."""
        return cls(data["file"], data["sha256"], data["status"], data["rows"], data["rejected"],
                   data["other_merchant"], data["not_linked"], data["matched"],
                   Counter(data["outcomes"]), data["campaigns"], data.get("exports", {}),
                   list(data.get("warnings", [])))

    def render(self, currency: Callable[[str], str] = lambda _: "USD") -> str:
        """Return the summary as text for people."""
        lines = [f"{self.file} (sha256 {self.sha256[:16]}...): {self.status}",
                 *(f"  warning: {warning}" for warning in self.warnings),
                 f"  rows read          {self.rows:>10,}",
                 f"  accepted           {self.accepted:>10,}",
                 f"  rejected           {self.rejected:>10,}",
                 f"  other merchants    {self.other_merchant:>10,}   (no campaign has the merchant id)",
                 f"  cards not linked   {self.not_linked:>10,}",
                 f"  matched            {self.matched:>10,}   (linked card at a campaign merchant)"]
        lines += [f"    {name:<22}{count:>8,}" for name, count in sorted(self.outcomes.items())]
        if self.campaigns:
            lines.append("  per campaign:")
        for campaign_id, totals in sorted(self.campaigns.items()):
            cur = currency(campaign_id)
            lines.append(
                f"    {campaign_id:<28} {totals['credits']:>7,} credits "
                f"{format_cents(totals['credited_cents'], cur):>14}   "
                f"{totals['clawbacks']:>5,} clawbacks "
                f"{format_cents(totals['clawed_back_cents'], cur):>12}")
        lines += [f"  {kind}: {path}" for kind, path in sorted(self.exports.items())]
        return "\n".join(lines)


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
                   assume_enrolled: bool = False, progress: Progress | None = None) -> Summary:
    """Reconcile one file; a file reconciled before (same SHA-256) issues nothing new.

    Work is committed every BATCH_ROWS rows together with the position reached, so a run
    killed at any point and started again gives exactly the credits of one clean run.
    ``dry_run`` reads and decides everything and writes nothing.
    """
    # One reconciliation at a time across instances: per-member limits and budgets are decided
    # in memory from the ledger, which no one else may change meanwhile. A dry run only reads.
    if not dry_run and not deps.locks.acquire(LOCK):
        raise Busy(f"another reconciliation is running ({deps.locks.holder(LOCK) or 'another instance'}); "
                   "try again when it has finished")
    try:
        with _few_collections():
            return _reconcile(deps, catalog, path, dry_run, assume_enrolled, progress)
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


def _reconcile(deps: ReconcileDeps, catalog: Catalog, path: Path, dry_run: bool, assume_enrolled: bool,
               progress: Progress | None) -> Summary:
    inspection = Inspection(path, deps.limits)  # hashing in a thread while the card index loads
    with deps.uow(readonly=True) as tx:
        members, history = tx.members.card_index(deps.tz)  # STOP keeps what a linked card earned
    facts = inspection.result()
    with deps.uow(readonly=True) as tx:
        record = tx.ledger.file(facts.sha256)
    if record is not None and record.status == "reconciled" and not dry_run:
        summary = Summary.from_dict(record.counters)
        if not all(Path(p).exists() for p in summary.exports.values()):
            _write_exports(deps, record.id, summary, catalog)  # the run died before writing them
        summary.status = "already reconciled"
        logger.info("%s was reconciled on %s (same SHA-256): no new credits", path.name,
                    record.finished_at)
        return summary
    read_columns(facts)  # refuse a bad header before anything is written
    interest = Interest(catalog.ids_by_merchant_id, members, history, deps.previous_fingerprinter)
    resume = record is not None and not dry_run and bool(record.counters)
    skip = record.rows_done if resume and record else 0
    summary = Summary.from_dict(record.counters) if resume and record else Summary(path.name, facts.sha256)
    summary.status = "dry run" if dry_run else "running"
    # The scanner starts now and reads while the rest of the state is loaded here.
    with scan_batches(facts, skip, interest, deps.fingerprinter, deps.batch_rows) as batches:
        with deps.uow(readonly=True) as tx:
            enrolled_on: Mapping[str, date] = (
                _EveryoneEnrolled(catalog.by_id) if assume_enrolled else tx.enrolments.days_by_key(deps.tz))
            used = tx.ledger.credits_held()
            spent = tx.ledger.spent()
        if not assume_enrolled:
            batches.share(frozenset(enrolled_on))
        reconciler = Reconciler(catalog.by_id, catalog.by_merchant_id, enrolled_on, used, spent)
        run = _Run(deps, catalog, reconciler, summary, dry_run)
        if not dry_run:
            with deps.uow() as tx:
                run.file_id = tx.ledger.start_file(facts.sha256, path.name, deps.clock()).id
                tx.commit()
            if resume:
                logger.info("%s: resuming after row %d", path.name, summary.rows)
            else:
                run.write_exports_as_you_go()
        expected = max(facts.lines - 1, 1)  # quoted newlines make it an estimate
        try:
            for batch in batches:
                run.apply(batch)
                if progress is not None:
                    progress(summary.rows, max(expected, summary.rows))
        except BaseException:
            run.abandon_exports()  # a rerun resumes, and rebuilds the exports from the ledger
            raise
    if summary.rows == 0 and NO_DATA_ROWS not in summary.warnings:
        summary.warnings.append(NO_DATA_ROWS)  # recorded all the same: a re-send is recognised
        logger.warning("%s: %s", path.name, NO_DATA_ROWS)
    if dry_run:
        return summary
    try:
        return _finish(deps, run)
    except BaseException:
        run.abandon_exports()  # the files are rebuilt from the ledger when the run is repeated
        raise


class _Run:
    """One reconciliation: decides each scanned batch and commits it with the position reached."""

    def __init__(self, deps: ReconcileDeps, catalog: Catalog, reconciler: Reconciler, summary: Summary,
                 dry_run: bool) -> None:
        self.deps, self.catalog, self.reconciler, self.summary = deps, catalog, reconciler, summary
        self.dry_run = dry_run
        self.file_id = 0
        self.run_seen: dict[str, int] = {}  # a dry run keeps every id; a real run asks the ledger
        # A clean run writes its exports as it goes; a resumed one rebuilds them at the end.
        self.appenders: tuple[CsvAppender, CsvAppender] | None = None

    def abandon_exports(self) -> None:
        """Drop the exports written so far (the run failed)."""
        if self.appenders is not None:
            for appender in self.appenders:
                appender.abandon()
            self.appenders = None

    def write_exports_as_you_go(self) -> None:
        """Open the export files, to be filled batch by batch after each commit."""
        paths = _export_paths(self.deps, self.summary)
        self.appenders = (CsvAppender(Path(paths["credits.csv"]), CREDIT_COLUMNS, CREDIT_OUTSIDE),
                          CsvAppender(Path(paths["rejects.csv"]), REJECT_COLUMNS, REJECT_OUTSIDE))

    def apply(self, batch: ScanBatch) -> None:
        """Decide one batch; a real run commits it with its counters and the position reached."""
        summary = self.summary
        summary.rows += batch.rows
        summary.other_merchant += batch.other_merchant
        summary.not_linked += batch.not_linked
        summary.matched += batch.not_enrolled
        if batch.not_enrolled_outcomes:
            summary.outcomes[Outcome.NOT_ENROLLED] += batch.not_enrolled_outcomes
        rejects = batch.rejects
        if self.dry_run:
            with self.deps.uow(readonly=True) as tx:
                self._decide(tx, batch)
            summary.rejected += len(rejects)
            room = SHOWN_REJECTS - len(summary.shown_rejects)
            if room > 0:  # batches come in file order, so these are the file's first rejects
                summary.shown_rejects.extend(sorted(rejects, key=lambda r: r.line)[:room])
            return
        if not self.deps.locks.acquire(LOCK):  # renews the lease; a lost lock stops the run here
            raise Busy("this run lost the reconciliation lock; run it again to resume")
        with self.deps.uow() as tx:
            credits, kept = self._decide(tx, batch)
            rejects.sort(key=lambda r: r.line)  # repeats are found last; the file lists by line
            summary.rejected += len(rejects)
            now = self.deps.clock()
            tx.ledger.add_rejects(self.file_id, rejects)
            tx.ledger.add_transactions(kept)
            tx.ledger.add_credits(credits, self.file_id, now)
            tx.ledger.update_refunds(self.reconciler.touched.values())
            deltas = _spent_by_campaign(credits)
            refused = tx.ledger.add_spent(deltas)
            if refused:  # the batch rolls back with the transaction; nothing past a budget is kept
                raise BotError(f"the budget of {', '.join(refused)} was changed while this file was "
                               "being reconciled; run it again to resume from the last batch")
            tx.ledger.save_progress(self.file_id, summary.rows, summary.to_dict())
            tx.commit()
        warn_budget_crossings(self.catalog.by_id, self.reconciler.spent, deltas)  # 80% and spent
        self.reconciler.forget()
        if self.appenders is not None:  # after the commit: the files hold only what the ledger does
            credit_file, reject_file = self.appenders
            credit_file.append(_export_row(c.credit_id, c.transaction_id, c.campaign_id, c.cents,
                                           c.currency, c.last4, c.kind, c.reverses) for c in credits)
            reject_file.append((r.line, r.column, r.transaction_id, r.reason) for r in rejects)

    def _decide(self, tx: SqlUnitOfWork, batch: ScanBatch) -> tuple[list[Credit], list[tuple[Any, ...]]]:
        """Evaluate the batch's transactions in file order; return credits and rows to keep."""
        reconciler, summary, by_mid = self.reconciler, self.summary, self.catalog.by_merchant_id
        outcomes, rejects = summary.outcomes, batch.rejects
        txns = batch.txns
        if not batch.filtered and not isinstance(reconciler.enrolled_on, _EveryoneEnrolled):
            txns = self._enrolled_or_refunds(txns)
        seen = tx.ledger.seen([t.transaction_id for t in txns])
        referenced = [t.original_id for t in txns if t.original_id]
        reconciler.remember(tx.ledger.credited_purchases(referenced))
        unreferenced = [t for t in txns if t.kind == "refund" and not t.original_id]
        if unreferenced:
            since = min(t.day for t in unreferenced) - timedelta(days=REFUND_MATCH_DAYS)
            reconciler.remember(tx.ledger.refundable([t.member_id for t in unreferenced], since))
        in_run = self.run_seen if self.dry_run else {}
        credits: list[Credit] = []
        kept: list[tuple[Any, ...]] = []
        decided: list[Outcome] = []
        duplicates = 0
        evaluate, file_id = reconciler.evaluate, self.file_id
        for txn in txns:
            tid = txn.transaction_id
            earlier = seen.get(tid)
            first_line = in_run.get(tid) or (earlier[1] if earlier and earlier[0] == file_id else None)
            if first_line is not None:
                rejects.append(Reject(txn.line, "transaction_id", "duplicate transaction_id (first on "
                                      f"line {first_line}); only the first counts", shown_id(tid)))
                duplicates += 1
                continue
            in_run[tid] = txn.line
            if earlier is not None:
                decided.extend([Outcome.ALREADY_RECONCILED] * len(by_mid.get(txn.merchant_id, ())))
                continue
            verdicts = evaluate(txn)
            for verdict in verdicts:
                decided.append(verdict.outcome)
                if verdict.credit is not None:
                    credits.append(verdict.credit)
            # Every row left is a refund or a purchase by an enrolled member: both can matter
            # later (a repeat in another file, a refund of it, `offerbot explain`).
            kept.append(_transaction_row(txn, verdicts, file_id))
        summary.matched += len(txns) - duplicates
        outcomes.update(decided)  # StrEnum members are their own string keys
        for credit in credits:
            summary.add_credit(credit.campaign_id, credit.kind, credit.cents)
        return credits, kept

    def _enrolled_or_refunds(self, txns: list[Txn]) -> list[Txn]:
        """Count and drop purchases by members enrolled in none of the merchant's campaigns.

        They can never earn nor lose a credit, so they are not kept, nor checked for repeats.
        """
        enrolled_on, ids_of = self.reconciler.enrolled_on, self.catalog.ids_by_merchant_id
        outcomes, left = self.summary.outcomes, []
        for txn in txns:
            if txn.kind == "purchase":
                ids = ids_of[txn.merchant_id]
                if enrolled_in_none(enrolled_on, txn.member_id, ids):
                    self.summary.matched += 1
                    outcomes[Outcome.NOT_ENROLLED] += len(ids)
                    continue
            left.append(txn)
        return left


def _transaction_row(txn: Txn, verdicts: list[Verdict], file_id: int) -> tuple[Any, ...]:
    outcomes = (_verdict_text(verdicts[0]) if len(verdicts) == 1  # the usual case, without the join
                else " | ".join(map(_verdict_text, verdicts)))
    return (txn.transaction_id, file_id, txn.line, txn.member_id, txn.merchant_id, txn.cents,
            txn.currency, txn.day, txn.kind, txn.original_id, outcomes[:1000])


def _verdict_text(v: Verdict) -> str:
    """Return ``campaign=outcome (detail)``, the form `offerbot explain` reads back."""
    return f"{v.campaign_id}={v.outcome} ({v.detail})" if v.detail else f"{v.campaign_id}={v.outcome}"


def _export_row(credit_id: str, transaction_id: str, campaign_id: str, cents: int, currency: str,
                last4: str, kind: str, reverses: str | None
                ) -> tuple[str, str, str, str, str, str, str, str | None]:
    """Return a credits export line (CREDIT_COLUMNS), the amount as a plain decimal."""
    return credit_id, transaction_id, campaign_id, cents_text(cents), currency, last4, kind, reverses


def _spent_by_campaign(credits: list[Credit]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for credit in credits:
        totals[credit.campaign_id] += credit.cents
    return dict(totals)


def _export_paths(deps: ReconcileDeps, summary: Summary) -> dict[str, str]:
    stem = f"{Path(summary.file).stem}.{summary.sha256[:8]}"
    return {kind: str(deps.exports_dir / f"{stem}.{kind}") for kind in
            ("credits.csv", "rejects.csv", "summary.txt", "summary.json")}


def _finish(deps: ReconcileDeps, run: _Run) -> Summary:
    """Mark the file reconciled, then put its exports in place (or rebuild them from the ledger)."""
    summary = run.summary
    summary.status = "reconciled"
    summary.exports = _export_paths(deps, summary)
    with deps.uow() as tx:
        tx.ledger.save_progress(run.file_id, summary.rows, summary.to_dict(), finished_at=deps.clock())
        tx.commit()
    if run.appenders is not None:
        credits, rejects = run.appenders
        credits.finish()
        rejects.finish()
        _write_summary(summary, run.catalog)
    else:
        _write_exports(deps, run.file_id, summary, run.catalog)
    logger.info("reconciled %s: %d rows, %d rejected, %d credits", summary.file, summary.rows,
                summary.rejected, sum(t["credits"] for t in summary.campaigns.values()))
    return summary


def _write_exports(deps: ReconcileDeps, file_id: int, summary: Summary, catalog: Catalog) -> None:
    """Write the credits export, the rejects and the summary from what the ledger holds."""
    exports = summary.exports
    for kind in ("credits.csv", "rejects.csv"):  # what a killed run's appenders left behind
        path = Path(exports[kind])
        path.with_name(f".{path.name}.partial").unlink(missing_ok=True)
    with deps.uow(readonly=True) as tx:  # rows stream from the database into the files
        write_csv(Path(exports["credits.csv"]), CREDIT_COLUMNS,
                  (_export_row(*row) for row in tx.ledger.export_rows(file_id)))
        write_csv(Path(exports["rejects.csv"]), REJECT_COLUMNS,
                  ((r.line, r.column, r.transaction_id, r.reason)
                   for r in tx.ledger.rejects_of_file(file_id)))
    _write_summary(summary, catalog)


def _write_summary(summary: Summary, catalog: Catalog) -> None:
    write_text(Path(summary.exports["summary.txt"]), summary.render(currency_of(catalog)) + "\n")
    write_json(Path(summary.exports["summary.json"]), summary.to_dict())


def currency_of(catalog: Catalog) -> Callable[[str], str]:
    """Return a campaign id -> currency lookup for ``Summary.render`` (USD for unknown ids)."""
    return lambda campaign_id: getattr(catalog.by_id.get(campaign_id), "currency", "USD")

