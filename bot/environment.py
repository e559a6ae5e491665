"""Secrets from the environment (and .env): the bot's X keys and the card fingerprint keys.

They never go in bot.toml, which may be shared; bot.config reads that and asks this module for
the rest. A wrong or partial secret is a ConfigError naming the variable and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from bot.domain.cards import KEY_VAR, PREVIOUS_KEY_VAR
from bot.errors import ConfigError

X_KEYS = ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")


@dataclass(frozen=True)
class XCredentials:
    """OAuth 1.0a user-context keys of the bot's X account."""

    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)


def read_environment(env_file: Path) -> dict[str, str]:
    """Return os.environ over the values of ``env_file`` (the real environment wins)."""
    values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    values.update(os.environ)
    return values


def x_credentials(environ: Mapping[str, str]) -> XCredentials | None:
    """Return the bot's X keys, or None (the sandbox) when none is set; a partial set is an error."""
    present = [k for k in X_KEYS if environ.get(k)]
    if not present:
        return None
    missing = [k for k in X_KEYS if k not in present]
    if missing:
        raise ConfigError("environment", ", ".join(missing), "is not set while other X keys are",
                          "set all four X_* keys in .env (see .env.example), or none to use the sandbox")
    return XCredentials(*(environ[k] for k in X_KEYS))


def fingerprint_key(environ: Mapping[str, str]) -> bytes | None:
    """Return the card fingerprint key (None: not set, as the sandbox allows), checked."""
    return _hex_key(environ, KEY_VAR)


def _hex_key(environ: Mapping[str, str], name: str) -> bytes | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        fix = (f"generate one with `offerbot keygen` and put {name}=... in .env" if name == KEY_VAR
               else f"set it to the old key exactly as it was in {KEY_VAR}")
        raise ConfigError("environment", name, "must be at least 64 hex characters (32 bytes)", fix)
    return key


def previous_fingerprint_key(environ: Mapping[str, str]) -> bytes | None:
    """Return the previous card fingerprint key during a rotation (None: no rotation), checked."""
    previous = _hex_key(environ, PREVIOUS_KEY_VAR)
    if previous is not None and previous == _hex_key(environ, KEY_VAR):
        raise ConfigError("environment", PREVIOUS_KEY_VAR, f"is the same key as {KEY_VAR}",
                          f"put the old key in {PREVIOUS_KEY_VAR} and the new one in {KEY_VAR}, "
                          f"or remove {PREVIOUS_KEY_VAR} when no rotation is under way")
    return previous
