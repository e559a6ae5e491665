"""The crash harness: kill -9 the bot at seeded random moments while it polls and replies, and
while it reconciles; after restarting, everything must be exactly as after one clean run."""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from bot.adapters.sql.engine import READONLY, make_engine
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.cli import cli
from bot.domain.enrolment import Enrolment
from tests.conftest import HEADER, POSTGRES_URL, empty_postgres
from tests.fakes import card_number, child_env, sandbox_replies, wait_for

pytestmark = pytest.mark.slow
MEMBERS = 300
POSTS = 400
ROWS = 60_000  # about 5 MB: large enough for the scanning process
KILLS = 10  # per phase: at least 20 kill points per run


def _env() -> dict[str, str]:
    return child_env(OFFERBOT_FINGERPRINT_KEY="ab" * 32)


def _engine(project: Path) -> Engine:
    url = POSTGRES_URL or f"sqlite:///{project / 'data' / 'offerbot.db'}"
    return make_engine(url)


def _cli(project: Path, *args: str) -> None:
    result = CliRunner(env=_env()).invoke(cli, ["--config", str(project / "bot.toml"), *args])
    assert result.exit_code == 0, result.output


def _reset(project: Path) -> None:
    """Back to a project with no database and no output, ready for the same work again."""
    engine = _engine(project)
    if engine.dialect.name == "postgresql":
        empty_postgres(engine)
    engine.dispose()
    data = project / "data"
    for path in (*data.glob("offerbot.db*"), data / "sandbox" / "replies.jsonl"):
        path.unlink(missing_ok=True)
    shutil.rmtree(data / "exports", ignore_errors=True)


def _prepare(project: Path) -> None:
    """Link MEMBERS members (a tenth of the cards are never linked) and set fast intervals."""
    config = project / "bot.toml"
    config.write_text(config.read_text().replace("poll_interval = 5", "poll_interval = 1")
                      .replace("reply_interval = 10", "reply_interval = 1")
                      .replace("reply_batch = 20", "reply_batch = 200")
                      .replace("batch_rows = 200000", "batch_rows = 4000"))
    members = project / "members.csv"
    members.write_text("user_id,handle,card_number\n" + "".join(
        f"{10_000 + n},m{n},{card_number(n)}\n" for n in range(MEMBERS)))
    _cli(project, "sync", "import", str(members))
    _cli(project, "campaigns", "list")


def _write_mentions(project: Path) -> None:
    rng = random.Random(5)
    tags = ("#AmexMcDonalds", "#AmexFedEx", "#AmexVirginAmer", "#AmexZappos", "#fridayvibes")
    sandbox = project / "data" / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    with (sandbox / "mentions.jsonl").open("w") as lines:
        for n in range(POSTS):
            author = str(10_000 + rng.randrange(MEMBERS + 30))  # some authors never linked
            text_ = "@offerbot STOP" if rng.random() < 0.01 else "@offerbot " + " ".join(rng.sample(tags, 2))
            lines.write(json.dumps({"id": str(4_000_000 + n), "author_id": author, "text": text_}) + "\n")


def _outcome_of_polling(project: Path) -> dict:
    engine = _engine(project)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        enrolments = sorted(conn.execute(text("SELECT member_id, campaign_id, post_id FROM enrolments")))
        posts = sorted(conn.execute(text("SELECT post_id, outcome FROM posts")).all())
        counts = dict(conn.execute(text("SELECT id, enrolled FROM campaigns")).all())
        pending = conn.execute(text("SELECT count(*) FROM outbox WHERE status <> 'sent'")).scalar()
    engine.dispose()
    replies = sandbox_replies(project)
    targets = [r["in_reply_to_tweet_id"] for r in replies]
    assert len(targets) == len(set(targets)), "a post got two replies"
    return {"enrolments": enrolments, "posts": posts, "counts": counts, "pending": pending,
            "replies": sorted((r["in_reply_to_tweet_id"], r["text"]) for r in replies)}


def _start(project: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `offerbot ARGS` as a process of its own (to be killed), its output discarded."""
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(project / "bot.toml"), *args],
                            cwd=project, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _until_everything_is_answered(project: Path, replies: int) -> None:
    bot = _start(project, "run")
    path = project / "data" / "sandbox" / "replies.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not path.exists() or len(path.read_text().splitlines()) < replies):
        time.sleep(0.1)  # waiting on a real process
    time.sleep(1.5)  # a last reply run, to show nothing more goes out
    bot.send_signal(signal.SIGTERM)
    assert bot.wait(timeout=30) == 0


def test_polling_and_replying_survive_kill_9_at_random_moments(project: Path):
    """Killed 10 times mid-poll or mid-reply, the bot ends with one enrolment per member and
    campaign, one reply per post, and exactly the state of a run never killed."""
    _prepare(project)
    _write_mentions(project)
    _until_everything_is_answered(project, replies=1)  # the clean run answers at least one...
    clean = _outcome_of_polling(project)
    while clean["pending"]:  # ... and is let run until nothing is pending
        _until_everything_is_answered(project, replies=len(clean["replies"]) + 1)
        clean = _outcome_of_polling(project)
    assert len(clean["replies"]) > 100

    _reset(project)
    _prepare(project)
    rng = random.Random(11)
    for _ in range(KILLS):
        bot = _start(project, "run")
        time.sleep(rng.uniform(0.3, 2.0))  # a random moment to kill it at
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=30)
    _until_everything_is_answered(project, replies=len(clean["replies"]))

    assert _outcome_of_polling(project) == clean


def _write_day(project: Path) -> Path:
    engine = _engine(project)
    uow = unit_of_work_factory(engine)
    campaigns = ("amex-mcdonalds", "amex-zappos", "amex-virgin-america")
    with uow() as tx:
        since = datetime(2026, 11, 1, tzinfo=UTC)
        tx.enrolments.add_many([Enrolment(str(10_000 + n), c, str(70_000 + n), since)
                                for n in range(MEMBERS) for c in campaigns[: 1 + n % 3]])
        tx.commit()
    engine.dispose()
    rng = random.Random(3)
    mids = ("MID-MCD-0001", "MID-ZAP-0001", "MID-VXA-0001", "MID-FDX-0001", "SHOP-1", "SHOP-2")
    lines = []
    for n in range(ROWS):
        member = rng.randrange(MEMBERS + 50)
        card = card_number(member) if member < MEMBERS else card_number(50_000 + member)
        if n > 100 and rng.random() < 0.03:
            lines.append(f"R{n:06d},{card},{rng.choice(mids)},Shop,{rng.uniform(1, 90):.2f},USD,"
                         f"2026-11-20,refund,T{rng.randrange(n):06d}")
        else:
            lines.append(f"T{n:06d},{card},{rng.choice(mids)},Shop,{rng.uniform(1, 200):.2f},USD,"
                         f"2026-11-{rng.randrange(2, 20):02d},purchase,")
    path = project / "day.csv"
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return path


def _outcome_of_reconciling(project: Path) -> dict:
    engine = _engine(project)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        credits = conn.execute(text("SELECT transaction_id, campaign_id, kind, cents, credit_id FROM credits "
                                    "ORDER BY transaction_id, campaign_id, kind")).all()
        spent = dict(conn.execute(text("SELECT id, spent_cents FROM campaigns")).all())
        counters = json.loads(conn.execute(text("SELECT counters FROM transaction_files")).scalar())
        # The dashboard's kept purchases: each once, as a clean run keeps them (issue 12).
        kept = conn.execute(text("SELECT transaction_id, member_id, merchant_id, day, cents, refund_of "
                                 "FROM merchant_purchases ORDER BY transaction_id")).all()
    engine.dispose()
    counters.pop("exports")  # paths are the same here, but say nothing about the money
    [export] = (project / "data" / "exports").glob("*.credits.csv")
    assert not list((project / "data" / "exports").glob(".*.partial"))
    assert kept  # the day has purchases at campaign merchants by linked cards, enrolled or not
    return {"credits": credits, "spent": spent, "summary": counters, "export": export.read_bytes(),
            "kept": kept}


def _progress(project: Path) -> tuple[str | None, str | None, int | None]:
    """Return how far the file's reconciliation got: its phase, last decided id and rows read."""
    engine = _engine(project)
    # A read-only transaction (plain BEGIN on SQLite): it must not queue for the write lock the run
    # takes for each commit, or it would only see the run once it has finished.
    with engine.connect().execution_options(**{READONLY: True}) as conn:
        found = conn.execute(text("SELECT phase, decided_id, rows_done FROM transaction_files")).first()
    engine.dispose()
    return (found[0], found[1], found[2]) if found else (None, None, None)


PHASE = "SELECT phase FROM transaction_files"


@contextmanager
def _frozen(run: subprocess.Popen[bytes], project: Path) -> Iterator[str | None]:
    """Stop the process where it is (SIGSTOP) and yield the phase it had committed; let it go on
    (SIGCONT) afterwards unless it was killed meanwhile. Read without taking any lock: a stopped
    writer may hold SQLite's."""
    run.send_signal(signal.SIGSTOP)
    try:
        if POSTGRES_URL:
            engine = make_engine(POSTGRES_URL)
            with engine.connect() as conn:
                phase = conn.exec_driver_sql(PHASE).scalar()
            engine.dispose()
        else:
            uri = f"file:{project / 'data' / 'offerbot.db'}?mode=ro"
            with sqlite3.connect(uri, uri=True, timeout=60) as conn:
                row = conn.execute(PHASE).fetchone()
            conn.close()
            phase = row[0] if row else None
        yield phase
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGCONT)


def test_reconciling_survives_kill_9_at_random_moments(project: Path):
    """Killed 10 times mid-file (at random moments, and in the middle of deciding in time order),
    then run to the end, a reconciliation gives the credits, totals, summary and export of one
    clean run, byte for byte."""
    _prepare(project)
    path = _write_day(project)
    assert _start(project, "reconcile", str(path)).wait(timeout=120) == 0
    clean = _outcome_of_reconciling(project)
    assert len(clean["credits"]) > 300

    _reset(project)
    _prepare(project)
    _write_day(project)
    rng = random.Random(7)
    kills = 0
    phases = []  # the phase each killed run had got to: reading (stage) or deciding (decide)
    for n in range(KILLS):
        before = _progress(project)
        run = _start(project, "reconcile", str(path))

        def moved(run: subprocess.Popen[bytes] = run, before: tuple = before, deciding: bool = n % 3 == 2
                  ) -> bool:
            now = _progress(project)
            return run.poll() is not None or (now[0] == "decide" and now[1] != before[1] if deciding
                                               else now != before)

        if n % 3 == 0:
            time.sleep(rng.uniform(0.3, 2.0))  # a random moment, start-up included
        elif n % 3 == 1:  # a random moment once this run has committed work of its own
            wait_for(moved, timeout=120)
            time.sleep(rng.uniform(0, 0.15))
        else:  # while it decides in time order: stopped at its next commit, then killed there
            wait_for(moved, timeout=120)
            with _frozen(run, project) as phase:
                if run.poll() is None and phase == "decide":
                    run.send_signal(signal.SIGKILL)
                    run.wait(timeout=30)
                    kills += 1
                    phases.append("decide")
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            kills += 1
            phases.append(_progress(project)[0])
        run.wait(timeout=30)
    assert _start(project, "reconcile", str(path)).wait(timeout=120) == 0

    assert kills >= KILLS // 2
    assert {"stage", "decide"} <= set(phases), phases
    assert _outcome_of_reconciling(project) == clean
