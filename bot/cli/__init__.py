"""The `offerbot` command: a thin layer that parses arguments and calls one service.

The root group is here; each command group has a module of its own, and the bot's errors become
a message and an exit status in one place (bot/cli/errors.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from bot.adapters.private_files import UMASK
from bot.cli.campaigns import campaigns
from bot.cli.context import Context
from bot.cli.database import db
from bot.cli.errors import group
from bot.cli.keys import keygen
from bot.cli.members import sync
from bot.cli.reconcile import explain_command, reconcile
from bot.cli.replies import replies_group
from bot.cli.running import run, web
from bot.cli.status import health, status
from bot.cli.users import users
from bot.logs import setup_logging


@group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(path_type=Path), default=Path("bot.toml"),
              envvar="OFFERBOT_CONFIG", show_default=True, help="The bot's settings file.")
@click.option("--env-file", type=click.Path(path_type=Path), default=Path(".env"),
              show_default=True, help="Secrets (X keys, fingerprint key) in KEY=value lines.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.option("--log-format", type=click.Choice(["auto", "text", "json"]), default="auto",
              envvar="OFFERBOT_LOG_FORMAT", show_default=True,
              help="Log lines as text or JSON; auto: text on a terminal, JSON otherwise.")
@click.version_option(package_name="offerbot")
@click.pass_context
def cli(ctx: click.Context, config: Path, env_file: Path, verbose: bool, log_format: str) -> None:
    """Card-linked hashtag offers on X: enrol by mention, reconcile, credit."""
    os.umask(UMASK)  # whatever the bot writes is its owner's alone (files 0600, folders 0700)
    setup_logging(verbose, log_format)
    ctx.obj = Context(config, env_file)
    ctx.call_on_close(ctx.obj.close)


for _command in (run, campaigns, sync, reconcile, explain_command, status, health, replies_group, web, users,
                 db, keygen):
    cli.add_command(_command)


def main() -> None:
    """Run the CLI."""
    cli(prog_name="offerbot")


__all__ = ["cli", "main"]
