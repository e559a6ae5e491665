"""`offerbot status` and `offerbot health`: how the bot is doing."""

from __future__ import annotations

import click

from bot.cli.context import Context, pass_ctx
from bot.cli.errors import command
from bot.services.status import describe, read_status


@command()
@pass_ctx
def status(obj: Context) -> None:
    """Show the last poll, the mentions cursor, the replies waiting, the last file reconciled,
    campaign file problems and budgets nearly spent."""
    app = obj.app()
    for line in describe(read_status(app.uow, app.locks, app.campaigns.inspect(), app.key_use()),
                         app.clock()):
        click.echo(line)


@command()
@pass_ctx
def health(obj: Context) -> None:
    """Exit 0 when the bot is healthy, 1 (saying why) when polling has stalled."""
    app = obj.app()
    problems = read_status(app.uow, app.locks).problems(app.clock(), app.settings.poll_interval)
    if problems:
        raise click.ClickException("unhealthy: " + "; ".join(problems))
    click.echo("healthy")
