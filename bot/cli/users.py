"""`offerbot users`: the portal's accounts (ops, and merchant users who see only their merchant)."""

from __future__ import annotations

import sys

import click

from bot.bootstrap import build_portal
from bot.cli.context import Context, echo_table, pass_ctx
from bot.cli.errors import group
from bot.domain.portal import is_locked
from bot.services.campaigns import CampaignFilesInvalid


@group()
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
def users_add(obj: Context, role: str, merchant: str | None, email: str) -> None:
    """Create a portal account for EMAIL; the password is read from stdin, never echoed."""
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
def users_list(obj: Context) -> None:
    """Show every portal account."""
    app = obj.app()
    rows = [("EMAIL", "ROLE", "MERCHANT", "STATE")]
    for user in build_portal(app).accounts.users():
        locked = is_locked(user.locked_until, now=app.clock())
        state = "disabled" if user.disabled else "locked" if locked else "active"
        rows.append((user.email, user.role.value, user.merchant or "", state))
    echo_table(rows)


@users.command("disable")
@click.argument("email")
@pass_ctx
def users_disable(obj: Context, email: str) -> None:
    """Disable EMAIL's account and end its sessions."""
    user = build_portal(obj.app()).accounts.set_disabled(email, True, by="cli")
    click.echo(f"disabled {user.email}")


@users.command("reset-password")
@click.argument("email")
@pass_ctx
def users_reset_password(obj: Context, email: str) -> None:
    """Give EMAIL a new password (stdin), lift a lockout and end its sessions."""
    accounts = build_portal(obj.app()).accounts
    user = accounts.reset_password(email, _password(email), by="cli")
    click.echo(f"new password set for {user.email}")


@users.command("sample")
@pass_ctx
def users_sample(obj: Context) -> None:
    """Create or reset the sample users with fresh passwords (embedded SQLite + sandbox only)."""
    app = obj.app()
    if app.engine.dialect.name != "sqlite" or not app.settings.sandbox:
        raise click.ClickException("sample users exist only on the embedded default (SQLite and the "
                                   "sandbox); create real accounts with `offerbot users add`")
    accounts = build_portal(app).accounts
    click.echo(f"portal: {app.settings.portal.url}  (sign in with one of these; sample accounts, "
               "new passwords at every `make run`)")
    for sample in accounts.reset_samples():
        click.echo(f"  {sample.role:<9}{sample.email:<30}{sample.password}"
                   + (f"   sees {sample.merchant}" if sample.merchant else ""))
