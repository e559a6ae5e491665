"""`offerbot db`: the database schema."""

from __future__ import annotations

import click

from bot.bootstrap import upgrade_database
from bot.cli.context import Context, pass_ctx
from bot.cli.errors import group


@group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(obj: Context) -> None:
    """Bring the database to the schema this version needs (back it up first)."""
    before, after = upgrade_database(obj.settings())
    if before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(f"database upgraded from revision {before or 'none'} to {after}")
