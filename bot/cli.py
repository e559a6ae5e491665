"""The `offerbot` command: a thin layer that parses arguments and calls one service."""

from __future__ import annotations

import csv
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.progress import Progress as RichProgress
from rich.progress import TextColumn

from bot.adapters.database import make_engine
from bot.adapters.migrations import schema_state, upgrade
from bot.adapters.offer_files import read_campaign_files
from bot.bootstrap import App, bootstrap
from bot.config import Settings, load_settings, read_environment
from bot.domain.money import format_cents
from bot.errors import BotError, ConfigError, SchemaOutdated
from bot.logs import setup_logging
from bot.scheduler import jobs_for, run_once, run_until_stopped
from bot.services.campaigns import CampaignFilesInvalid, Catalog, check_campaigns, list_campaigns
from bot.services.explain import explain as explain_credit
from bot.services.members import IMPORT_COLUMNS, import_members, link_member, unlink_member
from bot.services.reconciliation import NotReconciledYet, Progress, currency_of, reconcile_file
from bot.services.status import describe, read_status

logger = logging.getLogger("bot")
F = TypeVar("F", bound=Callable[..., Any])


class ConfigProblem(click.ClickException):
    """Configuration errors exit with 2, as the README promises."""

    exit_code = 2


class Context:
    """Settings and the app, made on first use and closed when the command ends."""

    def __init__(self, config: Path, env_file: Path) -> None:
        self.config, self.env_file = config, env_file
        self._settings: Settings | None = None
        self._app: App | None = None

    def settings(self) -> Settings:
        """Return the validated settings, or exit 2 naming the key and the fix."""
        if self._settings is None:
            try:
                self._settings = load_settings(self.config, read_environment(self.env_file))
            except ConfigError as exc:
                raise ConfigProblem(str(exc)) from exc
        return self._settings

    def app(self) -> App:
        """Return the app built from the settings."""
        if self._app is None:
            try:
                self._app = bootstrap(self.settings())
            except (ConfigError, SchemaOutdated) as exc:
                raise ConfigProblem(str(exc)) from exc
        return self._app

    def close(self) -> None:
        """Release what the app holds."""
        if self._app is not None:
            self._app.close()


def bot_errors(func: F) -> F:
    """Turn the bot's own errors into a one-line message and exit status."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, SchemaOutdated) as exc:
            raise ConfigProblem(str(exc)) from exc
        except CampaignFilesInvalid as exc:
            raise ConfigProblem(f"campaign files have problems:\n{exc}\n"
                                "Run `offerbot campaigns check` after fixing them.") from exc
        except BotError as exc:
            raise click.ClickException(str(exc)) from exc

    wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
    return wrapper  # type: ignore[return-value]


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    setup_logging(verbose, log_format)
    ctx.obj = Context(config, env_file)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.option("--once", is_flag=True, help="Run each job once and exit (for cron and tests).")
@pass_ctx
@bot_errors
def run(obj: Context, once: bool) -> None:
    """Poll mentions and send replies until stopped (SIGTERM or Ctrl-C)."""
    app = obj.app()
    catalog = app.campaigns.load()
    mode = "SANDBOX (no X credentials set)" if app.settings.sandbox else "X"
    logger.info("offerbot starting in %s mode: %s", mode, app.api.describe())
    logger.info("%d campaigns in force; database %s", len(catalog.campaigns),
                app.engine.url.render_as_string(hide_password=True))
    jobs = jobs_for(app)
    if once:
        run_once(jobs)
        return
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run_until_stopped(jobs, stop, app.clock)
    logger.info("offerbot stopped")


@cli.group()
def campaigns() -> None:
    """Check and list the campaign files in offers/."""


@campaigns.command("check")
@pass_ctx
@bot_errors
def campaigns_check(obj: Context) -> None:
    """Validate every campaign file; print file:line: field: message for each problem."""
    settings = obj.settings()
    from bot.adapters.templates import TemplateRenderer

    files = check_campaigns(settings.offers_dir, settings.tz, TemplateRenderer(settings.templates_dir),
                            display_root=settings.source.parent)
    for problem in files.problems:
        click.echo(str(problem))
    if files.problems:
        raise click.ClickException(f"{len(files.problems)} problem(s) in campaign files")
    click.echo(f"{len(files.campaigns)} campaign(s) OK")


@campaigns.command("list")
@pass_ctx
@bot_errors
def campaigns_list(obj: Context) -> None:
    """Show each campaign's status, enrolments and remaining quantity."""
    app = obj.app()
    lines = list_campaigns(app.campaigns.load(), app.uow, app.clock())
    rows = [("ID", "HASHTAG", "MERCHANT", "STATUS", "ENROLLED", "REMAINING", "ENROL WINDOW")]
    for line in lines:
        c = line.campaign
        rows.append((c.id, c.hashtag, c.merchant, line.status.value, str(line.enrolled),
                     "unlimited" if line.remaining is None else str(line.remaining),
                     f"{c.enrol_from} .. {c.enrol_until}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@cli.group()
def sync() -> None:
    """Link X accounts to cards (only a keyed fingerprint and the last 4 digits are kept)."""


@sync.command("add")
@click.argument("user_id")
@click.argument("handle")
@pass_ctx
@bot_errors
def sync_add(obj: Context, user_id: str, handle: str) -> None:
    """Link X account USER_ID (@HANDLE) to a card number read from stdin, never echoed."""
    if sys.stdin.isatty():
        card_number = click.prompt("Card number", hide_input=True, err=True)
    else:
        card_number = sys.stdin.readline()
    app = obj.app()
    card = link_member(app.uow, app.fingerprinter, app.clock, user_id, handle, card_number)
    click.echo(f"linked X user {user_id} (@{handle.lstrip('@')}) to card ending {card.last4}")


@sync.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
@bot_errors
def sync_import(obj: Context, file: Path) -> None:
    """Link every row of FILE, a CSV with columns user_id,handle,card_number."""
    app = obj.app()
    report = import_members(app.uow, app.fingerprinter, app.clock, _csv_rows(file, IMPORT_COLUMNS))
    for problem in report.problems:
        click.echo(f"{file}:{problem}", err=True)
    click.echo(f"{report.linked} linked, {report.unchanged} unchanged, "
               f"{len(report.problems)} rejected")
    if report.problems:
        sys.exit(1)


@sync.command("remove")
@click.argument("user_id")
@pass_ctx
@bot_errors
def sync_remove(obj: Context, user_id: str) -> None:
    """Unlink X account USER_ID: forget its card and cancel its unsent replies."""
    app = obj.app()
    if unlink_member(app.uow, app.clock, user_id):
        click.echo(f"unlinked X user {user_id}")
    else:
        raise click.ClickException(f"X user {user_id} has no linked card")


@cli.command()
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
@bot_errors
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
    catalog = _catalog_for(app, campaigns_path, sync=not dry_run)
    try:
        with _progress_bar(file.name) as progress:
            summary = reconcile_file(app.reconcile_deps(), catalog, file, dry_run=dry_run,
                                     assume_enrolled=assume_enrolled, backtest=backtest, again=again,
                                     progress=progress)
    except NotReconciledYet as exc:
        raise click.UsageError(str(exc)) from exc
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
        click.echo("Dry run: nothing was written.")


@cli.command()
@click.option("--member", "member_id", required=True, help="The member's numeric X user id.")
@click.option("--campaign", "campaign_id", required=True, help="The campaign id (see campaigns list).")
@pass_ctx
@bot_errors
def explain(obj: Context, member_id: str, campaign_id: str) -> None:
    """Say why a member did or did not get a campaign's credit."""
    app = obj.app()
    report = explain_credit(app.uow, app.campaigns.load(), member_id, campaign_id)
    member, campaign = report.member, report.campaign
    if member is not None:
        card = f"card ending {member.card.last4}" if member.card else "no card linked now"
        click.echo(f"member    {member.user_id} (@{member.handle}), {card}")
    if campaign is not None:
        click.echo(f"campaign  {campaign.id}: {campaign.hashtag} at {campaign.merchant}, "
                   f"{campaign.reward_text()}, purchases {campaign.enrol_from} to {campaign.redeem_by}")
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
    click.echo(f"result    {report.verdict()}")


@cli.command()
@pass_ctx
@bot_errors
def status(obj: Context) -> None:
    """Show the last poll, the mentions cursor, the replies waiting and the last file reconciled."""
    app = obj.app()
    for line in describe(read_status(app.uow, app.locks), app.clock()):
        click.echo(line)


@cli.command()
@pass_ctx
@bot_errors
def health(obj: Context) -> None:
    """Exit 0 when the bot is healthy, 1 (saying why) when polling has stalled."""
    app = obj.app()
    problems = read_status(app.uow, app.locks).problems(app.clock(), app.settings.poll_interval)
    if problems:
        raise click.ClickException("unhealthy: " + "; ".join(problems))
    click.echo("healthy")


@cli.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@pass_ctx
@bot_errors
def db_upgrade(obj: Context) -> None:
    """Bring the database to the schema this version needs (back it up first)."""
    engine = make_engine(obj.settings().database_url)
    try:
        before = schema_state(engine)
        upgrade(engine)
        after = schema_state(engine)
    finally:
        engine.dispose()
    if before.current == after.current:
        click.echo(f"database already at revision {after.current}")
    else:
        click.echo(f"database upgraded from revision {before.current or 'none'} to {after.current}")


@cli.command()
def keygen() -> None:
    """Print a new card fingerprint key for .env (OFFERBOT_FINGERPRINT_KEY=...)."""
    click.echo(f"OFFERBOT_FINGERPRINT_KEY={secrets.token_hex(32)}")


def _catalog_for(app: App, path: Path | None, *, sync: bool) -> Catalog:
    """Read the campaigns of offers/ or of another file or folder (a backtest), refusing problems.

    A dry run reads them without copying them into the database (it writes nothing at all).
    """
    if path is None and sync:
        return app.campaigns.load()
    settings = app.settings
    files = (read_campaign_files(settings.offers_dir, settings.tz, display_root=settings.source.parent)
             if path is None else read_campaign_files(path, settings.tz))
    if files.problems:
        raise CampaignFilesInvalid(files.problems)
    if sync:
        with app.uow() as tx:  # the ledger's foreign keys need the campaigns to exist
            tx.campaigns.sync(files.campaigns, app.clock())
            tx.commit()
    return Catalog(files.campaigns)


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


def _csv_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) from a small CSV, or fail naming the missing columns."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        _fail(f"{path}: cannot open: {exc.strerror}")
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in columns if c not in header]
        if missing:
            _fail(f"{path}:1: header lacks {', '.join(missing)}; expected {','.join(columns)}")
        reader.fieldnames = header
        try:
            for row in reader:
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}
        except (csv.Error, UnicodeDecodeError) as exc:
            _fail(f"{path}:{reader.line_num}: cannot read: {exc}; save the file as UTF-8 CSV")


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def main() -> None:
    """Run the CLI."""
    cli(prog_name="offerbot")
