"""`offerbot replies`: the replies and DMs that did not go out, and sending one again."""

from __future__ import annotations

import click

from bot.cli.context import Context, echo_table, pass_ctx
from bot.cli.errors import group
from bot.domain.cards import mask_card_numbers
from bot.services.reply_queue import NEEDS_ATTENTION, STATUSES, list_replies, retry_reply


@group("replies", invoke_without_command=True)
@click.option("--status", "status", type=click.Choice([str(s) for s in STATUSES]),
              help="List the replies and DMs in this state (default: failed and undeliverable).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="List at most this many, the latest first.")
@click.pass_context
def replies_group(ctx: click.Context, status: str | None, limit: int) -> None:
    """List replies and DMs that did not go out, with why; `replies retry ID` sends one again."""
    if ctx.invoked_subcommand is None:
        _list_replies(ctx.obj, status, limit)


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
    echo_table(rows)


@replies_group.command("retry")
@click.argument("reply_id", type=int)
@pass_ctx
def replies_retry(obj: Context, reply_id: int) -> None:
    """Send failed or undeliverable reply REPLY_ID once more (the next `offerbot run` sends it)."""
    app = obj.app()
    record = retry_reply(app.uow, app.clock, reply_id)
    what = "DM" if record.channel == "dm" else "reply"
    click.echo(f"{what} {reply_id} to member {record.member_id} ({record.template}) queued for one more "
               "attempt; a running bot sends it within a reply interval")
