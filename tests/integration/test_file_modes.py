"""Files the bot writes are readable by their owner only (0600, folders 0700), whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from bot.adapters.exports import write_text
from bot.adapters.private_files import private_folder
from bot.adapters.sql.engine import make_engine
from bot.bootstrap import bootstrap
from bot.cli import cli
from bot.config import load_settings
from tests.fakes import FakeSocialApi, tx_row


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_database_and_its_wal_and_shm_files_are_0600(tmp_path, permissive_umask):
    """A new SQLite file is made 0600 before SQLite opens it, so its -wal and -shm files are 0600 too."""
    path = tmp_path / "data" / "offerbot.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    try:
        files = sorted(path.parent.glob("offerbot.db*"))
        assert [p.name for p in files] == ["offerbot.db", "offerbot.db-shm", "offerbot.db-wal"]
        assert {p.name: mode(p) for p in files} == dict.fromkeys((p.name for p in files), 0o600)
        assert mode(path.parent) == 0o700
    finally:
        engine.dispose()


def test_an_existing_database_file_of_ours_is_tightened(tmp_path, permissive_umask):
    """A database file left 0644 by an earlier version becomes 0600 the next time it is opened."""
    path = tmp_path / "offerbot.db"
    make_engine(f"sqlite:///{path}").dispose()
    path.chmod(0o644)

    make_engine(f"sqlite:///{path}").dispose()

    assert mode(path) == 0o600


def test_exports_and_their_folder_are_private(ledger, make_csv, permissive_umask):
    """Credits, rejects and both summaries are 0600 in a 0700 exports folder."""
    summary = ledger.reconcile(make_csv("day.csv", tx_row("T1"), tx_row("T2", amount="1e3")))

    assert sorted(mode(Path(p)) for p in summary.exports.values()) == [0o600] * 4
    assert mode(ledger.exports) == 0o700


def test_a_rewritten_file_becomes_private_even_if_it_was_not(tmp_path, permissive_umask):
    """write_text over a file someone made 0644 leaves a 0600 file (it is replaced, not reused)."""
    path = tmp_path / "summary.txt"
    path.write_text("old")
    path.chmod(0o644)

    write_text(path, "new")

    assert (path.read_text(), mode(path)) == ("new", 0o600)


def test_a_folder_that_is_not_ours_is_left_alone(tmp_path, permissive_umask, monkeypatch):
    """A folder owned by someone else keeps its mode (only what the bot owns is tightened)."""
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(folder).st_uid + 1)

    private_folder(folder)

    assert mode(folder) == 0o755


def test_the_sandbox_key_file_is_private(project, no_x_credentials, permissive_umask):
    """The sandbox's development fingerprint key is 0600 in a 0700 folder."""
    settings = load_settings(project / "bot.toml", {})
    app = bootstrap(settings, api=FakeSocialApi())
    app.close()

    key = project / "data" / "sandbox" / "fingerprint.key"
    assert (mode(key), mode(key.parent)) == (0o600, 0o700)


def test_every_command_runs_under_umask_077(project, no_x_credentials, monkeypatch, permissive_umask):
    """The offerbot command sets the process umask to 0o077, so anything else it writes is private."""
    monkeypatch.chdir(project)

    CliRunner().invoke(cli, ["keygen"])

    current = os.umask(0o077)
    assert current == 0o077


def test_the_running_bot_makes_its_data_folders_private(project, no_x_credentials, monkeypatch,
                                                        permissive_umask):
    """After `run --once` the data folder, the inbox and its processed/ and failed/ are 0700."""
    monkeypatch.chdir(project)
    (project / "data").chmod(0o755)

    result = CliRunner().invoke(cli, ["run", "--once"])

    assert result.exit_code == 0, result.output
    data = project / "data"
    for folder in (data, data / "inbox", data / "inbox" / "processed", data / "inbox" / "failed"):
        assert mode(folder) == 0o700, folder
