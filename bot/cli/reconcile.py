"""`offerbot reconcile` and `offerbot explain`: transaction files into credits, and why a credit was
or was not issued."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress as RichProgress
from rich.progress import TextColumn

from bot.bootstrap import App
from bot.cli.context import Context, loaded, pass_ctx
from bot.cli.errors import command
from bot.domain.money import format_cents
from bot.domain.reconcile_summary import Summary
from bot.services.campaigns import Catalog
from bot.services.deciding import Progress
from bot.services.explain import explain
from bot.services.reconcile_exports import currency_of
from bot.services.reconciliation import reconcile_file


@command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Decide and report everything; write nothing.")
@click.option("--campaigns", "campaigns_path", type=click.Path(exists=True, path_type=Path),
              help="Use this campaign file or folder instead of offers/ (to backtest one).")
@click.option("--assume-enrolled", is_flag=True,
              help="Backtest: count every linked member as enrolled from the campaign's start.")
@click.option("--again", is_flag=True,
              help="Re-decide every row of a file reconciled before (after fixing a setting) and issue "
                   "only what was not issued then, in a credits export of its own.")
@pass_ctx
def reconcile(obj: Context, file: Path, dry_run: bool, campaigns_path: Path | None,
              assume_enrolled: bool, again: bool) -> None:
    """Reconcile FILE, a daily transaction CSV, into statement credits (once only)."""
    if assume_enrolled and not dry_run:
        raise click.UsageError("--assume-enrolled is for backtests; add --dry-run")
    if assume_enrolled and again:
        raise click.UsageError("--again re-runs a file reconciled before; a backtest (--assume-enrolled) "
                               "evaluates every row as new: use one or the other")
    # A backtest evaluates every row of the file as if new, and writes nothing at all.
    backtest = dry_run and not again and (assume_enrolled or campaigns_path is not None)
    app = obj.app()
    catalog = _catalog_for(app, campaigns_path, save=not dry_run)
    with _progress_bar(file.name) as progress:
        summary = reconcile_file(app.reconcile_deps(), catalog, file, dry_run=dry_run,
                                 assume_enrolled=assume_enrolled, backtest=backtest, again=again,
                                 progress=progress)
    click.echo(summary.render(currency_of(catalog)))
    if summary.status == "already reconciled":
        click.echo("This file (same SHA-256) was reconciled before: no new credits were issued. "
                   "`offerbot reconcile --again FILE` re-decides it after a setting was fixed.")
    elif summary.run > 1 and dry_run:
        click.echo(f"Run {summary.run} of this file would issue only what earlier runs did not.")
    elif summary.run > 1:
        click.echo(f"Run {summary.run} of this file issued only what earlier runs did not; its credits "
                   "export holds those alone.")
    if dry_run:
        _echo_rejects(summary)
        click.echo("Dry run: nothing was written.")
    elif summary.status != "already reconciled":
        # The merchants' dashboards move with the ledger; a running bot would catch up within a
        # poll interval, but ops reconciling by hand may have no bot running.
        click.echo(f"dashboards: {app.refresh_dashboards().describe()}")


def _catalog_for(app: App, path: Path | None, *, save: bool) -> Catalog:
    """Return the campaigns of offers/ in force (a dry run: what loading them would put in force,
    unsaved), or those of another file or folder (a backtest)."""
    if path is None:
        return loaded(app, None if save else app.campaigns.inspect())
    return app.campaigns.from_path(path, save=save)


def _echo_rejects(summary: Summary) -> None:
    """Print a dry run's rejected rows: line, column, transaction id and reason, the first few."""
    if not summary.rejected:
        return
    click.echo("rejected rows (line, column, transaction id, reason):")
    for reject in summary.shown_rejects:
        click.echo(f"  line {reject.line:<7} {reject.column or '-':<24} {reject.transaction_id or '-':<20} "
                   f"{reject.reason}")
    if summary.rejected > len(summary.shown_rejects):
        click.echo(f"  ... and {summary.rejected - len(summary.shown_rejects):,} more")


@contextmanager
def _progress_bar(name: str) -> Iterator[Progress | None]:
    """Yield a progress callback drawing a bar on an interactive terminal, else None."""
    if not sys.stderr.isatty():
        yield None
        return
    with RichProgress(*RichProgress.get_default_columns(), TextColumn("{task.completed:,} rows"),
                      console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"reconciling {name}", total=None)

        def show(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"{stage} {name}", completed=done, total=max(total, done))
        yield show


@command("explain")
@click.option("--member", "member_id", required=True, help="The member's numeric X user id.")
@click.option("--campaign", "campaign_id", required=True, help="The campaign id (see campaigns list).")
@pass_ctx
def explain_command(obj: Context, member_id: str, campaign_id: str) -> None:
    """Say why a member did or did not get a campaign's credit."""
    app = obj.app()
    report = explain(app.uow, loaded(app), member_id, campaign_id, tz=app.settings.tz)
    member, campaign = report.member, report.campaign
    if member is not None:
        card = f"card ending {member.card.last4}" if member.card else "no card linked now"
        click.echo(f"member    {member.user_id} (@{member.handle}), {card}")
    if campaign is not None:
        click.echo(f"campaign  {campaign.id}: {campaign.hashtag} at {campaign.merchant}, "
                   f"{campaign.reward_text()}, purchases {campaign.enrol_from} to {campaign.redeem_by}"
                   + (" (retired)" if campaign.retired else ""))
    if report.enrolment is not None:
        click.echo(f"enrolled  {report.enrolment.enrolled_at:%Y-%m-%d %H:%M} UTC by post "
                   f"{report.enrolment.post_id}")
    if report.transactions:
        click.echo("transactions at the campaign's merchants:")
    for seen in report.transactions:
        click.echo(f"  {seen.day}  {seen.transaction_id:<20} {seen.kind:<8} {seen.amount:>12}  "
                   f"{seen.outcome}")
    for credit in report.credits:
        amount = format_cents(credit.cents, credit.currency)
        click.echo(f"  {credit.kind:<8} {credit.credit_id}  {amount}  for {credit.transaction_id}")
    for line in report.link_lines():  # what a purchase's date is matched against
        click.echo(f"link      {line}")
    if member is not None and member.opted_out_at is not None:
        click.echo(f"opted out {member.opted_out_at.astimezone(app.settings.tz):%Y-%m-%d} (STOP): no "
                   "messages, no enrolments, no re-link without renewed consent")
    if member is None or campaign is None:  # nothing to explain: say so, and exit 1
        raise click.ClickException(report.verdict())
    click.echo(f"result    {report.verdict()}")
