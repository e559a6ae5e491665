"""Reconciliation benchmark: a generated daily file through the real pipeline, and DuckDB beside it.

Builds 100k linked members, 200 campaigns and 200k enrolments in SQLite, writes 1M- and 2M-row
transaction files, then reconciles each in a fresh process on a fresh copy of the database
(seconds, peak RSS) and runs the same matching as one DuckDB SQL query over the 1M file.
With --database-url postgresql+psycopg://..., the seed is built in that database instead (its
public schema is dropped first) and the ledger tables are emptied before each run.
Run: .venv/bin/python -m bench.bench_reconcile [--rows N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from bench.data import (
    KEY,
    card_number,
    database_kind,
    enrolment_pairs,
    fresh_database,
    link_members,
    user_id,
    write_campaigns,
    write_transactions,
)
from bot.adapters.locks import instance_name, locks_for
from bot.adapters.scan_process import scan_in_second_process
from bot.adapters.sql.engine import make_engine
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.domain.campaigns import Campaign
from bot.domain.cards import Fingerprinter
from bot.domain.enrolment import Enrolment
from bot.services.campaigns import CampaignSource
from bot.services.reconciliation import ReconcileDeps, reconcile_file

# Issue 13: 1M rows within this many times DuckDB's time for the same matching, in the same run.
RATIO_TARGET = {"SQLite": 2, "PostgreSQL": 3}
ENROLLED_AT = datetime(2026, 11, 1, tzinfo=UTC)
# What a reconciliation writes: emptied between runs on a server database (SQLite runs copy the seed).
LEDGER = ("transaction_files", "card_transactions", "credits", "rejects", "outbox", "merchant_purchases",
          "dashboard_reports", "staged_transactions", "pending_refunds", "leases")


def clock() -> datetime:
    return datetime(2026, 11, 30, 12, tzinfo=UTC)


def seed(root: Path, url: str, members: int, campaigns: int,
         per_member: int) -> tuple[list[tuple[int, int]], tuple[Campaign, ...]]:
    """Create the database every run starts from; return the enrolments made and the campaigns."""
    write_campaigns(root / "offers", campaigns, limited_every=10**9)
    engine = fresh_database(url)
    uow = unit_of_work_factory(engine)
    catalog = CampaignSource(root / "offers", UTC, uow, clock).load()
    link_members(uow, members, clock)
    pairs = enrolment_pairs(members, campaigns, per_member)
    ids = [c.id for c in catalog.campaigns]
    with uow() as tx:
        tx.enrolments.add_many([Enrolment(user_id(m), ids[c], f"{1_900_000_000_000_000_000 + i}",
                                          ENROLLED_AT) for i, (m, c) in enumerate(pairs)])
        tx.commit()
    if engine.dialect.name == "postgresql":
        # A server database that has run a while has statistics and a visibility map for
        # these tables (autovacuum); give the fresh bulk load the same rather than timing
        # autovacuum catching up in the middle of a run.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return pairs, catalog.campaigns


def empty_ledger(engine: Engine) -> None:
    """Put a server database back to the seed: no files, transactions, credits; nothing spent."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(LEDGER)} RESTART IDENTITY")
        conn.exec_driver_sql("UPDATE campaigns SET spent_cents = 0")


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MiB.

    VmHWM belongs to the address space exec made; ru_maxrss would also count the bench
    process this one was forked from, as Linux keeps it across exec.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(url: str, offers: Path, csv: Path, exports: Path) -> None:
    """Reconcile one file and print seconds, peak RSS and the credits as JSON."""
    engine = make_engine(url)
    uow = unit_of_work_factory(engine)
    catalog = CampaignSource(offers, UTC, uow, clock).load()
    deps = ReconcileDeps(uow, Fingerprinter(KEY), clock, exports, UTC,
                         locks_for(engine, instance_name(), clock, timedelta(minutes=5)),
                         scanner=scan_in_second_process)  # as bootstrap builds it
    started = time.perf_counter()
    summary = reconcile_file(deps, catalog, csv)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    with engine.connect() as conn:
        credited = conn.exec_driver_sql(
            "SELECT transaction_id, campaign_id, cents FROM credits WHERE kind = 'credit'").all()
        refunded = {tuple(r) for r in conn.exec_driver_sql(
            "SELECT member_id, campaign_id FROM credits WHERE kind = 'clawback'").all()}
        owners = dict(conn.exec_driver_sql(
            "SELECT transaction_id, member_id FROM card_transactions").all())
    json.dump({"seconds": seconds, "peak_mb": peak, "rows": summary.rows, "rejected": summary.rejected,
               "outcomes": summary.outcomes, "refunded_pairs": sorted(refunded),
               "credits": [[t, c, cents] for t, c, cents in credited if (owners[t], c) not in refunded],
               "clawbacks": summary.outcomes.get("clawback", 0)}, sys.stdout)


def duckdb_matching(csv: Path, root: Path, members: int, pairs: list[tuple[int, int]],
                    campaigns: list) -> tuple[float, set]:
    """Run the purchase matching as one DuckDB query; return seconds and (txn, campaign) credits.

    Like offerbot it decides in time order (transaction_date, then transaction_id): the first
    purchases in time take a member's credits and a campaign's budget.
    """
    import duckdb

    fingerprint = Fingerprinter(KEY).fingerprint
    (root / "members.csv").write_text("fingerprint,member_id\n" + "".join(
        f"{fingerprint(card_number(n))},{user_id(n)}\n" for n in range(members)))
    ids = [c.id for c in campaigns]
    (root / "enrolments.csv").write_text("member_id,campaign_id,since\n" + "".join(
        f"{user_id(m)},{ids[c]},2026-11-01\n" for m, c in pairs))
    (root / "campaigns.csv").write_text("campaign_id,mid,min_cents,credit_cents,percent,max_cents,"
                                        "per_member,redeem_by,budget_cents\n" + "".join(
        f"{c.id},{mid},{int(c.min_spend * 100)},{int(c.credit * 100) if c.credit else ''},"
        f"{c.percent or ''},{int(c.max_credit * 100) if c.max_credit else ''},{c.per_member},"
        f"{c.redeem_by},{int(c.budget * 100) if c.budget else ''}\n"
        for c in campaigns for mid in c.merchant_ids))
    pad = KEY.ljust(64, b"\0")
    ipad = "".join(f"\\x{b ^ 0x36:02X}" for b in pad)
    opad = "".join(f"\\x{b ^ 0x5C:02X}" for b in pad)
    query = f"""
    WITH raw AS (
        SELECT *, row_number() OVER () AS line
        FROM read_csv('{csv}', header = true, all_varchar = true, delim = ',', quote = '"',
                      escape = '"', ignore_errors = true)
    ), valid AS (
        SELECT * FROM raw
        WHERE regexp_full_match(amount, '(0|[1-9][0-9]{{0,11}})(\\.[0-9]{{1,2}})?')
          AND regexp_full_match(card_number, '[0-9]{{13,19}}') AND "type" = 'purchase'
          AND TRY_CAST(transaction_date AS DATE) IS NOT NULL
    ), at_campaign AS (
        SELECT v.*, c.* FROM valid v JOIN read_csv('{root / "campaigns.csv"}') c ON v.merchant_id = c.mid
    ), linked AS (
        SELECT a.*, m.member_id FROM at_campaign a
        JOIN read_csv('{root / "members.csv"}', types = {{'member_id': 'VARCHAR'}}) m
          ON m.fingerprint = lower(sha256('{opad}'::BLOB || unhex(sha256('{ipad}'::BLOB
                                                                   || encode(a.card_number)))))
    ), first_seen AS (
        SELECT * FROM linked QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY line) = 1
    ), qualifying AS (
        SELECT f.*, CAST(round(CAST(f.amount AS DECIMAL(14, 2)) * 100) AS BIGINT) AS cents
        FROM first_seen f
        JOIN read_csv('{root / "enrolments.csv"}', types = {{'member_id': 'VARCHAR'}}) e
          ON e.member_id = f.member_id AND e.campaign_id = f.campaign_id
        WHERE CAST(f.transaction_date AS DATE) BETWEEN e.since AND f.redeem_by
          AND f.currency = 'USD'
    ), credited AS (
        SELECT transaction_id, campaign_id, line, member_id, transaction_date,
               coalesce(credit_cents, least(CAST(round(cents * percent / 100) AS BIGINT), max_cents))
                   AS credit, per_member, budget_cents
        FROM qualifying WHERE cents >= min_cents
    ), limited AS (
        SELECT * FROM credited
        QUALIFY row_number() OVER (PARTITION BY member_id, campaign_id
                                   ORDER BY transaction_date, transaction_id) <= per_member
    )
    SELECT transaction_id, campaign_id, credit, member_id FROM limited
    QUALIFY budget_cents IS NULL
         OR sum(credit) OVER (PARTITION BY campaign_id ORDER BY transaction_date, transaction_id)
            <= budget_cents
    """
    con = duckdb.connect()
    started = time.perf_counter()
    rows = con.execute(query).fetchall()
    return time.perf_counter() - started, {(t, c, cents, member) for t, c, cents, member in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--database-url", help="default: SQLite files in the temporary folder; "
                        "a postgresql+psycopg:// database is emptied (public schema dropped) first")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, offers, csv, exports = args.child
        child(url, Path(offers), Path(csv), Path(exports))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.keep:
            root = args.keep
            root.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        seed_url = args.database_url or f"sqlite:///{root / 'seed.db'}"
        server = make_engine(args.database_url) if args.database_url else None
        kind = database_kind(seed_url)
        pairs, campaigns = seed(root, seed_url, args.members, args.campaigns, 2)
        enrolled: dict[int, list[int]] = {}
        for m, c in pairs:
            enrolled.setdefault(m, []).append(c)
        files = {}
        for factor in (1, 2):
            files[factor] = root / f"transactions-{factor}x.csv"
            write_transactions(files[factor], args.rows * factor, members=args.members,
                               campaigns=args.campaigns, enrolled=enrolled, seed=factor,
                               id_prefix=f"T{factor}-")
        print(f"setup ({kind}): {args.members:,} members, {len(pairs):,} enrolments, "
              f"{args.campaigns} campaigns, files of {args.rows:,} and {2 * args.rows:,} rows "
              f"in {time.perf_counter() - started:.0f}s")
        runs = {}
        label = f"offerbot ({kind})"
        for factor, csv in files.items():
            if server is None:
                db = root / f"run-{factor}.db"
                shutil.copy(root / "seed.db", db)
                url = f"sqlite:///{db}"
            else:
                empty_ledger(server)
                url = seed_url
            out = subprocess.run([sys.executable, "-m", "bench.bench_reconcile", "--child", url,
                                  str(root / "offers"), str(csv), str(root / f"exports-{factor}")],
                                 check=True, capture_output=True, text=True)
            runs[factor] = json.loads(out.stdout)
            run = runs[factor]
            print(f"{label} {run['rows']:>9,} rows: {run['seconds']:6.2f}s "
                  f"({run['rows'] / run['seconds']:,.0f} rows/s), peak RSS {run['peak_mb']:.0f} MB, "
                  f"{len(run['credits']):,} credits, {run['clawbacks']:,} clawbacks, "
                  f"{run['rejected']:,} rejected")
        if server is not None:
            server.dispose()
        duck_seconds, duck_credits = duckdb_matching(files[1], root, args.members, pairs, list(campaigns))
        ours = runs[1]
        print(f"{'DuckDB':<{len(label)}} {args.rows:>9,} rows: {duck_seconds:6.2f}s (same matching as one "
              "SQL query, purchases only)")
        mine = {(t, c, cents) for t, c, cents in ours["credits"]}
        # A refund can give a member's credit back and let a later purchase earn it: offerbot
        # does that, the SQL query does not model refunds. Those (member, campaign) pairs are
        # left out of both sides; everything else must match credit for credit.
        refunded = {tuple(pair) for pair in ours["refunded_pairs"]}
        theirs = {(t, c, cents) for t, c, cents, member in duck_credits if (member, c) not in refunded}
        print(f"agreement: {len(mine & theirs):,} credits identical, {len(mine - theirs):,} only in "
              f"offerbot, {len(theirs - mine):,} only in DuckDB ({len(refunded):,} (member, campaign) "
              "pairs with a clawback left out of both)")
        target = RATIO_TARGET.get(kind, 2)
        print(f"ratio {label} / DuckDB: {ours['seconds'] / duck_seconds:.1f}x (target <= {target}x, "
              f"issue 13); peak RSS 1x {runs[1]['peak_mb']:.0f} MB, "
              f"2x {runs[2]['peak_mb']:.0f} MB (target <= 250 MB, flat)")


if __name__ == "__main__":
    main()
