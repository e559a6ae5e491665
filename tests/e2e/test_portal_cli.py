"""The portal's commands end to end: `users ...`, `web` and `run --portal`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL
from tests.fakes import child_env, wait_for

GOOD = "tulip ledger orbit canoe"


@pytest.mark.slow  # a portal or a CLI run per case: in `make test`, not the quick loop
def test_users_add_list_disable_and_reset(offerbot):
    """Accounts are managed from the command line; the password comes from stdin and is never shown."""
    added = offerbot("users", "add", "--role", "merchant", "--merchant", "McDonald's", "mcd@example.com",
                     input=GOOD + "\n")
    ops = offerbot("users", "add", "--role", "ops", "Ops@Bank.Example", input=GOOD + "\n")
    disabled = offerbot("users", "disable", "mcd@example.com")
    reset = offerbot("users", "reset-password", "ops@bank.example", input="another long passphrase\n")
    listed = offerbot("users", "list")

    assert added.exit_code == 0
    assert "added mcd@example.com (merchant, McDonald's)" in added.output
    assert ops.exit_code == 0
    assert disabled.exit_code == 0
    assert reset.exit_code == 0
    assert "mcd@example.com   merchant  McDonald's  disabled" in listed.output
    assert "ops@bank.example  ops                   active" in listed.output
    for result in (added, ops, reset, listed):
        assert GOOD not in result.output
        assert "another long passphrase" not in result.output


@pytest.mark.parametrize(("args", "password", "message"), [
    (("--role", "ops", "ops@bank.example"), "short", "at least 12 characters"),
    (("--role", "ops", "ops@bank.example"), "password1234", "too common"),
    (("--role", "merchant", "mcd@example.com"), GOOD, "needs --merchant NAME"),
    (("--role", "ops", "not-an-email"), GOOD, "is not an email address"),
])
def test_users_add_refuses_bad_details_saying_why(offerbot, args, password, message):
    """A weak password, a merchant user without its merchant or a bad email: exit 1 and the reason."""
    result = offerbot("users", "add", *args, input=password + "\n")

    assert result.exit_code == 1
    assert message in result.output


@pytest.mark.slow  # a portal or a CLI run per case: in `make test`, not the quick loop
def test_users_sample_makes_the_sample_accounts_only_on_the_embedded_default(offerbot):
    """On SQLite and the sandbox it prints the URL and fresh passwords; on PostgreSQL it refuses."""
    first = offerbot("users", "sample")
    second = offerbot("users", "sample")

    if POSTGRES_URL:
        assert first.exit_code == 1
        assert "only on the embedded default" in first.output
        return
    assert first.exit_code == 0
    assert second.exit_code == 0
    assert "portal: http://127.0.0.1:8000" in first.output
    assert "ops@example.com" in first.output
    assert "merchant@mcdonalds.example" in first.output
    assert "sees McDonald's" in first.output
    assert first.output != second.output  # new passwords each time


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own local portal
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.slow
@pytest.mark.parametrize("command", [("run", "--portal"), ("web",)])
def test_the_portal_serves_and_stops_on_sigterm(project: Path, no_x_credentials, command):
    """`offerbot web` and `offerbot run --portal` serve the sign-in page and exit 0 on SIGTERM."""
    port = _free_port()
    config = project / "bot.toml"
    config.write_text(config.read_text().replace("port = 8000", f"port = {port}"))
    log = project / "portal.log"
    with log.open("w") as err:
        process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), *command],
                                   cwd=project, env=child_env(PYTHONUNBUFFERED="1"), stderr=err,
                                   stdout=subprocess.DEVNULL)
        try:
            up = wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz")[0] == 200, timeout=30)
            status, page = _get(f"http://127.0.0.1:{port}/signin")
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()

    output = log.read_text()
    assert up, output
    assert status == 200
    assert 'name="password"' in page
    assert code == 0, output
    assert "portal stopped" in output
