"""Two `offerbot run` processes on one database: one polls, replies go out once, a kill hands over."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.fakes import child_env, sandbox_replies, wait_for

pytestmark = pytest.mark.slow


def _post(sandbox: Path, post_id: int, author: str) -> None:
    with (sandbox / "mentions.jsonl").open("a") as lines:
        lines.write(json.dumps({"id": str(post_id), "author_id": author,
                                "text": "@offerbot #AmexMcDonalds #AmexFedEx"}) + "\n")


def _status(project: Path) -> str:
    result = CliRunner(env=child_env()).invoke(cli, ["--config", str(project / "bot.toml"), "status"])
    return result.output


def test_one_instance_polls_and_the_other_takes_over_when_it_is_killed(project: Path):
    """Every post gets one reply from whichever instance leads; killing the leader hands over."""
    config = project / "bot.toml"
    config.write_text(config.read_text().replace("poll_interval = 5", "poll_interval = 1")
                      .replace("reply_interval = 10", "reply_interval = 1"))
    runner = CliRunner(env=child_env())
    assert runner.invoke(cli, ["--config", str(config), "sync", "import",
                               str(project / "data" / "sample_members.csv")]).exit_code == 0
    sandbox = project / "data" / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    for n, author in enumerate(("1001", "1002", "1003") * 4):
        _post(sandbox, 2_000_000 + n, author)
    command = [sys.executable, "-m", "bot", "--config", str(config), "--log-format", "json", "run"]
    bots = [subprocess.Popen(command, cwd=project, env=child_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE) for _ in range(2)]
    try:
        assert wait_for(lambda: len(sandbox_replies(project)) == 12, timeout=30), sandbox_replies(project)
        pids = {str(bot.pid): bot for bot in bots}
        leader = next(pid for pid in pids if f":{pid}" in _status(project).split("poller")[1].splitlines()[0])

        pids[leader].send_signal(signal.SIGKILL)
        pids[leader].wait(timeout=10)
        follower = next(pid for pid in pids if pid != leader)
        for n, author in enumerate(("1001", "1002", "1003")):
            _post(sandbox, 3_000_000 + n, author)

        assert wait_for(lambda: len(sandbox_replies(project)) == 15, timeout=30), sandbox_replies(project)
        assert f":{follower}" in _status(project)
    finally:
        for bot in bots:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
        codes = [bot.wait(timeout=30) for bot in bots]
        for bot in bots:
            bot.stderr.close()

    replies = sandbox_replies(project)
    assert sorted(r["in_reply_to_tweet_id"] for r in replies) == sorted(
        [str(2_000_000 + n) for n in range(12)] + [str(3_000_000 + n) for n in range(3)])
    assert sorted(codes) == [-signal.SIGKILL, 0]
