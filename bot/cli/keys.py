"""`offerbot keygen`: a new card fingerprint key."""

from __future__ import annotations

import secrets

import click

from bot.cli.errors import command


@command()
def keygen() -> None:
    """Print a new card fingerprint key for .env (OFFERBOT_FINGERPRINT_KEY=...)."""
    click.echo(f"OFFERBOT_FINGERPRINT_KEY={secrets.token_hex(32)}")
