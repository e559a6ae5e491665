"""The ops inbox: each transaction file dropped there is reconciled, then kept redacted or dropped.

What the product keeps of a file is never the file itself: ``[reconcile] keep_inputs =
"redacted"`` keeps a copy with every card number cut to its last four digits (in processed/, or
in failed/ beside a .reason.txt), ``"none"`` keeps nothing but the reason. A file refused for
carrying card security codes, track data or PINs is deleted at once either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.adapters.exports import write_text
from bot.adapters.kept_inputs import write_redacted_copy
from bot.adapters.private_files import private_folder
from bot.domain.cards import mask_long_digit_runs
from bot.domain.reconcile_summary import Summary
from bot.errors import Busy, FileRejected, SensitiveFileRejected
from bot.services.campaigns import Catalog
from bot.services.reconciliation import ReconcileDeps, reconcile_file

logger = logging.getLogger(__name__)
SETTLE = timedelta(seconds=30)  # a file changed more recently may still be being copied in
PROCESSED, FAILED = "processed", "failed"
KEEP_REDACTED, KEEP_NONE = "redacted", "none"


@dataclass(frozen=True)
class InboxResult:
    """What became of one file: ``kept_as`` is its redacted copy (None when nothing was kept)."""

    name: str
    kept_as: Path | None
    summary: Summary | None = None
    error: str | None = None
    reason_file: Path | None = None


def ensure_inbox(inbox: Path) -> None:
    """Create the inbox and its processed/ and failed/ folders, 0700 (tightened if they are ours)."""
    for folder in (inbox, inbox / PROCESSED, inbox / FAILED):
        private_folder(folder)


def waiting_files(inbox: Path, deps: ReconcileDeps) -> list[Path]:
    """Return the CSV files ready to reconcile, oldest first (not hidden, not still changing)."""
    if not inbox.is_dir():
        return []
    ready_before = (deps.clock() - SETTLE).timestamp()
    files = [p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() == ".csv"
             and not p.name.startswith(".") and p.stat().st_mtime <= ready_before]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def reconcile_inbox(deps: ReconcileDeps, catalog: Catalog, inbox: Path, *,
                    keep: str = KEEP_REDACTED) -> list[InboxResult]:
    """Reconcile every ready file; keep a redacted copy in processed/ or, if refused whole, in
    failed/ with the reason beside it (``keep="none"``: only the reason).

    A file whose run crashes stays where it is, and the next run resumes it.
    """
    results = []
    files = waiting_files(inbox, deps)
    if files:
        ensure_inbox(inbox)
    for path in files:
        try:
            result = process_inbox_file(deps, catalog, path, keep=keep)
        except Busy as exc:
            logger.info("inbox: %s waits: %s", path.name, exc)
            break
        if result is not None:
            results.append(result)
    return results


def process_inbox_file(deps: ReconcileDeps, catalog: Catalog, path: Path, *,
                       keep: str = KEEP_REDACTED) -> InboxResult | None:
    """Reconcile one file of the inbox; keep a redacted copy in processed/ or, if refused whole, in
    failed/ with the reason beside it (``keep="none"``: only the reason), and delete the file.

    Raises Busy (the file stays) while another run holds the lock; None when the file was gone
    (another instance or the portal took it meanwhile). A run that crashes leaves the file where it
    is, and the next run resumes it.
    """
    inbox = path.parent
    try:
        summary = reconcile_file(deps, catalog, path)
    except FileRejected as exc:
        if not path.exists():
            return None
        # Security codes must not be kept even redacted: the file goes, the reason stays.
        sensitive = isinstance(exc, SensitiveFileRejected)
        kept = None if sensitive else _keep(path, inbox / FAILED, keep, deps)
        path.unlink(missing_ok=True)
        reason = _unique(inbox / FAILED, (kept.name if kept else path.name) + ".reason.txt")
        write_text(reason, mask_long_digit_runs(f"{exc}\n"))
        logger.error("inbox: %s refused: %s%s", path.name, exc,
                     "; the file was deleted" if kept is None else f"; kept redacted as {kept}")
        return InboxResult(path.name, kept, error=str(exc), reason_file=reason)
    if not path.exists():
        return None
    kept = _keep(path, inbox / PROCESSED, keep, deps)
    path.unlink(missing_ok=True)
    logger.info("inbox: %s %s; %s", path.name, summary.status,
                f"kept redacted as {kept}" if kept else "deleted (keep_inputs = \"none\")")
    for warning in summary.warnings:
        logger.warning("inbox: %s: %s", path.name, warning)
    return InboxResult(path.name, kept, summary)


def _keep(path: Path, folder: Path, keep: str, deps: ReconcileDeps) -> Path | None:
    """Write the redacted copy the inbox keeps of ``path`` (none with keep_inputs = "none")."""
    if keep == KEEP_NONE:
        return None
    ensure_inbox(folder.parent)
    target = _unique(folder, path.name)
    write_redacted_copy(path, target, max_line_bytes=deps.limits.max_line_bytes)
    return target


def _unique(folder: Path, name: str) -> Path:
    """Return ``folder/name``, numbered so as never to overwrite an earlier file of that name."""
    target = folder / name
    number = 1
    while target.exists():
        target = folder / f"{Path(name).stem}.{number}{Path(name).suffix}"
        number += 1
    return target
