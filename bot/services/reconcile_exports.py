"""A run's files for people and the card system: the credits export, the rejects, the summary.

A clean run appends to the two CSVs after each commit (so they hold only what the ledger holds)
and puts them in place at the end; a resumed run, or one that died before writing them, rebuilds
them from the ledger. They are named NAME.SHA8[.again-N].KIND in the exports folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
from bot.domain.ledger import FileRecord
from bot.domain.money import cents_text
from bot.domain.reconcile import Credit
from bot.domain.reconcile_summary import Summary
from bot.domain.transactions import Reject
from bot.ports import UnitOfWorkFactory
from bot.services.campaigns import Catalog

KINDS = ("credits.csv", "rejects.csv", "summary.txt", "summary.json")
ExportLine = tuple[str, str, str, str, str, str, str, str | None]


class RunExports:
    """A clean run's credits and rejects files, filled after each commit, put in place at the end."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self._credits = CsvAppender(Path(paths["credits.csv"]), CREDIT_COLUMNS, CREDIT_OUTSIDE)
        self._rejects = CsvAppender(Path(paths["rejects.csv"]), REJECT_COLUMNS, REJECT_OUTSIDE)

    def add_credits(self, credits: Iterable[Credit]) -> None:
        """Append committed credits and clawbacks to the credits export."""
        self._credits.append(credit_line(c) for c in credits)

    def add_rejects(self, rejects: Iterable[Reject]) -> None:
        """Append committed rejected rows to the rejects file."""
        self._rejects.append(reject_line(r) for r in rejects)

    def finish(self) -> None:
        """Put both files in place."""
        self._credits.finish()
        self._rejects.finish()

    def abandon(self) -> None:
        """Drop what was written (the run failed)."""
        self._credits.abandon()
        self._rejects.abandon()


def export_paths(exports_dir: Path, summary: Summary) -> dict[str, str]:
    """Return where a run's exports go: NAME.SHA8[.again-N].KIND."""
    again = f".again-{summary.run - 1}" if summary.run > 1 else ""
    stem = f"{Path(summary.file).stem}.{summary.sha256[:8]}{again}"
    return {kind: str(exports_dir / f"{stem}.{kind}") for kind in KINDS}


def exports_missing(summary: Summary) -> bool:
    """Tell whether any of a finished run's exports is not where its summary says."""
    return not all(Path(p).exists() for p in summary.exports.values())


def write_exports(uow: UnitOfWorkFactory, record: FileRecord, summary: Summary, catalog: Catalog) -> None:
    """Write the run's credits export, the rejects and the summary from what the ledger holds."""
    exports = summary.exports
    for kind in ("credits.csv", "rejects.csv"):  # what a killed run's appenders left behind
        path = Path(exports[kind])
        path.with_name(f".{path.name}.partial").unlink(missing_ok=True)
    with uow(readonly=True) as tx:  # rows stream from the database into the files
        write_csv(Path(exports["credits.csv"]), CREDIT_COLUMNS,
                  (export_line(*row) for row in tx.ledger.export_rows(record.id, record.credits_before)))
        write_csv(Path(exports["rejects.csv"]), REJECT_COLUMNS,
                  (reject_line(r) for r in tx.ledger.rejects_of_file(record.id)))
    write_summary(summary, catalog)


def write_summary(summary: Summary, catalog: Catalog) -> None:
    """Write the summary as text for people and as JSON beside the exports."""
    write_text(Path(summary.exports["summary.txt"]), summary.render(currency_of(catalog)) + "\n")
    write_json(Path(summary.exports["summary.json"]), summary.to_dict())


def currency_of(catalog: Catalog) -> Callable[[str], str]:
    """Return a campaign id -> currency lookup for ``Summary.render`` (USD for unknown ids)."""
    return lambda campaign_id: getattr(catalog.by_id.get(campaign_id), "currency", "USD")


def credit_line(c: Credit) -> ExportLine:
    """Return a credit's line of the credits export."""
    return export_line(c.credit_id, c.transaction_id, c.campaign_id, c.cents, c.currency, c.last4, c.kind,
                       c.reverses)


def export_line(credit_id: str, transaction_id: str, campaign_id: str, cents: int, currency: str,
                last4: str, kind: str, reverses: str | None) -> ExportLine:
    """Return a credits export line (CREDIT_COLUMNS), the amount as a plain decimal."""
    return credit_id, transaction_id, campaign_id, cents_text(cents), currency, last4, kind, reverses


def reject_line(r: Reject) -> tuple[int, str, str, str]:
    """Return a rejected row's line of the rejects file (REJECT_COLUMNS)."""
    return r.line, r.column, r.transaction_id, r.reason
