"""`offerbot campaigns`: check and list the campaign files."""

from __future__ import annotations

import click

from bot.cli.context import Context, echo_table, loaded, pass_ctx
from bot.cli.errors import group
from bot.domain.money import format_cents
from bot.services.campaigns import list_campaigns


@group()
def campaigns() -> None:
    """Check and list the campaign files in offers/."""


@campaigns.command("check")
@pass_ctx
def campaigns_check(obj: Context) -> None:
    """Validate every campaign file, and its change against the database; print file:line: field:
    message for each problem, and which campaigns run on their last good version."""
    catalog = obj.app().campaigns.inspect()
    for problem in catalog.problems:
        click.echo(str(problem))
    for held in catalog.last_good:
        click.echo(str(held))
    if catalog.problems:
        raise click.ClickException(f"{len(catalog.problems)} problem(s) in campaign files")
    click.echo(f"{len(catalog.campaigns)} campaign(s) OK")


@campaigns.command("list")
@pass_ctx
def campaigns_list(obj: Context) -> None:
    """Show each campaign's status, enrolments, remaining quantity and budget spent."""
    app = obj.app()
    catalog = loaded(app)
    lines = list_campaigns(catalog, app.uow, app.clock())
    rows = [("ID", "HASHTAG", "MERCHANT", "STATUS", "ENROLLED", "REMAINING", "BUDGET", "SPENT", "LEFT",
             "ENROL WINDOW")]
    for line in lines:
        c = line.campaign
        budget, left = c.budget_cents, line.left_cents
        rows.append((c.id, c.hashtag, c.merchant, line.status.value, str(line.enrolled),
                     "unlimited" if line.remaining is None else str(line.remaining),
                     "-" if budget is None else format_cents(budget, c.currency),
                     "-" if budget is None else format_cents(line.spent_cents, c.currency),
                     "-" if left is None else format_cents(left, c.currency),
                     f"{c.enrol_from} .. {c.enrol_until}"))
    echo_table(rows)
