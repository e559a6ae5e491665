"""kill -9 a reconciliation at random moments: rerun to the end, and the credits equal a clean run's."""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.adapters.database import make_engine
from bot.adapters.repository import unit_of_work_factory
from bot.cli import cli
from bot.domain.enrolment import Enrolment
from tests.fakes import card_number, child_env

pytestmark = pytest.mark.slow
MEMBERS = 2000
ROWS = 60_000  # about 5 MB: large enough for the scanning process


def _env() -> dict[str, str]:
    return child_env(OFFERBOT_FINGERPRINT_KEY="ab" * 32)


def _prepare(project: Path) -> Path:
    """Link and enrol MEMBERS members, write a day's file of ROWS rows; return its path."""
    config = project / "bot.toml"
    config.write_text(config.read_text().replace("batch_rows = 200000", "batch_rows = 4000"))
    members = project / "members.csv"
    members.write_text("user_id,handle,card_number\n" + "".join(
        f"{10_000 + n},m{n},{card_number(n)}\n" for n in range(MEMBERS)))
    for command in (["sync", "import", str(members)], ["campaigns", "list"]):
        result = CliRunner(env=_env()).invoke(cli, ["--config", str(config), *command])
        assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{project / 'data' / 'offerbot.db'}")
    uow = unit_of_work_factory(engine)
    campaigns = ("amex-mcdonalds", "amex-zappos", "amex-virgin-america")
    enrolled_at = datetime(2026, 11, 1, tzinfo=UTC)
    with uow() as tx:
        tx.enrolments.add_many([Enrolment(str(10_000 + n), campaign, str(70_000 + n), enrolled_at)
                                for n in range(MEMBERS) for campaign in campaigns[: 1 + n % 3]])
        tx.commit()
    engine.dispose()
    rng = random.Random(3)
    mids = ("MID-MCD-0001", "MID-ZAP-0001", "MID-VXA-0001", "MID-FDX-0001", "SHOP-1", "SHOP-2")
    lines = []
    for n in range(ROWS):
        member = rng.randrange(MEMBERS + 500)  # a few cards nobody linked
        card = card_number(member) if member < MEMBERS else card_number(50_000 + member)
        if n > 100 and rng.random() < 0.03:
            original = f"T{rng.randrange(n):06d}"
            lines.append(f"R{n:06d},{card},{rng.choice(mids)},Shop,{rng.uniform(1, 90):.2f},USD,"
                         f"2026-11-20,refund,{original}")
        else:
            lines.append(f"T{n:06d},{card},{rng.choice(mids)},Shop,{rng.uniform(1, 200):.2f},USD,"
                         f"2026-11-{rng.randrange(2, 20):02d},purchase,")
    path = project / "day.csv"
    path.write_text("transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,"
                    "type,original_transaction_id\n" + "\n".join(lines) + "\n")
    return path


def _reconcile(project: Path, path: Path, *, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(project / "bot.toml"), "reconcile",
                             str(path)], cwd=project, env=_env(), stdout=subprocess.DEVNULL, stderr=stderr)


def _ledger(project: Path) -> tuple[list[tuple], dict]:
    db = sqlite3.connect(project / "data" / "offerbot.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        credits = db.execute("SELECT transaction_id, campaign_id, kind, cents, credit_id FROM credits "
                             "ORDER BY transaction_id, campaign_id, kind").fetchall()
        counters = json.loads(db.execute("SELECT counters FROM transaction_files").fetchone()[0])
    finally:
        db.close()
    counters.pop("exports")  # paths differ between the two project folders
    return credits, counters


def test_killed_runs_then_a_rerun_give_exactly_the_credits_of_a_clean_run(project: Path, tmp_path: Path):
    """SIGKILL at seeded random moments, then rerun: credits, export and summary equal a clean run."""
    path = _prepare(project)
    clean = tmp_path / "clean"
    shutil.copytree(project, clean)
    started = time.monotonic()
    assert _reconcile(clean, clean / "day.csv").wait(timeout=120) == 0
    clean_seconds = time.monotonic() - started
    expected_credits, expected_counters = _ledger(clean)
    [expected_export] = (clean / "data" / "exports").glob("*.credits.csv")
    assert len(expected_credits) > 1000

    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        run = _reconcile(project, path)
        time.sleep(rng.uniform(0.1, clean_seconds))  # a random moment of a run, to kill it at
        if run.poll() is not None:
            break  # it finished first
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        kills += 1
    final = _reconcile(project, path, stderr=subprocess.PIPE)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()

    credits, counters = _ledger(project)
    assert kills >= 3
    assert credits == expected_credits
    assert counters == expected_counters
    [export] = (project / "data" / "exports").glob("*.credits.csv")
    assert export.read_bytes() == expected_export.read_bytes()
    assert not list((project / "data" / "exports").glob(".*.partial"))
