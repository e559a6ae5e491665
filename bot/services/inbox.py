"""The ops inbox: each transaction file dropped there is reconciled, then moved aside."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.adapters.exports import write_text
from bot.errors import Busy, FileRejected
from bot.services.campaigns import Catalog
from bot.services.reconciliation import ReconcileDeps, Summary, reconcile_file

logger = logging.getLogger(__name__)
SETTLE = timedelta(seconds=30)  # a file changed more recently may still be being copied in


@dataclass(frozen=True)
class InboxResult:
    """What became of one file."""

    name: str
    moved_to: Path
    summary: Summary | None = None
    error: str | None = None


def waiting_files(inbox: Path, deps: ReconcileDeps) -> list[Path]:
    """Return the CSV files ready to reconcile, oldest first (not hidden, not still changing)."""
    if not inbox.is_dir():
        return []
    ready_before = (deps.clock() - SETTLE).timestamp()
    files = [p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() == ".csv"
             and not p.name.startswith(".") and p.stat().st_mtime <= ready_before]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def reconcile_inbox(deps: ReconcileDeps, catalog: Catalog, inbox: Path) -> list[InboxResult]:
    """Reconcile every ready file; move it to processed/ or, if refused whole, to failed/.

    A file whose run crashes stays where it is, and the next run resumes it.
    """
    results = []
    for path in waiting_files(inbox, deps):
        try:
            result = process_inbox_file(deps, catalog, path)
        except Busy as exc:
            logger.info("inbox: %s waits: %s", path.name, exc)
            break
        if result is not None:
            results.append(result)
    return results


def process_inbox_file(deps: ReconcileDeps, catalog: Catalog, path: Path) -> InboxResult | None:
    """Reconcile one file of the inbox and move it to processed/ or failed/ beside it.

    Raises Busy (the file stays) while another run holds the lock; None when the file was gone
    (another instance or the portal took it meanwhile).
    """
    inbox = path.parent
    try:
        summary = reconcile_file(deps, catalog, path)
    except FileRejected as exc:
        if not path.exists():
            return None
        target = _move(path, inbox / "failed")
        write_text(target.with_name(target.name + ".reason.txt"), f"{exc}\n")
        logger.error("inbox: %s refused: %s", path.name, exc)
        return InboxResult(path.name, target, error=str(exc))
    target = _move(path, inbox / "processed")
    logger.info("inbox: %s %s; moved to %s", path.name, summary.status, target)
    return InboxResult(path.name, target, summary)


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    number = 1
    while target.exists():  # never overwrite an earlier file of the same name
        target = folder / f"{path.stem}.{number}{path.suffix}"
        number += 1
    shutil.move(str(path), target)
    return target
