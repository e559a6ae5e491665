"""Settings: bot.toml for what may be shared, checked key by key; the secrets come from the
environment (and .env), read by bot.environment."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.dashboard.facts import DEFAULT_MIN_MEMBERS, SettingInvalid, check_min_members
from bot.environment import XCredentials, fingerprint_key, previous_fingerprint_key, x_credentials
from bot.errors import ConfigError

DB_VAR = "OFFERBOT_DATABASE_URL"
_HANDLE_RE = re.compile(r"@?[A-Za-z0-9_]{1,15}")

# section -> key -> default; None means required.
_SCHEMA: dict[str, dict[str, Any]] = {
    "bot": {"handle": None, "user_id": None, "poll_interval": 60, "reply_interval": 10,
            "reply_batch": 20, "timezone": "UTC"},
    "paths": {"offers": "offers", "templates": "templates", "data": "data"},
    "database": {"url": "sqlite:///data/offerbot.db"},
    "sandbox": {"mentions": "data/sandbox/mentions.jsonl",
                "replies": "data/sandbox/replies.jsonl", "dms": "data/sandbox/dms.jsonl"},
    "reconcile": {"inbox": "data/inbox", "exports": "data/exports", "interval": 300,
                  "batch_rows": 200_000, "keep_inputs": "redacted", "max_line_bytes": 8192,
                  "max_columns": 100},
    "portal": {"host": "127.0.0.1", "port": 8000, "url": "", "max_upload_bytes": 200 * 1024 * 1024},
    "dashboard": {"min_members": DEFAULT_MIN_MEMBERS},
}
KEEP_INPUTS = ("redacted", "none")  # what the inbox keeps of a file once it is done with it
# Bounds of [reconcile] max_line_bytes and max_columns: below them no real file fits, above
# them one row or header could hold the process's memory hostage again.
_LINE_BYTES = (512, 1 << 20)
_COLUMNS = (8, 10_000)  # at least the eight required columns


@dataclass(frozen=True)
class PortalSettings:
    """Where the web portal listens, the address browsers use for it, and its upload limit."""

    host: str = "127.0.0.1"
    port: int = 8000
    url: str = "http://127.0.0.1:8000"  # the origin browsers see (the TLS proxy's, in production)
    max_upload_bytes: int = 200 * 1024 * 1024

    @property
    def origin(self) -> str:
        """Return scheme://host[:port] of ``url``, what browsers send as Origin."""
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}".lower()

    @property
    def secure(self) -> bool:
        """Return False only on the localhost default (plain http on this machine)."""
        return not re.fullmatch(r"http://(127\.0\.0\.1|localhost)(:\d+)?", self.origin)


@dataclass(frozen=True)
class Settings:
    """Everything the bot is configured with, validated."""

    source: Path
    bot_handle: str
    bot_user_id: str
    poll_interval: float
    reply_interval: float
    timezone: str
    offers_dir: Path
    templates_dir: Path
    data_dir: Path
    database_url: str
    sandbox_mentions: Path
    sandbox_replies: Path
    inbox_dir: Path
    exports_dir: Path
    reconcile_interval: float
    reconcile_batch_rows: int = 200_000
    keep_inputs: str = "redacted"  # redacted | none
    max_line_bytes: int = 8192
    max_columns: int = 100
    reply_batch: int = 20
    sandbox_dms: Path | None = None  # None: dms.jsonl beside the replies
    x: XCredentials | None = None
    fingerprint_key: bytes | None = field(default=None, repr=False)
    previous_fingerprint_key: bytes | None = field(default=None, repr=False)
    portal: PortalSettings = field(default_factory=lambda: PortalSettings())
    dashboard_min_members: int = DEFAULT_MIN_MEMBERS  # k: cells of fewer members are suppressed

    @property
    def sandbox(self) -> bool:
        """Return True when no X credentials are set and the local sandbox stands in for X."""
        return self.x is None

    @property
    def tz(self) -> ZoneInfo:
        """Return the time zone campaign dates are read in."""
        return ZoneInfo(self.timezone)


def load_settings(path: Path, environ: Mapping[str, str]) -> Settings:
    """Read and validate ``path`` (bot.toml) and secrets from ``environ``; raise ConfigError."""
    source = path.name
    if not path.is_file():
        raise ConfigError(str(path), "file", "not found",
                          "run from the project folder or pass --config path/to/bot.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "syntax", str(exc), "correct the TOML at that line") from exc
    table = _with_defaults(source, data)
    root = path.resolve().parent

    def rel(section: str, key: str) -> Path:
        value: str = _require(source, section, key, table, str, "a path in quotes")
        return (root / value).resolve()

    handle = _require(source, "bot", "handle", table, str, 'the bot account\'s handle, e.g. "offerbot"')
    if not _HANDLE_RE.fullmatch(handle):
        raise ConfigError(source, "[bot] handle", f"{handle!r} is not an X handle",
                          "use 1-15 letters, digits or _")
    user_id = str(table["bot"]["user_id"])
    if not (user_id.isascii() and user_id.isdigit()):
        raise ConfigError(source, "[bot] user_id", f"{user_id!r} is not a numeric X user id",
                          'set the bot account\'s numeric id in quotes, e.g. user_id = "1850000000"')
    timezone = _require(source, "bot", "timezone", table, str, 'an IANA zone, e.g. "America/New_York"')
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(source, "[bot] timezone", f"unknown time zone {timezone!r}",
                          'use an IANA zone name such as "UTC" or "America/New_York"') from exc
    return Settings(
        source=path.resolve(),
        bot_handle=handle.removeprefix("@"),
        bot_user_id=user_id,
        poll_interval=_seconds(source, "bot", "poll_interval", table),
        reply_interval=_seconds(source, "bot", "reply_interval", table),
        timezone=timezone,
        offers_dir=rel("paths", "offers"),
        templates_dir=rel("paths", "templates"),
        data_dir=rel("paths", "data"),
        database_url=_database_url(source, table, environ, root),
        sandbox_mentions=rel("sandbox", "mentions"),
        sandbox_replies=rel("sandbox", "replies"),
        sandbox_dms=rel("sandbox", "dms"),
        inbox_dir=rel("reconcile", "inbox"),
        exports_dir=rel("reconcile", "exports"),
        reconcile_interval=_seconds(source, "reconcile", "interval", table),
        reconcile_batch_rows=_count(source, "reconcile", "batch_rows", table, "rows per committed batch"),
        keep_inputs=_choice(source, "reconcile", "keep_inputs", table, KEEP_INPUTS),
        max_line_bytes=_bounded(source, "reconcile", "max_line_bytes", table, _LINE_BYTES,
                                "bytes one row of a transaction file may take"),
        max_columns=_bounded(source, "reconcile", "max_columns", table, _COLUMNS,
                             "columns a transaction file's header may have"),
        reply_batch=_count(source, "bot", "reply_batch", table, "replies sent per run of the job"),
        x=x_credentials(environ),
        fingerprint_key=fingerprint_key(environ),
        previous_fingerprint_key=previous_fingerprint_key(environ),
        portal=_portal(source, table),
        dashboard_min_members=_min_members(source, table, data, path),
    )


def _min_members(source: str, table: dict[str, dict[str, Any]], data: dict[str, Any], path: Path) -> int:
    """Return ``[dashboard] min_members`` checked by the dashboard's own rule, as a ConfigError."""
    value = table["dashboard"]["min_members"]
    try:
        return check_min_members(value)
    except SettingInvalid as exc:
        where = _line_of(path, "dashboard", "min_members") if "dashboard" in data else None
        at = f" (line {where})" if where else ""
        raise ConfigError(source, "[dashboard] min_members", f"{value!r}{at} is not valid: {exc}",
                          f"set it to a whole number of members of at least 5 under [dashboard], "
                          f"e.g. min_members = {DEFAULT_MIN_MEMBERS}") from exc


def _line_of(path: Path, section: str, key: str) -> int | None:
    """Return the line number of ``key = ...`` under ``[section]`` in ``path`` (for the error)."""
    current = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if text.startswith("[") and "]" in text:
            current = text[1:text.index("]")].strip()
        elif current == section and re.match(rf"{key}\s*=", text):
            return number
    return None


def _portal(source: str, table: dict[str, dict[str, Any]]) -> PortalSettings:
    host = _require(source, "portal", "host", table, str, 'an address to listen on, e.g. "127.0.0.1"')
    port = _count(source, "portal", "port", table, "TCP port to listen on")
    if port > 65535:
        raise ConfigError(source, "[portal] port", f"{port} is not a TCP port", "use 1-65535, e.g. 8000")
    url = table["portal"]["url"] or f"http://{host}:{port}"
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
        raise ConfigError(source, "[portal] url", f"{url!r} is not an http(s) URL",
                          'set it to the address people open, e.g. url = "https://offers.bank.example"')
    if url.startswith("http://") and not re.match(r"http://(127\.0\.0\.1|localhost)[:/]", url + "/"):
        raise ConfigError(source, "[portal] url", "is plain http on another host than this one",
                          "serve the portal behind a TLS proxy and set url to its https:// address")
    limit = _count(source, "portal", "max_upload_bytes", table, "largest upload in bytes")
    return PortalSettings(host, port, url.rstrip("/"), limit)


def _with_defaults(source: str, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for section, value in data.items():
        if section not in _SCHEMA:
            raise ConfigError(source, f"[{section}]", "unknown section",
                              _did_you_mean(section, _SCHEMA) or f"use one of {', '.join(_SCHEMA)}")
        if not isinstance(value, dict):
            raise ConfigError(source, section, "must be a [section]", f"write [{section}] on its own line")
        for key in value:
            if key not in _SCHEMA[section]:
                raise ConfigError(source, f"[{section}] {key}", "unknown key",
                                  _did_you_mean(key, _SCHEMA[section])
                                  or f"use one of {', '.join(_SCHEMA[section])}")
    for section, keys in _SCHEMA.items():
        given = data.get(section, {})
        table[section] = {}
        for key, default in keys.items():
            if key not in given and default is None:
                raise ConfigError(source, f"[{section}] {key}", "is required",
                                  f"add {key} = ... under [{section}]")
            table[section][key] = given.get(key, default)
    return table


def _did_you_mean(word: str, options: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def _require(source: str, section: str, key: str, table: dict[str, dict[str, Any]],
             kind: type, example: str) -> Any:
    value = table[section][key]
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise ConfigError(source, f"[{section}] {key}", f"{value!r} is not valid", f"set it to {example}")
    return value


def _seconds(source: str, section: str, key: str, table: dict[str, dict[str, Any]]) -> float:
    value = table[section][key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise ConfigError(source, f"[{section}] {key}", f"{value!r} is not a number of seconds",
                          f"set it to a number of seconds of at least 1, e.g. {key} = 60")
    return float(value)


def _count(source: str, section: str, key: str, table: dict[str, dict[str, Any]], what: str) -> int:
    value = table[section][key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(source, f"[{section}] {key}", f"{value!r} is not a whole number",
                          f"set it to the {what}, at least 1, e.g. {key} = {_SCHEMA[section][key]}")
    return value


def _choice(source: str, section: str, key: str, table: dict[str, dict[str, Any]],
            choices: tuple[str, ...]) -> str:
    value = table[section][key]
    if value not in choices:
        options = " or ".join(f'"{c}"' for c in choices)
        raise ConfigError(source, f"[{section}] {key}", f"{value!r} is not one of {options}",
                          f"set it to {options}, e.g. {key} = \"{_SCHEMA[section][key]}\"")
    return str(value)


def _bounded(source: str, section: str, key: str, table: dict[str, dict[str, Any]],
             bounds: tuple[int, int], what: str) -> int:
    value = table[section][key]
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(source, f"[{section}] {key}", f"{value!r} is not a whole number from {low:,} "
                          f"to {high:,}", f"set it to the {what}, e.g. {key} = {_SCHEMA[section][key]}")
    return value


def _database_url(source: str, table: dict[str, dict[str, Any]], environ: Mapping[str, str],
                  root: Path) -> str:
    url = environ.get(DB_VAR) or _require(source, "database", "url", table, str,
                                          '"sqlite:///data/offerbot.db" or a postgresql:// URL')
    if not re.match(r"(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(DB_VAR if environ.get(DB_VAR) else source, "[database] url",
                          "must be a sqlite:/// or postgresql:// URL",
                          'e.g. "sqlite:///data/offerbot.db" or "postgresql://user@host/db"')
    # A relative SQLite path means relative to bot.toml, not to wherever the bot was started.
    prefix = url.split("://", 1)[0] + ":///"
    if url.startswith("sqlite") and url.startswith(prefix):
        rest = url.removeprefix(prefix)
        if rest and not rest.startswith(("/", ":memory:")):
            return prefix + str(root / rest)
    return url
