"""The floor under reconciliation's time: only the rows a run must keep, written straight to the database.

Reads what one `bench_reconcile --keep DIR` run kept (DIR/run-1.db: its kept transactions,
credits, dashboard purchases and rejects, and the staged rows they were decided from), writes the
same rows into empty copies of those tables with nothing else at all (no file read, no check, no
decision, no SQLAlchemy: sqlite3's executemany, or psycopg's COPY on PostgreSQL), and runs the
DuckDB matching of `bench_reconcile` over the same file in the same run. Issue 13 asks for a whole
reconciliation within 2x (SQLite) and 3x (PostgreSQL) of that query; this prints how much of
that the writes alone take.
Run: .venv/bin/python -m bench.bench_reconcile --keep /tmp/rb (SQLite: it leaves run-1.db), then
     .venv/bin/python -m bench.bench_ledger_floor /tmp/rb [--database-url URL]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.bench_reconcile import clock, duckdb_matching
from bench.data import enrolment_pairs, fresh_database
from bot.adapters.sql.engine import make_engine
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.services.campaigns import CampaignSource

KEPT = ("card_transactions", "credits", "merchant_purchases", "rejects")
STAGED = ("file_id", "day", "transaction_id", "line", "member_id", "last4", "merchant_id", "cents",
          "currency", "kind", "original_id")
Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def kept_rows(run_db: Path) -> Rows:
    """Return each kept table's columns and rows, and the staged rows (one per decided transaction)."""
    source = sqlite3.connect(run_db)
    found: Rows = {}
    for table in KEPT:
        cursor = source.execute(f"SELECT * FROM {table}")
        found[table] = ([d[0] for d in cursor.description], cursor.fetchall())
    source.close()
    _, kept = found["card_transactions"]
    # card_transactions: transaction_id, file_id, line, member_id, merchant_id, cents, currency, day, ...
    found["staged_transactions"] = (list(STAGED), [(r[1], r[7], r[0], r[2], r[3], "0000", r[4], r[5], r[6],
                                                    r[8], r[9]) for r in kept])
    return found


def sqlite_writes(seed: Path, target: Path, rows: Rows) -> float:
    """Copy the seed and write every row into it, as a run does (WAL, synchronous FULL); return seconds."""
    shutil.copy(seed, target)
    db = sqlite3.connect(target, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "cache_size=-16384"):
        db.execute(f"PRAGMA {pragma}")
    started = time.perf_counter()
    for table, (columns, values) in _in_order(rows):
        db.execute("BEGIN")
        for start in range(0, len(values), 40_000):  # a run commits its batches and chunks too
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                           f"VALUES ({', '.join('?' * len(columns))})", values[start:start + 40_000])
        db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    target.unlink()
    return seconds


def postgres_writes(url: str, offers: Path, rows: Rows) -> float:
    """Make the bench database afresh (its campaigns and the rows' files, for the foreign keys) and
    COPY every row into it; return seconds."""
    import psycopg

    engine = fresh_database(url)
    CampaignSource(offers, UTC, unit_of_work_factory(engine), clock).load()
    files: set[int] = set()
    for table in KEPT:
        columns, values = rows[table]
        at = columns.index("file_id")
        files.update(row[at] for row in values)
    with engine.begin() as conn:
        for file_id in sorted(files):
            conn.exec_driver_sql(
                "INSERT INTO transaction_files (id, sha256, name, status, started_at, rows_done, counters, "
                "notices_after, notices_done) VALUES (%(id)s, %(sha)s, 'floor', 'running', now(), 0, '{}', "
                "0, false)", {"id": file_id, "sha": f"{file_id:064d}"})
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    engine.dispose()
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        for table, (columns, values) in _in_order(rows):
            names = ", ".join(f'"{c}"' for c in columns)
            with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(tuple(_native(v) for v in row))
            conn.commit()
        return time.perf_counter() - started


def _in_order(rows: Rows) -> Sequence[tuple[str, tuple[list[str], list[tuple[Any, ...]]]]]:
    return [("staged_transactions", rows["staged_transactions"]), *((t, rows[t]) for t in KEPT)]


def _native(value: Any) -> Any:
    """Turn SQLite's text dates and times into what COPY takes for date and timestamp columns."""
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        if len(value) == 10:
            return date.fromisoformat(value)
        if value[10:11] == " ":
            return datetime.fromisoformat(value)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kept", type=Path, help="the --keep folder of a bench_reconcile run")
    parser.add_argument("--database-url", help="a postgresql+psycopg:// bench database (its public "
                        "schema is dropped and made again, as bench_reconcile does)")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=200)
    args = parser.parse_args()
    root: Path = args.kept
    rows = kept_rows(root / "run-1.db")
    seed = unit_of_work_factory(make_engine(f"sqlite:///{root / 'seed.db'}"))
    catalog = CampaignSource(root / "offers", UTC, seed, clock).load()
    pairs = enrolment_pairs(args.members, args.campaigns, 2)
    counts = ", ".join(f"{len(v):,} {t}" for t, (_, v) in _in_order(rows))
    for _ in range(2):
        if args.database_url:
            kind, seconds = "PostgreSQL (COPY)", postgres_writes(args.database_url, root / "offers", rows)
        else:
            kind, seconds = "SQLite (executemany)", sqlite_writes(root / "seed.db", root / "floor.db", rows)
        duck, _ = duckdb_matching(root / "transactions-1x.csv", root, args.members, pairs,
                                  list(catalog.campaigns))
        print(f"ledger writes alone, {kind}: {seconds:.2f}s for {counts}; DuckDB matching {duck:.2f}s; "
              f"writes / DuckDB {seconds / duck:.2f}x")


if __name__ == "__main__":
    main()
