"""`offerbot run` as a real process: it starts, serves the sandbox and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import child_env, wait_for

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return child_env(PYTHONUNBUFFERED="1")


@pytest.mark.fresh_database  # as on a new machine: the bot creates its database
def test_sigterm_stops_the_bot_with_exit_status_0(project: Path):
    """The bot replies to a sandbox post, then exits 0 on SIGTERM after finishing its jobs."""
    command = [sys.executable, "-m", "bot", "--config", str(project / "bot.toml")]
    subprocess.run([*command, "sync", "import", "data/sample_members.csv"], cwd=project, env=_env(),
                   check=True, capture_output=True)
    sandbox = project / "data" / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    (sandbox / "mentions.jsonl").write_text(
        json.dumps({"author_id": "1001", "text": "@offerbot #AmexMcDonalds"}) + "\n")
    log = project / "run.log"
    with log.open("w") as err:
        bot = subprocess.Popen([*command, "run"], cwd=project, env=_env(), stderr=err,
                               stdout=subprocess.DEVNULL)
        try:
            replied = wait_for(lambda: (sandbox / "replies.jsonl").exists()
                               and "#AmexMcDonalds" in (sandbox / "replies.jsonl").read_text(), timeout=20)
            bot.send_signal(signal.SIGTERM)
            status = bot.wait(timeout=30)
        finally:
            if bot.poll() is None:
                bot.kill()

    output = log.read_text()
    assert replied, output
    assert status == 0, output
    assert "received SIGTERM" in output
    assert "offerbot stopped" in output


@pytest.mark.fresh_database  # the bot creates the SQLite file itself, under umask 022
def test_every_file_a_real_run_writes_is_its_owners_alone(project: Path):
    """Under umask 022 a real process still leaves every file it wrote 0600 and every folder 0700:
    database, WAL, key, sandbox replies, inbox copies, reasons, exports."""
    import os
    import stat

    from tests.conftest import POSTGRES_URL
    from tests.fakes import ALICE_CARD

    def offerbot(*args: str) -> None:
        command = " ".join([sys.executable, "-m", "bot", "--config", str(project / "bot.toml"), *args])
        subprocess.run(["sh", "-c", f"umask 022 && exec {command}"], cwd=project, env=_env(), check=True,
                       capture_output=True)

    offerbot("sync", "import", "data/sample_members.csv")
    sandbox = project / "data" / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    (sandbox / "mentions.jsonl").write_text((project / "data" / "sample_mentions.jsonl").read_text())
    offerbot("run", "--once")  # makes the inbox
    inbox = project / "data" / "inbox"
    header = "transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,type"
    (inbox / "day.csv").write_text(f"{header}\nT1,{ALICE_CARD},MID-MCD-0001,M,12.5,USD,2026-11-21,purchase\n")
    (inbox / "bad.csv").write_text(f"id,card_number\nT1,{ALICE_CARD}\n")
    for path in inbox.glob("*.csv"):
        os.utime(path, (0, 0))
    offerbot("run", "--once")  # reconciles both

    ours = {"mentions.jsonl"} | {p.name for p in (project / "data").glob("sample_*")}
    written = [p for p in (project / "data").rglob("*") if p.name not in ours]
    expected = {"fingerprint.key", "replies.jsonl", "day.csv", "bad.csv", "bad.csv.reason.txt", "exports"}
    assert {p.name for p in written} >= expected | (set() if POSTGRES_URL else {"offerbot.db"})
    modes = {str(p.relative_to(project)): stat.S_IMODE(p.stat().st_mode) for p in written}
    assert modes == {name: 0o700 if (project / name).is_dir() else 0o600 for name in modes}
    assert stat.S_IMODE((project / "data").stat().st_mode) == 0o700
