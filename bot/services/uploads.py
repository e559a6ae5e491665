"""The daily file uploaded in the portal: checked whole, then through the same inbox pipeline."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.transaction_csv import inspect_file
from bot.clock import Clock
from bot.domain.ledger import FileStatus
from bot.domain.portal import UploadStatus, Viewer
from bot.errors import Busy, FileRejected
from bot.ports import PortalStore
from bot.services.campaigns import Catalog
from bot.services.file_scan import read_columns
from bot.services.inbox import KEEP_REDACTED, process_inbox_file
from bot.services.reconciliation import ReconcileDeps

logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
Runner = Callable[[Callable[[], None]], None]  # starts a job (a thread; tests run it at once)


@dataclass(frozen=True)
class Received:
    """What became of an upload at once: refused, known already, or queued for reconciliation."""

    upload_id: int
    status: UploadStatus  # refused | already reconciled | queued
    message: str
    sha256: str | None = None
    name: str = ""


def safe_name(name: str) -> str:
    """Return a file name for the inbox: no folders, no leading dot, ending in .csv."""
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).lstrip(".")[:200] or "upload"
    return base if base.lower().endswith(".csv") else f"{base}.csv"


@dataclass
class UploadDesk:
    """Takes an uploaded file (already on disk in the inbox, hidden) the rest of the way."""

    inbox: Path
    repo: PortalStore
    deps: Callable[[], ReconcileDeps]
    catalog: Callable[[], Catalog]
    clock: Clock
    run: Runner
    keep: str = KEEP_REDACTED  # [reconcile] keep_inputs: what the inbox keeps of a file

    def receive(self, viewer: Viewer, temp: Path, name: str, size: int) -> Received:
        """Check the file as reconciliation would before any row; queue it, or say why not."""
        name = safe_name(name)
        deps = self.deps()
        try:
            facts = inspect_file(temp)
            read_columns(facts)
        except FileRejected as exc:
            temp.unlink(missing_ok=True)
            message = str(exc).replace(temp.name, name)
            return self._record(viewer, name, size, 0, None, UploadStatus.REFUSED, message)
        with deps.uow(readonly=True) as tx:
            record = tx.ledger.file(facts.sha256)
        if record is not None and record.status == FileStatus.RECONCILED:
            temp.unlink(missing_ok=True)
            when = f"{record.finished_at:%Y-%m-%d %H:%M} UTC" if record.finished_at else "earlier"
            return self._record(viewer, name, size, facts.lines, facts.sha256,
                                UploadStatus.ALREADY_RECONCILED,
                                f"{name} has the SHA-256 of {record.name}, reconciled on {when}: "
                                "nothing new was credited")
        path = self._into_inbox(temp, name)
        received = self._record(viewer, path.name, size, facts.lines, facts.sha256, UploadStatus.QUEUED,
                                "waiting for its turn to be reconciled")
        self.run(lambda: self._process(received.upload_id, path))
        return received

    def _into_inbox(self, temp: Path, name: str) -> Path:
        """Rename the upload into the inbox under its own name (never over another file)."""
        stem, suffix = name[:-4], name[-4:]
        for number in range(10_000):
            target = self.inbox / (name if number == 0 else f"{stem}.{number}{suffix}")
            try:
                os.link(temp, target)  # fails if the name is taken, unlike a rename
            except FileExistsError:
                continue
            temp.unlink()
            return target
        raise FileRejected(f"{name}: too many files of that name in the inbox")

    def _process(self, upload_id: int, path: Path) -> None:
        """Reconcile the file as the inbox job does, recording the outcome on the upload."""
        try:
            result = process_inbox_file(self.deps(), self.catalog(), path, keep=self.keep)
        except Busy as exc:
            self.repo.set_upload(upload_id, UploadStatus.WAITING, f"{exc}; the bot's inbox job takes the "
                                 "file from data/inbox when the other run has finished")
            return
        except Exception as exc:  # the run page shows it; a rerun resumes from the last batch
            logger.exception("upload %d: reconciling %s failed", upload_id, path.name)
            self.repo.set_upload(upload_id, UploadStatus.FAILED, f"{type(exc).__name__}: {exc}")
            return
        if result is None:
            self.repo.set_upload(upload_id, UploadStatus.DONE, "another instance reconciled the file")
        elif result.error:
            self.repo.set_upload(upload_id, UploadStatus.REFUSED, result.error)
        else:
            assert result.summary is not None
            self.repo.set_upload(upload_id, UploadStatus.DONE, result.summary.status)

    def _record(self, viewer: Viewer, name: str, size: int, lines: int, sha256: str | None,
                status: UploadStatus, message: str) -> Received:
        now = self.clock()
        upload_id = self.repo.add_upload(name, viewer.email, now, size=size, lines=lines,
                                         sha256=sha256, status=status, message=message)
        self.repo.audit(now, "file upload", actor=viewer.email,
                        detail=f"{name} ({size:,} bytes): {status}"
                        + (f", sha256 {sha256}" if sha256 else ""))
        return Received(upload_id, status, message, sha256, name)
