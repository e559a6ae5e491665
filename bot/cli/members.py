"""`offerbot sync`: link X accounts to cards, one by one or from the member file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.cli.context import Context, pass_ctx
from bot.cli.errors import group
from bot.services.members import import_member_file, link_member, unlink_member


@group()
def sync() -> None:
    """Link X accounts to cards (only a keyed fingerprint and the last 4 digits are kept)."""


@sync.command("add")
@click.argument("user_id")
@click.argument("handle")
@click.option("--renewed-consent", is_flag=True,
              help="The member, who had opted out (STOP), has asked again to be linked: link them "
                   "and clear the opt-out. Without it an opted-out member is refused.")
@pass_ctx
def sync_add(obj: Context, user_id: str, handle: str, renewed_consent: bool) -> None:
    """Link X account USER_ID (@HANDLE) to a card number read from stdin, never echoed."""
    if sys.stdin.isatty():
        card_number = click.prompt("Card number", hide_input=True, err=True)
    else:
        card_number = sys.stdin.readline()
    app = obj.app()
    card = link_member(app.uow, app.fingerprinter, app.clock, user_id, handle, card_number,
                       previous=app.previous_fingerprinter, renewed_consent=renewed_consent,
                       tz=app.settings.tz)
    click.echo(f"linked X user {user_id} (@{handle.lstrip('@')}) to card ending {card.last4}")


@sync.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def sync_import(obj: Context, file: Path) -> None:
    """Link every good row of FILE, a UTF-8 CSV with columns user_id,handle,card_number.

    Each bad row is reported as FILE:line N: column: what is wrong, and the fix, wherever it is
    in the file; the good rows are linked all the same, and any bad row makes the exit status 1.
    A file that is not UTF-8 or lacks a column links nothing. Importing the file again after
    fixing it links the rows that were bad and leaves the rest unchanged.

    Members who opted out (STOP) are skipped and listed; only `sync add --renewed-consent` links
    them again.
    """
    app = obj.app()
    report = import_member_file(app.uow, app.fingerprinter, app.clock, file,
                                previous=app.previous_fingerprinter, tz=app.settings.tz)
    for line in report.lines(file):
        click.echo(line, err=True)
    click.echo(report.describe())
    if report.problems:
        sys.exit(1)


@sync.command("remove")
@click.argument("user_id")
@pass_ctx
def sync_remove(obj: Context, user_id: str) -> None:
    """Unlink X account USER_ID: forget its card and cancel its unsent replies."""
    app = obj.app()
    if unlink_member(app.uow, app.clock, user_id):
        click.echo(f"unlinked X user {user_id}")
    else:
        raise click.ClickException(f"X user {user_id} has no linked card")
