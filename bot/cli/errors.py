"""The CLI's one error map: each of the bot's errors becomes one message and an exit status.

Every command is a BotCommand (and every group a BotGroup), so no command catches the bot's
errors itself: exit 2 is for set-up to fix (settings, schema, campaign files, a command asked of
a file in the wrong state), 1 for everything else the bot can explain. A traceback means a bug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import click

from bot.errors import BotError, ConfigError, SchemaOutdated
from bot.services.campaigns import CampaignFilesInvalid
from bot.services.reconciliation import NotReconciledYet

SETUP = 2  # the README's status for configuration to fix
FAILED = 1


class Exit(NamedTuple):
    """How the command ends on one of the bot's errors."""

    message: str
    code: int
    usage: bool = False  # a command asked of the wrong thing: click prints its usage line too


def exit_for(exc: BotError) -> Exit:
    """Return the message and exit status for one of the bot's errors (its notes on lines below)."""
    message = "\n".join([str(exc), *getattr(exc, "__notes__", ())])
    if isinstance(exc, CampaignFilesInvalid):
        return Exit(f"campaign files have problems:\n{message}\n"
                    "Run `offerbot campaigns check` after fixing them.", SETUP)
    if isinstance(exc, ConfigError | SchemaOutdated):
        return Exit(message, SETUP)
    if isinstance(exc, NotReconciledYet):
        return Exit(message, SETUP, usage=True)
    return Exit(message, FAILED)


class SetupProblem(click.ClickException):
    """Set-up to fix, as click prints it ("Error: ..."), with exit status 2 as the README promises."""

    exit_code = SETUP


@contextmanager
def mapped_errors(ctx: click.Context) -> Iterator[None]:
    """Turn a BotError raised inside into the click exception that ``exit_for`` says; an
    interrupted command prints its error's notes (what it had done) before click aborts."""
    try:
        yield
    except KeyboardInterrupt as exc:  # click says only "Aborted!": first say what was left done
        if ctx.parent is None:  # once, on its way out of the root group
            for note in getattr(exc, "__notes__", ()):
                click.echo(note, err=True)
        raise
    except BotError as exc:
        end = exit_for(exc)
        if end.usage:
            raise click.UsageError(end.message, ctx) from exc
        if end.code == SETUP:
            raise SetupProblem(end.message) from exc
        raise click.ClickException(end.message) from exc


class BotCommand(click.Command):
    """A command whose bot errors go through ``exit_for``."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, mapping the bot's errors."""
        with mapped_errors(ctx):
            return super().invoke(ctx)


class BotGroup(click.Group):
    """A group whose own callback's bot errors go through ``exit_for``; its commands are BotCommands
    and its groups BotGroups."""

    command_class = BotCommand
    group_class = type  # a subgroup is of this class too

    def invoke(self, ctx: click.Context) -> Any:
        """Run the group (and the command asked for), mapping the bot's errors."""
        with mapped_errors(ctx):
            return super().invoke(ctx)


def command(name: str | None = None, **attrs: Any) -> Callable[[Callable[..., Any]], click.Command]:
    """``click.command`` making a BotCommand."""
    return click.command(name, cls=BotCommand, **attrs)


def group(name: str | None = None, **attrs: Any) -> Callable[[Callable[..., Any]], click.Group]:
    """``click.group`` making a BotGroup."""
    return click.group(name, cls=BotGroup, **attrs)
