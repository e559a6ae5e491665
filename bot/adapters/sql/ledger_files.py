"""The ledger's transaction files (a run's progress, counters and phase) and the rows rejected
from them. The only writer of transaction_files and rejects."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from bot.adapters.sql.bulk_insert import BulkInsert
from bot.adapters.sql.tables import credits_t, files_t, rejects_t
from bot.adapters.sql.toolkit import upsert
from bot.domain.ledger import FilePhase, FileRecord, FileStatus, NoticesDue
from bot.domain.reconcile import Key
from bot.domain.transactions import Reject


class FileLedger:
    """Transaction files, known by their SHA-256, and their rejected rows."""

    _conn: Connection

    def file(self, sha256: str) -> FileRecord | None:
        """Return the file with this SHA-256, if it was ever seen."""
        row = self._conn.execute(select(files_t).where(files_t.c.sha256 == sha256)).first()
        return None if row is None else _file_record(row)

    def latest_file(self) -> FileRecord | None:
        """Return the file most recently started."""
        row = self._conn.execute(select(files_t).order_by(files_t.c.id.desc()).limit(1)).first()
        return None if row is None else _file_record(row)

    def start_file(self, sha256: str, name: str, now: datetime, *, file_id: int | None = None) -> FileRecord:
        """Record a new file as running (or return the one with this SHA-256)."""
        values: dict[str, Any] = {} if file_id is None else {"id": file_id}
        self._conn.execute(upsert(self._conn, files_t).values(
            sha256=sha256, name=name, status=FileStatus.RUNNING.value, rows_done=0, counters="{}",
            started_at=now, **values).on_conflict_do_nothing(index_elements=["sha256"]))
        found = self.file(sha256)
        assert found is not None
        return found

    def last_file_id(self) -> int:
        """Return the highest file id given so far (0 for none)."""
        return int(self._conn.execute(select(func.coalesce(func.max(files_t.c.id), 0))).scalar_one())

    def start_again(self, record: FileRecord, now: datetime) -> FileRecord:
        """Open the next run of a reconciled file (`reconcile --again`), keeping the last run's summary."""
        before = self._conn.execute(select(func.coalesce(func.max(credits_t.c.seq), 0))).scalar_one()
        self._conn.execute(update(files_t).where(files_t.c.id == record.id).values(
            status=FileStatus.RUNNING.value, phase=FilePhase.STAGE.value, rows_done=0, counters="{}",
            decided_day=None, decided_id=None, run=record.run + 1, credits_before=int(before),
            started_at=now, finished_at=None,
            earlier_runs=json.dumps([*record.earlier_runs, record.counters])))
        found = self.file(record.sha256)
        assert found is not None
        return found

    def enter_phase(self, file_id: int, phase: FilePhase) -> None:
        """Move a running file to its next phase (decide, once every row is staged)."""
        self._conn.execute(update(files_t).where(files_t.c.id == file_id).values(phase=str(phase)))

    def save_cursor(self, file_id: int, decided: Key | None, counters: Mapping[str, Any]) -> None:
        """Store the last transaction decided and the counters so far."""
        day, tid = decided if decided is not None else (None, None)
        self._conn.execute(update(files_t).where(files_t.c.id == file_id).values(
            decided_day=day, decided_id=tid, counters=json.dumps(counters)))

    def save_progress(self, file_id: int, rows_done: int, counters: Mapping[str, Any]) -> None:
        """Store how many of the file's rows were read, and its counters."""
        self._conn.execute(update(files_t).where(files_t.c.id == file_id).values(
            rows_done=rows_done, counters=json.dumps(counters)))

    def mark_reconciled(self, file_id: int, counters: Mapping[str, Any], now: datetime) -> None:
        """Mark the file reconciled: its new credits' notices are then due."""
        self._conn.execute(update(files_t).where(files_t.c.id == file_id).values(
            status=FileStatus.RECONCILED.value, phase=FilePhase.DONE.value, counters=json.dumps(counters),
            finished_at=now, notices_done=False))

    def file_names(self, file_ids: Iterable[int]) -> dict[int, str]:
        """Return the name of each of these files."""
        wanted = sorted(set(file_ids))
        if not wanted:
            return {}
        rows = self._conn.execute(select(files_t.c.id, files_t.c.name).where(files_t.c.id.in_(wanted)))
        return {file_id: name for file_id, name in rows}

    def notices_due(self) -> NoticesDue | None:
        """Return the oldest reconciled file whose credit notices are not all queued yet."""
        row = self._conn.execute(
            select(files_t.c.id, files_t.c.notices_after)
            .where(files_t.c.status == FileStatus.RECONCILED.value, files_t.c.notices_done.is_(False))
            .order_by(files_t.c.id).limit(1)).first()
        return None if row is None else NoticesDue(row.id, row.notices_after)

    def notices_queued(self, file_id: int, last: int, *, done: bool) -> None:
        """Move a file's notice cursor (and say when all its notices are queued)."""
        self._conn.execute(update(files_t).where(files_t.c.id == file_id)
                           .values(notices_after=last, notices_done=done))

    _ADD_REJECTS = BulkInsert(rejects_t, ("file_id", "line", "column", "reason", "transaction_id"),
                              ignore_conflicts=["file_id", "line"])

    def add_rejects(self, file_id: int, rejects: Sequence[Reject]) -> None:
        """Record rejected rows (a rerun of the same rows changes nothing)."""
        self._ADD_REJECTS.run(self._conn, [(file_id, r.line, r.column, r.reason[:300], r.transaction_id[:64])
                                           for r in rejects])

    def rejects_of_file(self, file_id: int) -> list[Reject]:
        """Return a file's rejected rows by line."""
        rows = self._conn.execute(select(rejects_t).where(rejects_t.c.file_id == file_id)
                                  .order_by(rejects_t.c.line))
        return [Reject(r.line, r.column, r.reason, r.transaction_id) for r in rows]


def _file_record(row: Any) -> FileRecord:
    decided = (row.decided_day, row.decided_id) if row.decided_id is not None else None
    return FileRecord(row.id, row.sha256, row.name, FileStatus(row.status), row.rows_done,
                      json.loads(row.counters), row.started_at, row.finished_at, FilePhase(row.phase),
                      decided, row.run, row.credits_before, tuple(json.loads(row.earlier_runs)))
