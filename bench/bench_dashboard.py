"""Dashboard benchmark: the stored report refreshed from a reconciled ledger, and read back for a page.

Builds one campaign with 200,000 enrolments (and 50,000 linked members who never enrol), writes a
1,000,000-row transaction file at its merchant ids (purchases before and after enrolling, 3%
refunds), reconciles it, then in fresh processes times ``refresh_dashboards`` (reading the facts
and building the report: the job after each run) and ``DashboardReports.latest`` with
``report_from_data`` and the SVG charts (what a page does before its HTML), median of 20 warm, and
reads each process's peak RSS; then the same at 2x. With --database-url postgresql+psycopg://...
the database given is wiped and used instead of SQLite files.
Run: .venv/bin/python -m bench.bench_dashboard [--enrolments N] [--rows N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.bench_dashboard_numbers import median_ms
from bench.bench_reconcile import peak_rss_mb
from bench.data import KEY, card_number, database_kind, fresh_database, link_members, user_id
from bot.adapters.chart_svg import ChartRenderer
from bot.adapters.locks import instance_name, locks_for
from bot.adapters.migrations import upgrade
from bot.adapters.scan_process import scan_in_second_process
from bot.adapters.sql.dashboard_facts import SqlDashboardFacts
from bot.adapters.sql.dashboard_reports import DashboardReportStore
from bot.adapters.sql.engine import make_engine
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.domain.cards import KEY_VAR, Fingerprinter
from bot.domain.dashboard.charts import dashboard_charts
from bot.domain.enrolment import Enrolment
from bot.services.campaigns import CampaignSource
from bot.services.dashboards import StoredDashboards, refresh_dashboards
from bot.services.intake import POLLED
from bot.services.reconciliation import ReconcileDeps, reconcile_file

CAMPAIGN = "merchant-000"
TARGET_MS = 300  # the page and its API call, HTML and HTTP included
PASSWORD = "bench-Password-1234"  # noqa: S105 (a throwaway user of the benchmark's own database)
REPO = Path(__file__).resolve().parent.parent
OPEN = date(2026, 9, 1)


def clock() -> datetime:
    return datetime(2026, 11, 30, 12, tzinfo=UTC)


def write_campaign(offers: Path) -> None:
    """Write the one campaign: $5 back on $20 or more, once per member, open from 1 Sep 2026."""
    offers.mkdir(parents=True, exist_ok=True)
    (offers / f"{CAMPAIGN}.toml").write_text(
        f'id = "{CAMPAIGN}"\nmerchant = "Merchant 000"\nhashtag = "#AmexMerchant000"\n'
        'merchant_ids = ["MID-000-A", "MID-000-B"]\n'
        "enrol_from = 2026-09-01\nenrol_until = 2027-06-30\nredeem_by = 2027-07-31\n"
        'currency = "USD"\ncredit = 5.00\nmin_spend = 20.00\nbudget = 10000000.00\n')


def seed(root: Path, url: str, enrolments: int, pool: int) -> None:
    """Build the database: ``enrolments + pool`` linked members, the first ``enrolments`` enrolled
    on days spread over the campaign's first ten weeks."""
    write_campaign(root / "offers")
    if url.startswith("sqlite"):
        # Migrated, not made from the models: the HTTP step starts the real app, which checks
        # the schema's revision (a new file each run).
        engine = make_engine(url)
        upgrade(engine)
    else:
        engine = fresh_database(url)
    uow = unit_of_work_factory(engine)
    CampaignSource(root / "offers", UTC, uow, lambda: datetime(2026, 6, 1, tzinfo=UTC)).load()
    link_members(uow, enrolments + pool, lambda: datetime(2026, 5, 1, tzinfo=UTC))
    rng = random.Random(5)
    with uow() as tx:
        tx.enrolments.add_many([
            Enrolment(user_id(m), CAMPAIGN, f"{1_900_000_000_000_000_000 + m}",
                      datetime.combine(OPEN + timedelta(days=rng.randrange(70)), datetime.min.time(), UTC)
                      + timedelta(hours=rng.randrange(24))) for m in range(enrolments)])
        tx.commit()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def write_transactions(path: Path, rows: int, members: int, seed: int) -> None:
    """Write ``rows`` rows at the campaign's merchant ids by linked members, 1 Jun to 28 Nov 2026:
    the look-back before enrolling, the purchases after it; 3% refunds naming their purchase."""
    rng = random.Random(seed)
    recent: list[tuple[str, str, str]] = []
    first = date(2026, 6, 1)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("transaction_id,card_number,merchant_id,merchant_name,amount,currency,"
                  "transaction_date,type,original_transaction_id\n")
        for n in range(rows):
            tid, mid = f"D{n:09d}", ("MID-000-A", "MID-000-B")[n & 1]
            if recent and rng.random() < 0.03:
                orig, card, amount = recent[rng.randrange(len(recent))]
                out.write(f"{tid},{card},{mid},Merchant 000,{amount},USD,2026-11-28,refund,{orig}\n")
                continue
            card = card_number(rng.randrange(members))
            amount = f"{rng.uniform(3, 80):.2f}"
            day = first + timedelta(days=rng.randrange(181))
            out.write(f"{tid},{card},{mid},Merchant 000,{amount},USD,{day.isoformat()},purchase,\n")
            if len(recent) < 20_000:
                recent.append((tid, card, amount))


def child(step: str, url: str, offers: Path, csv: Path, exports: Path, repeat: int) -> dict[str, float]:
    """Run one step in this (fresh) process; return its figures."""
    engine = make_engine(url)
    uow = unit_of_work_factory(engine)
    catalog = CampaignSource(offers, UTC, uow, clock).load()
    facts = SqlDashboardFacts(engine, lambda: catalog.by_id, min_members=10, polled_cursor=POLLED)
    store = DashboardReportStore(engine)
    figures: dict[str, float] = {}
    started = time.perf_counter()
    if step == "reconcile":
        deps = ReconcileDeps(uow, Fingerprinter(KEY), clock, exports, UTC,
                             locks_for(engine, instance_name(), clock, timedelta(minutes=5)),
                             scanner=scan_in_second_process)
        summary = reconcile_file(deps, catalog, csv)
        figures["reconcile_s"] = time.perf_counter() - started
        figures["credits"] = sum(t["credits"] for t in summary.campaigns.values())
        with engine.connect() as conn:
            figures["kept"] = conn.exec_driver_sql("SELECT count(*) FROM merchant_purchases").scalar_one()
    elif step == "refresh":
        done = refresh_dashboards(facts, store, [CAMPAIGN], min_members=10, clock=clock)
        assert done.computed == [CAMPAIGN], done
        figures["refresh_s"] = time.perf_counter() - started
    else:
        reports = StoredDashboards(facts, store, min_members=10, clock=clock)
        renderer = ChartRenderer(REPO / "templates")
        report = reports.latest(CAMPAIGN)
        assert report is not None
        figures["latest_ms"] = median_ms(lambda: reports.latest(CAMPAIGN), repeat, warm=True)
        figures["charts_ms"] = median_ms(
            lambda: [renderer.render(c) for c in dashboard_charts(report, prefix=CAMPAIGN)], repeat,
            warm=True)
        figures["page_data_ms"] = median_ms(
            lambda: [renderer.render(c) for c in dashboard_charts(reports.latest(CAMPAIGN), prefix=CAMPAIGN)],
            repeat, warm=True)
        figures.update(http_figures(engine, offers, repeat))
    figures["peak_rss_mb"] = peak_rss_mb()
    engine.dispose()
    return figures


def http_figures(engine: Any, offers: Path, repeat: int) -> dict[str, float]:
    """Time the campaign page and its API call through the whole portal (routing, sign-in
    check, the read model's merchant check, HTML or JSON), as the merchant, median of ``repeat``."""
    from starlette.testclient import TestClient

    from bot.adapters.passwords import PasswordHasher
    from bot.bootstrap import bootstrap, build_portal
    from bot.config import load_settings
    from bot.web.app import create_app

    root = offers.parent
    (root / "data").mkdir(exist_ok=True)
    text = (REPO / "bot.toml").read_text()
    text = text.replace('offers = "offers"', f'offers = "{offers}"')
    text = text.replace('templates = "templates"', f'templates = "{REPO / "templates"}"')
    text = text.replace('data = "data"', f'data = "{root / "data"}"')
    (root / "bot.toml").write_text(text)
    settings = load_settings(root / "bot.toml", {KEY_VAR: KEY.hex()})
    app = bootstrap(settings, clock=clock, engine=engine)
    app.campaigns.load()
    portal = build_portal(app, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
                          runner=lambda job: job())
    portal.accounts.add("bench@merchant.example", "merchant", "Merchant 000", PASSWORD, by="bench")
    web = create_app(app, portal)
    base = "http://127.0.0.1:8000"
    client = TestClient(web, base_url=base, headers={"Origin": base})
    form = client.get("/signin").text
    csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    client.post("/signin", data={"email": "bench@merchant.example", "password": PASSWORD,
                                 "csrf": csrf, "next": "/"})
    viewer = portal.accounts.repo.user_by_email("bench@merchant.example").viewer
    bearer = {"Authorization": f"Bearer {portal.tokens.create(viewer, 'bench').text}"}

    def page() -> None:
        response = client.get(f"/campaigns/{CAMPAIGN}")
        assert response.status_code == 200, response.status_code
        assert "fewer than" in response.text or "Enrolments" in response.text

    def api() -> None:
        response = client.get(f"/api/v1/campaigns/{CAMPAIGN}/report", headers=bearer)
        assert response.status_code == 200, response.status_code
        assert response.json()["campaign_id"] == CAMPAIGN

    return {"page_ms": median_ms(page, repeat, warm=True), "api_ms": median_ms(api, repeat, warm=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrolments", type=int, default=200_000)
    parser.add_argument("--pool", type=int, default=50_000, help="linked members who never enrol")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--scales", default="1,2")
    parser.add_argument("--database-url", help="default: SQLite files in a temporary folder; "
                        "a postgresql+psycopg:// database is wiped (public schema dropped) first")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, url, offers, csv, exports, repeat = args.child
        print(json.dumps(child(step, url, Path(offers), Path(csv), Path(exports), int(repeat))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for scale in (int(s) for s in args.scales.split(",")):
            enrolments, pool, rows = args.enrolments * scale, args.pool * scale, args.rows * scale
            url = args.database_url or f"sqlite:///{root / f'dashboard-{scale}x.db'}"
            started = time.perf_counter()
            seed(root, url, enrolments, pool)
            csv = root / f"transactions-{scale}x.csv"
            write_transactions(csv, rows, enrolments + pool, seed=scale)
            print(f"{scale}x ({database_kind(url)}): {enrolments:,} enrolments, {pool:,} linked members "
                  f"not enrolled, {rows:,} rows; setup {time.perf_counter() - started:.0f}s", flush=True)
            figures: dict[str, float] = {}
            for step in ("reconcile", "refresh", "serve"):
                out = subprocess.run([sys.executable, "-m", "bench.bench_dashboard", "--child", step, url,
                                      str(root / "offers"), str(csv), str(root / f"exports-{scale}x"),
                                      str(args.repeat)], check=False, capture_output=True, text=True)
                if out.returncode:
                    sys.exit(f"{step} failed:\n{out.stderr}")
                found = json.loads(out.stdout)
                figures.update({f"{step}.{k}" if k == "peak_rss_mb" else k: v for k, v in found.items()})
            print(f"  reconcile {figures['reconcile_s']:.1f}s ({figures['kept']:,.0f} purchases kept, "
                  f"{figures['credits']:,.0f} credits), peak RSS {figures['reconcile.peak_rss_mb']:.0f} MB")
            print(f"  refresh_dashboards {figures['refresh_s']:.1f}s, peak RSS "
                  f"{figures['refresh.peak_rss_mb']:.0f} MB")
            print(f"  latest {figures['latest_ms']:.1f} ms, charts {figures['charts_ms']:.1f} ms, "
                  f"latest + charts {figures['page_data_ms']:.1f} ms (median of {args.repeat}, warm; "
                  f"page target {TARGET_MS} ms with HTML and HTTP)", flush=True)
            print(f"  campaign page {figures['page_ms']:.1f} ms, API call {figures['api_ms']:.1f} ms "
                  f"(median of {args.repeat}, warm, over HTTP; target {TARGET_MS} ms each), peak RSS "
                  f"{figures['serve.peak_rss_mb']:.0f} MB", flush=True)
            csv.unlink()


if __name__ == "__main__":
    main()
