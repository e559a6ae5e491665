"""Settings: bot.toml read and checked, secrets from the environment, every error naming its fix."""

import os
from pathlib import Path

import pytest

from bot.config import DB_VAR, load_settings
from bot.domain.cards import KEY_VAR
from bot.environment import X_KEYS, XCredentials, read_environment
from bot.errors import ConfigError
from tests.conftest import REPO

MINIMAL = """\
[bot]
handle = "offerbot"
user_id = "1850000000000000000"
"""
X_ENV = {"X_CONSUMER_KEY": "ck", "X_CONSUMER_SECRET": "cs", "X_ACCESS_TOKEN": "at",
         "X_ACCESS_TOKEN_SECRET": "ats"}
GOOD_KEY_HEX = "ab" * 32


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A resolved temporary folder to hold bot.toml."""
    return tmp_path.resolve()


def write_config(folder: Path, text: str) -> Path:
    """Write ``text`` as bot.toml in ``folder`` and return its path."""
    path = folder / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(folder: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    """Return the ConfigError load_settings raises for ``text`` and ``environ``."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(folder, text), environ or {})
    return caught.value


def test_repo_bot_toml_loads() -> None:
    """The project's own bot.toml is valid, and runs in sandbox mode without X keys."""
    settings = load_settings(REPO / "bot.toml", {})
    assert settings.bot_handle == "offerbot"
    assert settings.bot_user_id == "1850000000000000000"
    assert settings.timezone == "UTC"
    assert settings.offers_dir == REPO / "offers"
    assert settings.templates_dir == REPO / "templates"
    assert settings.database_url == f"sqlite:///{REPO}/data/offerbot.db"
    assert settings.sandbox


def test_defaults_fill_in(folder: Path) -> None:
    """A bot.toml with only handle and user_id gets every other setting's default."""
    settings = load_settings(write_config(folder, MINIMAL), {})
    assert settings.source == folder / "bot.toml"
    assert settings.poll_interval == 60.0
    assert settings.reply_interval == 10.0
    assert settings.reconcile_interval == 300.0
    assert settings.timezone == "UTC"
    assert str(settings.tz) == "UTC"
    assert settings.offers_dir == folder / "offers"
    assert settings.templates_dir == folder / "templates"
    assert settings.data_dir == folder / "data"
    assert settings.sandbox_mentions == folder / "data" / "sandbox" / "mentions.jsonl"
    assert settings.sandbox_replies == folder / "data" / "sandbox" / "replies.jsonl"
    assert settings.sandbox_dms == folder / "data" / "sandbox" / "dms.jsonl"
    assert settings.inbox_dir == folder / "data" / "inbox"
    assert settings.exports_dir == folder / "data" / "exports"
    assert settings.database_url == f"sqlite:///{folder}/data/offerbot.db"
    assert settings.x is None
    assert settings.fingerprint_key is None


def test_input_limits_and_what_is_kept_have_defaults_and_may_be_set(folder: Path) -> None:
    """keep_inputs is "redacted", max_line_bytes 8192 and max_columns 100 unless bot.toml says otherwise."""
    defaults = load_settings(write_config(folder, MINIMAL), {})
    assert (defaults.keep_inputs, defaults.max_line_bytes, defaults.max_columns) == ("redacted", 8192, 100)
    text = MINIMAL + '[reconcile]\nkeep_inputs = "none"\nmax_line_bytes = 65536\nmax_columns = 400\n'
    chosen = load_settings(write_config(folder, text), {})
    assert (chosen.keep_inputs, chosen.max_line_bytes, chosen.max_columns) == ("none", 65536, 400)


def test_dashboard_min_members_defaults_to_ten_and_may_be_raised(folder: Path) -> None:
    """[dashboard] min_members (k) is 10 unless bot.toml sets a whole number of at least 5."""
    assert load_settings(write_config(folder, MINIMAL), {}).dashboard_min_members == 10
    assert load_settings(REPO / "bot.toml", {}).dashboard_min_members == 10
    for k in (5, 25):
        text = MINIMAL + f"[dashboard]\nmin_members = {k}\n"
        assert load_settings(write_config(folder, text), {}).dashboard_min_members == k


def test_dashboard_min_members_error_names_its_line(folder: Path) -> None:
    """A min_members below 5 is refused with the line it is on, so the fix is easy to find."""
    error = config_error(folder, MINIMAL + "\n[dashboard]\nmin_members = 3\n")
    assert "(line 6)" in str(error)
    assert "single out a member" in str(error)


def test_handle_may_start_with_at_and_user_id_may_be_integer(folder: Path) -> None:
    """'@offerbot' loses its '@' and an unquoted numeric user_id becomes a string."""
    text = '[bot]\nhandle = "@offerbot"\nuser_id = 1850000000\ntimezone = "America/New_York"\n'
    settings = load_settings(write_config(folder, text), {})
    assert settings.bot_handle == "offerbot"
    assert settings.bot_user_id == "1850000000"
    assert settings.tz.key == "America/New_York"


def test_relative_paths_resolve_against_bot_toml_folder(folder: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths and SQLite files are relative to bot.toml, not to the working directory."""
    config_dir = folder / "conf"
    config_dir.mkdir()
    elsewhere = folder / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = MINIMAL + ('[paths]\noffers = "../shared/offers"\ntemplates = "tpl"\n'
                      '[database]\nurl = "sqlite:///db/bot.db"\n'
                      '[sandbox]\nmentions = "box/in.jsonl"\ndms = "box/dms.jsonl"\n')
    settings = load_settings(write_config(config_dir, text), {})
    assert settings.offers_dir == folder / "shared" / "offers"
    assert settings.templates_dir == config_dir / "tpl"
    assert settings.sandbox_mentions == config_dir / "box" / "in.jsonl"
    assert settings.sandbox_dms == config_dir / "box" / "dms.jsonl"
    assert settings.database_url == f"sqlite:///{config_dir}/db/bot.db"


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/offerbot/bot.db", "sqlite:///:memory:", "sqlite://",
     "postgresql://bot@db/offerbot", "postgresql+psycopg://bot:pw@db:5432/offerbot"],
)
def test_absolute_memory_and_server_urls_are_kept(folder: Path, url: str) -> None:
    """Absolute SQLite paths, in-memory SQLite and PostgreSQL URLs are used as written."""
    settings = load_settings(write_config(folder, MINIMAL + f'[database]\nurl = "{url}"\n'), {})
    assert settings.database_url == url


def test_sqlite_driver_url_is_resolved(folder: Path) -> None:
    """A relative SQLite URL with a driver suffix still resolves against bot.toml."""
    settings = load_settings(write_config(folder, MINIMAL + '[database]\nurl = "sqlite+pysqlite:///b.db"\n'),
                             {})
    assert settings.database_url == f"sqlite+pysqlite:///{folder}/b.db"


def test_database_url_environment_overrides(folder: Path) -> None:
    """OFFERBOT_DATABASE_URL wins over [database] url."""
    url = "postgresql+psycopg://bot@db/offerbot"
    settings = load_settings(write_config(folder, MINIMAL), {DB_VAR: url})
    assert settings.database_url == url


def test_missing_file_is_a_config_error(folder: Path) -> None:
    """A missing bot.toml names the path and how to point at another."""
    missing = folder / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, {})
    assert caught.value.key == "file"
    assert str(missing) in str(caught.value)
    assert "--config" in str(caught.value)


HANDLE_ONLY = '[bot]\nhandle = "offerbot"\n'
# id -> (bot.toml text, the key the error names, a fragment of its message or fix)
BAD_CONFIGS: dict[str, tuple[str, str, str]] = {
    "syntax-unclosed-section": ("[bot\nhandle = 1\n", "syntax", "line 1"),
    "syntax-missing-value": (MINIMAL + "poll_interval = \n", "syntax", "line 4"),
    "unknown-section-typo": (MINIMAL + "[bott]\nx = 1\n", "[bott]", "did you mean 'bot'?"),
    "unknown-section": (MINIMAL + "[colours]\nx = 1\n", "[colours]", "use one of bot, paths, database"),
    "unknown-key-typo": (MINIMAL + "pol_interval = 5\n",
                         "[bot] pol_interval", "did you mean 'poll_interval'?"),
    "unknown-paths-key": (MINIMAL + "[paths]\noffer = \"o\"\n", "[paths] offer", "did you mean 'offers'?"),
    "section-not-table": ('bot = "offerbot"\n', "bot", "write [bot] on its own line"),
    "missing-user-id": (HANDLE_ONLY, "[bot] user_id", "add user_id = ... under [bot]"),
    "missing-handle": ('[bot]\nuser_id = "1850000000"\n', "[bot] handle", "add handle = ... under [bot]"),
    "empty-file": ("", "[bot] handle", "add handle = ... under [bot]"),
    "user-id-handle": (HANDLE_ONLY + 'user_id = "@offerbot"\n', "[bot] user_id", "numeric id"),
    "user-id-space": (HANDLE_ONLY + 'user_id = "1850 0000"\n', "[bot] user_id", "numeric id"),
    "user-id-negative": (HANDLE_ONLY + 'user_id = -5\n', "[bot] user_id", "numeric id"),
    "user-id-empty": (HANDLE_ONLY + 'user_id = ""\n', "[bot] user_id", "numeric id"),
    "user-id-fullwidth-digits": (HANDLE_ONLY + 'user_id = "１８５０"\n', "[bot] user_id", "numeric id"),
    "handle-space": ('[bot]\nhandle = "offer bot"\nuser_id = "1850"\n',
                     "[bot] handle", "1-15 letters, digits or _"),
    "handle-not-string": ('[bot]\nhandle = 7\nuser_id = "1850"\n', "[bot] handle", "set it to"),
    "poll-zero": (MINIMAL + "poll_interval = 0\n", "[bot] poll_interval", "at least 1"),
    "poll-fast": (MINIMAL + 'poll_interval = "fast"\n', "[bot] poll_interval", "at least 1"),
    "poll-bool": (MINIMAL + "poll_interval = true\n", "[bot] poll_interval", "at least 1"),
    "reply-negative": (MINIMAL + "reply_interval = -1\n", "[bot] reply_interval", "at least 1"),
    "reconcile-half-second": (MINIMAL + "[reconcile]\ninterval = 0.5\n",
                              "[reconcile] interval", "at least 1"),
    "timezone-unknown": (MINIMAL + 'timezone = "Mars/Olympus_Mons"\n', "[bot] timezone", "IANA zone name"),
    "timezone-path": (MINIMAL + 'timezone = "../etc/passwd"\n', "[bot] timezone", "IANA zone name"),
    "timezone-empty": (MINIMAL + 'timezone = ""\n', "[bot] timezone", "IANA zone"),
    "database-mysql": (MINIMAL + '[database]\nurl = "mysql://bot@db/offerbot"\n',
                       "[database] url", "sqlite:///"),
    "database-bare-path": (MINIMAL + '[database]\nurl = "data/offerbot.db"\n',
                           "[database] url", "sqlite:///"),
    "database-not-string": (MINIMAL + "[database]\nurl = 5\n", "[database] url", "set it to"),
    "offers-not-string": (MINIMAL + "[paths]\noffers = 5\n", "[paths] offers", "a path in quotes"),
    "offers-empty": (MINIMAL + '[paths]\noffers = ""\n', "[paths] offers", "a path in quotes"),
    "keep-inputs-raw": (MINIMAL + '[reconcile]\nkeep_inputs = "raw"\n', "[reconcile] keep_inputs",
                        'set it to "redacted" or "none"'),
    "keep-inputs-bool": (MINIMAL + "[reconcile]\nkeep_inputs = false\n", "[reconcile] keep_inputs",
                         "is not one of"),
    "max-line-bytes-tiny": (MINIMAL + "[reconcile]\nmax_line_bytes = 10\n", "[reconcile] max_line_bytes",
                            "from 512 to 1,048,576"),
    "max-line-bytes-huge": (MINIMAL + "[reconcile]\nmax_line_bytes = 52428800\n",
                            "[reconcile] max_line_bytes", "bytes one row of a transaction file may take"),
    "max-line-bytes-text": (MINIMAL + '[reconcile]\nmax_line_bytes = "8k"\n', "[reconcile] max_line_bytes",
                            "max_line_bytes = 8192"),
    "max-columns-few": (MINIMAL + "[reconcile]\nmax_columns = 3\n", "[reconcile] max_columns",
                        "from 8 to 10,000"),
    "max-columns-float": (MINIMAL + "[reconcile]\nmax_columns = 100.5\n", "[reconcile] max_columns",
                          "max_columns = 100"),
    "min-members-four": (MINIMAL + "[dashboard]\nmin_members = 4\n", "[dashboard] min_members",
                         "at least 5"),
    "min-members-zero": (MINIMAL + "[dashboard]\nmin_members = 0\n", "[dashboard] min_members",
                         "min_members = 10"),
    "min-members-float": (MINIMAL + "[dashboard]\nmin_members = 10.5\n", "[dashboard] min_members",
                          "whole number"),
    "min-members-text": (MINIMAL + '[dashboard]\nmin_members = "ten"\n', "[dashboard] min_members",
                         "whole number"),
    "min-members-bool": (MINIMAL + "[dashboard]\nmin_members = true\n", "[dashboard] min_members",
                         "whole number"),
    "min-members-typo": (MINIMAL + "[dashboard]\nmin_member = 10\n", "[dashboard] min_member",
                         "did you mean 'min_members'?"),
}


@pytest.mark.parametrize(("text", "key", "fragment"), list(BAD_CONFIGS.values()), ids=list(BAD_CONFIGS))
def test_bad_config_names_key_and_fix(folder: Path, text: str, key: str, fragment: str) -> None:
    """Each mistake in bot.toml raises ConfigError naming the key, the problem and a fix."""
    error = config_error(folder, text)
    assert error.key == key
    assert str(error).startswith(f"bot.toml: {key}: ")
    assert "Fix: " in str(error)
    assert fragment in str(error)


def test_bad_database_url_from_environment_blames_environment(folder: Path) -> None:
    """A bad OFFERBOT_DATABASE_URL is reported against the variable, not bot.toml."""
    error = config_error(folder, MINIMAL, {DB_VAR: "mysql://bot@db/offerbot"})
    assert error.source == DB_VAR
    assert error.key == "[database] url"


@pytest.mark.parametrize(
    "present",
    [("X_CONSUMER_KEY",), ("X_CONSUMER_KEY", "X_ACCESS_TOKEN"), X_KEYS[:3], X_KEYS[1:]],
    ids=lambda keys: "+".join(keys),
)
def test_some_x_keys_names_the_missing_ones(folder: Path, present: tuple[str, ...]) -> None:
    """Setting only some X_* keys names exactly the missing ones."""
    missing = [key for key in X_KEYS if key not in present]
    error = config_error(folder, MINIMAL, {key: X_ENV[key] for key in present})
    assert error.key == ", ".join(missing)
    assert error.source == "environment"
    assert "set all four X_* keys" in str(error)


def test_empty_x_key_counts_as_missing(folder: Path) -> None:
    """An X key set to an empty string is as good as missing."""
    error = config_error(folder, MINIMAL, {**X_ENV, "X_ACCESS_TOKEN_SECRET": ""})
    assert error.key == "X_ACCESS_TOKEN_SECRET"


def test_all_x_keys_set_turns_sandbox_off(folder: Path) -> None:
    """All four X keys give credentials and leave sandbox mode."""
    settings = load_settings(write_config(folder, MINIMAL), X_ENV)
    assert settings.x == XCredentials("ck", "cs", "at", "ats")
    assert not settings.sandbox


def test_credentials_are_not_in_repr(folder: Path) -> None:
    """Secrets never show in the settings' repr."""
    environ = {**X_ENV, "X_CONSUMER_SECRET": "very-secret-value", KEY_VAR: GOOD_KEY_HEX}
    settings = load_settings(write_config(folder, MINIMAL), environ)
    assert "very-secret-value" not in repr(settings)
    assert GOOD_KEY_HEX not in repr(settings)


def test_no_x_keys_means_sandbox(folder: Path) -> None:
    """Without X keys the sandbox stands in for X."""
    settings = load_settings(write_config(folder, MINIMAL), {})
    assert settings.x is None
    assert settings.sandbox


def test_fingerprint_key_is_decoded(folder: Path) -> None:
    """A 64-hex-character OFFERBOT_FINGERPRINT_KEY becomes 32 bytes."""
    settings = load_settings(write_config(folder, MINIMAL), {KEY_VAR: f"  {GOOD_KEY_HEX}\n"})
    assert settings.fingerprint_key == bytes.fromhex(GOOD_KEY_HEX)


@pytest.mark.parametrize("value", ["zz" * 32, "ab" * 31, "abc", "not a key at all"])
def test_bad_fingerprint_key_is_rejected(folder: Path, value: str) -> None:
    """A fingerprint key that is not hex, or under 32 bytes, is a ConfigError naming it."""
    error = config_error(folder, MINIMAL, {KEY_VAR: value})
    assert error.key == KEY_VAR
    assert "64 hex characters" in str(error)
    assert "offerbot keygen" in str(error)
    assert value not in str(error)


def test_read_environment_uses_env_file_but_real_environment_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values from .env are used unless the real environment sets the same name."""
    env_file = tmp_path / ".env"
    env_file.write_text("X_CONSUMER_KEY=from-file\nOFFERBOT_TEST_ONLY=file-value\n# comment\n",
                        encoding="utf-8")
    monkeypatch.setenv("X_CONSUMER_KEY", "from-environment")
    monkeypatch.delenv("OFFERBOT_TEST_ONLY", raising=False)
    values = read_environment(env_file)
    assert values["X_CONSUMER_KEY"] == "from-environment"
    assert values["OFFERBOT_TEST_ONLY"] == "file-value"
    assert os.environ.get("OFFERBOT_TEST_ONLY") is None


def test_read_environment_without_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a .env file the real environment is returned as it is."""
    monkeypatch.setenv("OFFERBOT_TEST_ONLY", "env-value")
    values = read_environment(tmp_path / "missing.env")
    assert values["OFFERBOT_TEST_ONLY"] == "env-value"
    assert values == dict(os.environ)
