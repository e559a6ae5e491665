"""The `offerbot` command: a thin layer that parses arguments and calls one service."""

from __future__ import annotations

import logging
import os
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

from bot.adapters.member_csv import read_member_file
from bot.adapters.migrations import schema_state, upgrade
from bot.adapters.offer_files import read_campaign_files
from bot.adapters.private_files import UMASK, private_folder
from bot.adapters.sql.engine import make_engine
from bot.bootstrap import App, bootstrap
from bot.config import Settings, load_settings, read_environment
from bot.domain.cards import mask_card_numbers
from bot.domain.money import format_cents
from bot.domain.reconcile_summary import Summary
from bot.errors import BotError, ConfigError, SchemaOutdated
from bot.logs import setup_logging
from bot.scheduler import jobs_for, run_once, run_until_stopped
from bot.services.campaigns import CampaignFilesInvalid, Catalog, list_campaigns
from bot.services.deciding import Progress
from bot.services.explain import explain as explain_credit
from bot.services.inbox import ensure_inbox
from bot.services.members import IMPORT_COLUMNS, import_members, link_member, unlink_member
from bot.services.reconcile_exports import currency_of
from bot.services.reconciliation import NotReconciledYet, reconcile_file
from bot.services.reply_queue import NEEDS_ATTENTION, STATUSES, list_replies, retry_reply
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
        self._closers: list[Callable[[], None]] = []

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
        """Release what the app holds (after stopping what was started with it)."""
        for stop in reversed(self._closers):
            stop()
        if self._app is not None:
            self._app.close()

    def on_close(self, stop: Callable[[], None]) -> None:
        """Run ``stop`` when the command ends, before the app is closed."""
        self._closers.append(stop)


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
    os.umask(UMASK)  # whatever the bot writes is its owner's alone (files 0600, folders 0700)
    setup_logging(verbose, log_format)
    ctx.obj = Context(config, env_file)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.option("--once", is_flag=True, help="Run each job once and exit (for cron and tests).")
@click.option("--portal", is_flag=True,
              help="Serve the web portal from this process too ([portal] host and port).")
@pass_ctx
@bot_errors
def run(obj: Context, once: bool, portal: bool) -> None:
    """Poll mentions and send replies until stopped (SIGTERM or Ctrl-C)."""
    app = obj.app()
    if portal and not once:
        from bot.web.serve import serve_in_thread

        server = serve_in_thread(app)
        obj.on_close(server.stop)
    catalog = app.campaigns.load()
    private_folder(app.settings.data_dir)
    ensure_inbox(app.settings.inbox_dir)  # where ops drop the day's file, there from the start
    mode = "SANDBOX (no X credentials set)" if app.settings.sandbox else "X"
    logger.info("offerbot starting in %s mode: %s", mode, app.api.describe())
    logger.info("%d campaigns in force (%d on their last good version); database %s", len(catalog.campaigns),
                len(catalog.last_good), app.engine.url.render_as_string(hide_password=True))
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
@bot_errors
def campaigns_list(obj: Context) -> None:
    """Show each campaign's status, enrolments, remaining quantity and budget spent."""
    app = obj.app()
    catalog = _loaded(app)
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
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@cli.group()
def sync() -> None:
    """Link X accounts to cards (only a keyed fingerprint and the last 4 digits are kept)."""


@sync.command("add")
@click.argument("user_id")
@click.argument("handle")
@click.option("--renewed-consent", is_flag=True,
              help="The member, who had opted out (STOP), has asked again to be linked: link them "
                   "and clear the opt-out. Without it an opted-out member is refused.")
@pass_ctx
@bot_errors
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
@bot_errors
def sync_import(obj: Context, file: Path) -> None:
    """Link every row of FILE, a UTF-8 CSV with columns user_id,handle,card_number.

    Members who opted out (STOP) are skipped and listed; only `sync add --renewed-consent` links
    them again.
    """
    app = obj.app()
    rows = read_member_file(file, IMPORT_COLUMNS)  # refuses a whole file in another encoding first
    report = import_members(app.uow, app.fingerprinter, app.clock, rows,
                            previous=app.previous_fingerprinter, tz=app.settings.tz)
    for problem in report.problems:
        click.echo(f"{file}:{problem}", err=True)
    for skipped in report.skipped:
        click.echo(f"{file}:{skipped}", err=True)
    click.echo(report.describe())
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
        _echo_rejects(summary)
        click.echo("Dry run: nothing was written.")


@cli.command()
@click.option("--member", "member_id", required=True, help="The member's numeric X user id.")
@click.option("--campaign", "campaign_id", required=True, help="The campaign id (see campaigns list).")
@pass_ctx
@bot_errors
def explain(obj: Context, member_id: str, campaign_id: str) -> None:
    """Say why a member did or did not get a campaign's credit."""
    app = obj.app()
    report = explain_credit(app.uow, _loaded(app), member_id, campaign_id, tz=app.settings.tz)
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


@cli.command()
@pass_ctx
@bot_errors
def status(obj: Context) -> None:
    """Show the last poll, the mentions cursor, the replies waiting, the last file reconciled,
    campaign file problems and budgets nearly spent."""
    app = obj.app()
    for line in describe(read_status(app.uow, app.locks, app.campaigns.inspect(), app.key_use()),
                         app.clock()):
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


@cli.group(invoke_without_command=True)
@click.option("--status", "status", type=click.Choice([str(s) for s in STATUSES]),
              help="List the replies and DMs in this state (default: failed and undeliverable).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="List at most this many, the latest first.")
@click.pass_context
def replies(ctx: click.Context, status: str | None, limit: int) -> None:
    """List replies and DMs that did not go out, with why; `replies retry ID` sends one again."""
    if ctx.invoked_subcommand is None:
        _list_replies(ctx.obj, status, limit)


@bot_errors
def _list_replies(obj: Context, status: str | None, limit: int) -> None:
    app = obj.app()
    found = list_replies(app.uow, statuses=(status,) if status else NEEDS_ATTENTION, limit=limit)
    if not found:
        click.echo(f"no {status or 'failed or undeliverable'} replies")
        return
    rows = [("ID", "CHANNEL", "MEMBER", "TEMPLATE", "ATTEMPTS", "STATUS", "WHEN (UTC)", "REASON")]
    for r in found:
        rows.append((str(r.id), r.channel, r.member_id, r.template, str(r.attempts), r.status,
                     f"{r.when:%Y-%m-%d %H:%M}", mask_card_numbers(r.reason or "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


@replies.command("retry")
@click.argument("reply_id", type=int)
@pass_ctx
@bot_errors
def replies_retry(obj: Context, reply_id: int) -> None:
    """Send failed or undeliverable reply REPLY_ID once more (the next `offerbot run` sends it)."""
    app = obj.app()
    record = retry_reply(app.uow, app.clock, reply_id)
    what = "DM" if record.channel == "dm" else "reply"
    click.echo(f"{what} {reply_id} to member {record.member_id} ({record.template}) queued for one more "
               "attempt; a running bot sends it within a reply interval")


@cli.command()
@click.option("--host", help="Address to listen on (default: [portal] host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (default: [portal] port).")
@pass_ctx
@bot_errors
def web(obj: Context, host: str | None, port: int | None) -> None:
    """Serve the web portal (ops console and merchant requests) until stopped."""
    from bot.web.serve import serve

    serve(obj.app(), host=host, port=port)


@cli.group()
def users() -> None:
    """Portal accounts: ops, and merchant users who see only their merchant's campaigns."""


def _password(email: str) -> str:
    """Read a password from stdin, never echoed (asked twice on a terminal)."""
    if sys.stdin.isatty():
        return str(click.prompt(f"Password for {email}", hide_input=True, confirmation_prompt=True, err=True))
    return sys.stdin.readline().rstrip("\r\n")


@users.command("add")
@click.option("--role", type=click.Choice(["ops", "merchant"]), required=True)
@click.option("--merchant", help="The merchant name exactly as campaign files spell it (merchant users).")
@click.argument("email")
@pass_ctx
@bot_errors
def users_add(obj: Context, role: str, merchant: str | None, email: str) -> None:
    """Create a portal account for EMAIL; the password is read from stdin, never echoed."""
    from bot.bootstrap import build_portal

    app = obj.app()
    accounts = build_portal(app).accounts
    password = _password(email)
    user = accounts.add(email, role, merchant, password, by="cli")
    try:
        known = {c.merchant for c in app.campaigns.load().campaigns}
    except CampaignFilesInvalid:  # a broken campaign file is no reason to refuse an account
        known = {user.merchant or ""}
    if user.merchant and user.merchant not in known:
        click.echo(f"note: no campaign in offers/ has the merchant {user.merchant!r} yet", err=True)
    click.echo(f"added {user.email} ({user.role.value}{f', {user.merchant}' if user.merchant else ''})")


@users.command("list")
@pass_ctx
@bot_errors
def users_list(obj: Context) -> None:
    """Show every portal account."""
    from bot.bootstrap import build_portal

    app = obj.app()
    rows = [("EMAIL", "ROLE", "MERCHANT", "STATE")]
    for user in build_portal(app).accounts.users():
        locked = user.locked_until is not None and user.locked_until > app.clock()
        state = "disabled" if user.disabled else "locked" if locked else "active"
        rows.append((user.email, user.role.value, user.merchant or "", state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@users.command("disable")
@click.argument("email")
@pass_ctx
@bot_errors
def users_disable(obj: Context, email: str) -> None:
    """Disable EMAIL's account and end its sessions."""
    from bot.bootstrap import build_portal

    user = build_portal(obj.app()).accounts.set_disabled(email, True, by="cli")
    click.echo(f"disabled {user.email}")


@users.command("reset-password")
@click.argument("email")
@pass_ctx
@bot_errors
def users_reset_password(obj: Context, email: str) -> None:
    """Give EMAIL a new password (stdin), lift a lockout and end its sessions."""
    from bot.bootstrap import build_portal

    accounts = build_portal(obj.app()).accounts
    user = accounts.reset_password(email, _password(email), by="cli")
    click.echo(f"new password set for {user.email}")


@users.command("sample")
@pass_ctx
@bot_errors
def users_sample(obj: Context) -> None:
    """Create or reset the sample users with fresh passwords (embedded SQLite + sandbox only)."""
    from bot.bootstrap import build_portal
    from bot.services.accounts import SAMPLE_USERS

    app = obj.app()
    if app.engine.dialect.name != "sqlite" or not app.settings.sandbox:
        raise click.ClickException("sample users exist only on the embedded default (SQLite and the "
                                   "sandbox); create real accounts with `offerbot users add`")
    accounts = build_portal(app).accounts
    click.echo(f"portal: {app.settings.portal.url}  (sign in with one of these; sample accounts, "
               "new passwords at every `make run`)")
    for email, role, merchant in SAMPLE_USERS:
        password = secrets.token_urlsafe(12)
        accounts.put_sample(email, role, merchant, password)
        click.echo(f"  {role:<9}{email:<30}{password}" + (f"   sees {merchant}" if merchant else ""))


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


def _loaded(app: App, catalog: Catalog | None = None) -> Catalog:
    """Return the campaigns in force; a broken campaign file is a warning, never a refusal."""
    catalog = catalog or app.campaigns.load()
    warning = catalog.warning()
    if warning:
        click.echo(f"warning: {warning}", err=True)
    return catalog


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


def _catalog_for(app: App, path: Path | None, *, sync: bool) -> Catalog:
    """Read the campaigns of offers/ or of another file or folder (a backtest), refusing problems
    of that other file.

    A dry run reads them without copying them into the database (it writes nothing at all).
    """
    if path is None:  # what loading the files puts in force (a dry run: what it would, unsaved)
        return _loaded(app, None if sync else app.campaigns.inspect())
    files = read_campaign_files(path, app.settings.tz)
    if files.problems:
        raise CampaignFilesInvalid(files.problems)
    if sync:
        with app.uow() as tx:  # the ledger's foreign keys need the campaigns to exist
            tx.campaigns.ensure(files.campaigns, app.clock())  # never rewriting a campaign in force
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


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def main() -> None:
    """Run the CLI."""
    cli(prog_name="offerbot")
