"""Generators of realistic benchmark data: campaigns, card numbers, members, X payload pages;
and the empty database each benchmark starts from."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, make_url

from bot.adapters.migrations import upgrade
from bot.adapters.sql.engine import create_schema, make_engine
from bot.domain.cards import Fingerprinter
from bot.ports import UnitOfWorkFactory
from bot.services.members import import_members

BOT_ID = "1850000000000000000"
KEY = b"b" * 32  # the card fingerprint key of every benchmark
KINDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def fresh_database(url: str) -> Engine:
    """Return an engine on an empty database holding the bot's schema.

    SQLite (a new file) gets its tables from the models, as the benchmarks always did; a
    PostgreSQL database loses everything in its public schema, then is migrated to the head.
    """
    engine = make_engine(url)
    if engine.dialect.name != "postgresql":
        create_schema(engine)
        return engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    return engine


def database_kind(url: str | URL) -> str:
    """Return the database's name for output lines: SQLite or PostgreSQL."""
    backend = make_url(url).get_backend_name()
    return KINDS.get(backend, backend)


def link_members(uow: UnitOfWorkFactory, count: int, clock: Callable[[], datetime]) -> int:
    """Link ``count`` generated members (user_id(n), card_number(n)) as `sync import` would."""
    rows = ((n + 2, {"user_id": user_id(n), "handle": f"m{n}", "card_number": card_number(n)})
            for n in range(count))
    return import_members(uow, Fingerprinter(KEY), clock, rows).linked


def luhn_complete(prefix: str) -> str:
    """Return ``prefix`` with the check digit that makes it pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(prefix + "0")):
        value = int(char)
        if index & 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return prefix + str((10 - total % 10) % 10)


def card_number(n: int) -> str:
    """Return the n-th generated 15-digit Amex-style card number."""
    return luhn_complete(f"37{n:012d}")


def user_id(n: int) -> str:
    """Return the n-th member's X user id."""
    return str(1_000_000 + n)


def write_campaigns(offers: Path, count: int, *, limited_every: int = 10) -> list[str]:
    """Write ``count`` campaign files (every limited_every-th one with limited quantity)."""
    offers.mkdir(parents=True, exist_ok=True)
    tags = []
    for n in range(count):
        tag = f"AmexMerchant{n:03d}"
        tags.append(tag)
        reward = ("credit = 5.00\nmin_spend = 20.00\n" if n % 2 == 0
                  else "percent = 10\nmax_credit = 25.00\n")
        limited = f"max_enrolments = {500 + n}\n" if n % limited_every == 0 else ""
        (offers / f"merchant-{n:03d}.toml").write_text(
            f'id = "merchant-{n:03d}"\nmerchant = "Merchant {n:03d}"\nhashtag = "#{tag}"\n'
            f'merchant_ids = ["MID-{n:03d}-A", "MID-{n:03d}-B"]\n'
            "enrol_from = 2026-01-01\nenrol_until = 2027-12-31\nredeem_by = 2028-01-31\n"
            f'currency = "USD"\n{reward}{limited}budget = 1000000.00\n')
    return tags


def mention_pages(total: int, members: int, tags: list[str], *, page_size: int = 100,
                  seed: int = 7) -> list[dict[str, Any]]:
    """Return X v2 mentions-timeline bodies, newest page first, chained by next_token."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    posts = []
    for n in range(total):
        post_id = str(1_900_000_000_000_000_000 + n)
        linked = rng.random() < 0.9
        author = user_id(rng.randrange(members)) if linked else str(9_000_000 + rng.randrange(10**6))
        chosen = rng.sample(tags, 2 if rng.random() < 0.2 else 1)
        if rng.random() < 0.05:
            chosen.append("fridayvibes")
        text = "@offerbot " + " ".join(f"#{t}" for t in chosen)
        hashtags, offset = [], len("@offerbot ")
        for tag in chosen:
            hashtags.append({"start": offset, "end": offset + len(tag) + 1, "tag": tag})
            offset += len(tag) + 2
        post: dict[str, Any] = {
            "id": post_id, "text": text, "author_id": author, "conversation_id": post_id,
            "created_at": (start + timedelta(seconds=n)).isoformat().replace("+00:00", ".000Z"),
            "edit_history_tweet_ids": [post_id],
            "entities": {"hashtags": hashtags,
                         "mentions": [{"start": 0, "end": 9, "username": "offerbot", "id": BOT_ID}]},
        }
        if rng.random() < 0.02:
            post["referenced_tweets"] = [{"type": "retweeted", "id": str(int(post_id) - 1)}]
            post["text"] = "RT @someone: " + text
        posts.append(post)
    posts.reverse()  # X returns newest first
    bodies = []
    for index, first in enumerate(range(0, total, page_size)):
        chunk = posts[first:first + page_size]
        authors = sorted({p["author_id"] for p in chunk})
        meta: dict[str, Any] = {"newest_id": chunk[0]["id"], "oldest_id": chunk[-1]["id"],
                                "result_count": len(chunk)}
        if first + page_size < total:
            meta["next_token"] = f"token{index + 1:05d}"
        bodies.append({"data": chunk,
                       "includes": {"users": [{"id": a, "name": f"Member {a}", "username": f"m{a}"}
                                              for a in authors]},
                       "meta": meta})
    return bodies


def enrolment_pairs(members: int, campaigns: int, per_member: int, *,
                    seed: int = 11) -> list[tuple[int, int]]:
    """Return (member, campaign) enrolments: ``per_member`` distinct campaigns per member."""
    rng = random.Random(seed)
    return [(m, c) for m in range(members) for c in rng.sample(range(campaigns), per_member)]


def write_transactions(path: Path, rows: int, *, members: int, campaigns: int,
                       enrolled: dict[int, list[int]], seed: int, id_prefix: str = "T") -> None:
    """Write a daily transaction file of ``rows`` rows, like a card system would send.

    Three in four rows are linked members' cards; one in four is at a campaign's merchant (most
    of those at a campaign the member enrolled in); 3% are refunds, some naming the purchase;
    one row in a thousand is malformed.
    """
    rng = random.Random(seed)
    bad_amounts = ("1,234.50", "$12", "(12.00)", "1e3", "NaN", "", "-5.00")
    recent: list[tuple[str, str, str, str]] = []  # (id, card, mid, amount) of past purchases
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("transaction_id,card_number,merchant_id,merchant_name,amount,currency,"
                  "transaction_date,type,original_transaction_id\n")
        for n in range(rows):
            member = rng.randrange(members)
            linked = rng.random() < 0.75
            card = card_number(member) if linked else luhn_complete(f"34{rng.randrange(10**12):012d}")
            if rng.random() < 0.25:
                choices = enrolled.get(member) if linked and rng.random() < 0.6 else None
                campaign = rng.choice(choices) if choices else rng.randrange(campaigns)
                mid = f"MID-{campaign:03d}-{'AB'[n & 1]}"
            else:
                mid = f"SHOP-{rng.randrange(5000):05d}"
            day = f"2026-11-{rng.randrange(1, 29):02d}"
            amount = f"{rng.uniform(1, 150):.2f}"
            txn_id = f"{id_prefix}{n:09d}"
            if recent and rng.random() < 0.03:
                orig_id, card, mid, orig_amount = recent[rng.randrange(len(recent))]
                whole = rng.random() < 0.5
                amount = orig_amount if whole else f"{float(orig_amount) / 4:.2f}"
                kind, original = "refund", (orig_id if rng.random() < 0.7 else "")
                day = "2026-11-29"
            else:
                kind, original = "purchase", ""
                if mid.startswith("MID-") and len(recent) < 5000:
                    recent.append((txn_id, card, mid, amount))
            if rng.random() < 0.001:
                amount = rng.choice(bad_amounts)
                amount = f'"{amount}"' if "," in amount else amount
            out.write(f"{txn_id},{card},{mid},Merchant {mid},{amount},USD,{day},{kind},{original}\n")
