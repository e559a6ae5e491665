"""Intake benchmark: X mention pages -> tweepy -> domain -> database, through the real pipeline.

Feeds N mentions (realistic v2 payload pages served by `responses` at api.twitter.com) from
members of a 100k-member base naming 200 campaigns, through XApi + poll_mentions into a SQLite
file (or, with --database-url, an emptied PostgreSQL database), and prints posts per second.
Run: .venv/bin/python -m bench.bench_intake [--mentions N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import responses
from sqlalchemy import Engine

from bench.data import BOT_ID, database_kind, fresh_database, link_members, mention_pages, write_campaigns
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.adapters.x_api import XApi
from bot.environment import XCredentials
from bot.services.campaigns import CampaignSource
from bot.services.intake import poll_mentions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mentions", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary folder; "
                        "a postgresql+psycopg:// database is emptied (public schema dropped) first")
    args = parser.parse_args()

    def clock() -> datetime:
        return datetime(2026, 11, 23, 12, tzinfo=UTC)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tags = write_campaigns(root / "offers", args.campaigns)
        engine = fresh_database(args.database_url or f"sqlite:///{root / 'bench.db'}")
        kind = database_kind(engine.url)
        uow = unit_of_work_factory(engine)
        catalog = CampaignSource(root / "offers", UTC, uow, clock).load()

        started = time.perf_counter()
        linked = link_members(uow, args.members, clock)
        print(f"setup ({kind}): {args.campaigns} campaigns, {linked:,} members linked "
              f"in {time.perf_counter() - started:.1f}s")

        bodies = mention_pages(args.mentions, args.members, tags)
        by_token = {None: bodies[0]} | {b["meta"].get("next_token"): bodies[i + 1]
                                         for i, b in enumerate(bodies[:-1])}
        encoded = {token: json.dumps(body) for token, body in by_token.items()}

        def serve(request):  # type: ignore[no-untyped-def]
            token = request.params.get("pagination_token")
            return 200, {"content-type": "application/json"}, encoded[token]

        # X keeps only the newest 800 mentions; the benchmark's backlog is far longer.
        api = XApi.from_credentials(XCredentials("ck", "cs", "at", "ats"), BOT_ID, clock=clock,
                                    max_pages=len(bodies) + 1)
        with responses.RequestsMock() as mock:
            mock.add_callback(responses.GET, f"https://api.twitter.com/2/users/{BOT_ID}/mentions",
                              callback=serve)
            fetch_started = time.perf_counter()
            pages = api.mentions_since(None)
            fetch_seconds = time.perf_counter() - fetch_started

            class Prefetched:
                """Hands the already-fetched pages to the poll, so both halves can be timed."""

                def describe(self) -> str:
                    return "prefetched"

                def mentions_since(self, since_id: str | None) -> list:  # type: ignore[type-arg]
                    return pages

                def reply(self, text: str, in_reply_to: str) -> str:
                    raise NotImplementedError

            server_before = server_cpu(engine)
            cpu_started, handle_started = time.process_time(), time.perf_counter()
            report = poll_mentions(uow, Prefetched(), catalog, clock, bot_user_id=BOT_ID)
            handle_seconds = time.perf_counter() - handle_started
            handle_cpu = time.process_time() - cpu_started
            server_seconds = server_cpu(engine) - server_before

        total = fetch_seconds + handle_seconds
        with uow(readonly=True) as tx:
            queued = sum(tx.outbox.counts().values())
        print(f"fetched {report.posts:,} mentions in {len(pages)} pages through tweepy: "
              f"{fetch_seconds:.2f}s ({report.posts / fetch_seconds:,.0f} posts/s)")
        print(f"handled (rules + {kind}, transactions of ~1,000 posts): {handle_seconds:.2f}s "
              f"({report.posts / handle_seconds:,.0f} posts/s)")
        # Wall time swings with other load on the machine; CPU seconds are the steadier figure.
        server = f" + PostgreSQL server {server_seconds:.2f}s" if kind == "PostgreSQL" else ""
        print(f"handled CPU: this process {handle_cpu:.2f}s{server}")
        print(f"outcomes: {dict(sorted(report.outcomes.items()))}; {queued:,} replies queued")
        print(f"TOTAL ({kind}): {report.posts:,} posts in {total:.2f}s = {report.posts / total:,.0f} posts/s "
              f"(target >= 5,000)")
        engine.dispose()


def server_cpu(engine: Engine) -> float:
    """Return the CPU seconds the PostgreSQL backends of this database have used (0 on SQLite, or
    when the server's processes cannot be read: it runs on the same machine, as here)."""
    if engine.dialect.name != "postgresql":
        return 0.0
    with engine.connect() as conn:
        pids = [pid for (pid,) in conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


if __name__ == "__main__":
    main()
