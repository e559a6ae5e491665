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
