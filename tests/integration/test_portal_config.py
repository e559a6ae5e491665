"""The [portal] settings: where it listens, the address browsers use, the upload limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from tests.integration.test_config import MINIMAL, config_error, write_config


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A resolved temporary folder to hold bot.toml."""
    return tmp_path.resolve()


def test_the_portal_defaults_to_plain_http_on_localhost(folder: Path) -> None:
    """Without [portal] it listens on 127.0.0.1:8000 with a 200 MiB upload limit, cookies not Secure."""
    portal = load_settings(write_config(folder, MINIMAL), {}).portal

    assert (portal.host, portal.port, portal.url) == ("127.0.0.1", 8000, "http://127.0.0.1:8000")
    assert portal.max_upload_bytes == 200 * 1024 * 1024
    assert not portal.secure
    assert portal.origin == "http://127.0.0.1:8000"


def test_behind_a_tls_proxy_the_url_makes_cookies_secure(folder: Path) -> None:
    """An https url is the origin forms must come from, and cookies become __Host- and Secure."""
    text = MINIMAL + '[portal]\nhost = "0.0.0.0"\nurl = "https://Offers.Bank.example/"\n'

    portal = load_settings(write_config(folder, text), {}).portal

    assert portal.origin == "https://offers.bank.example"
    assert portal.secure


@pytest.mark.parametrize(("section", "key", "fix"), [
    ('[portal]\nurl = "http://offers.bank.example"\n', "[portal] url", "TLS proxy"),
    ('[portal]\nhost = "0.0.0.0"\n', "[portal] url", "TLS proxy"),
    ('[portal]\nurl = "offers"\n', "[portal] url", "https://"),
    ("[portal]\nport = 70000\n", "[portal] port", "1-65535"),
    ("[portal]\nmax_upload_bytes = 0\n", "[portal] max_upload_bytes", "at least 1"),
    ("[portal]\nmax_upload = 5\n", "[portal] max_upload", "did you mean"),
])
def test_a_bad_portal_setting_names_the_key_and_the_fix(folder: Path, section: str, key: str,
                                                        fix: str) -> None:
    """Plain http off this host, a bad URL, port or limit, or a misspelt key: one error with its fix."""
    error = config_error(folder, MINIMAL + section)

    assert isinstance(error, ConfigError)
    assert error.key == key
    assert fix in str(error)
