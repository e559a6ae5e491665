"""The CLI's one error map: each of the bot's errors ends a command with one message and one
exit status, and no command can leave the map out."""

from __future__ import annotations

import click
import pytest

from bot.cli import cli
from bot.cli.errors import BotCommand, BotGroup, exit_for
from bot.errors import Busy, ConfigError, FileRejected, MemberError, SchemaOutdated
from bot.services.campaigns import CampaignFilesInvalid
from bot.services.reconciliation import NotReconciledYet


def _tree(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found.extend(_tree(sub, (*path, name)))
    return found


@pytest.mark.parametrize(("path", "command"), _tree(cli),
                         ids=lambda p: " ".join(p) if isinstance(p, tuple) else "")
def test_every_command_goes_through_the_error_map(path, command):
    """Every command and group of `offerbot` is a BotCommand or BotGroup, so the bot's errors reach
    the user through exit_for and nowhere else."""
    assert isinstance(command, BotGroup if isinstance(command, click.Group) else BotCommand), path


@pytest.mark.parametrize(("error", "code", "usage"), [
    (ConfigError("bot.toml", "[bot] poll_interval", "0 is not a number of seconds", "set 60"), 2, False),
    (SchemaOutdated("the database has schema revision 0007"), 2, False),
    (NotReconciledYet("new.csv was never reconciled"), 2, True),
    (MemberError("card number fails the Luhn check"), 1, False),
    (FileRejected("members.csv: is UTF-16"), 1, False),
    (Busy("another instance holds the lock"), 1, False),
])
def test_set_up_to_fix_exits_2_and_the_rest_1(error, code, usage):
    """Settings, schema and a command asked of the wrong file exit 2; every other bot error exits 1;
    the message is the error's own."""
    end = exit_for(error)

    assert (end.message, end.code, end.usage) == (str(error), code, usage)


def test_campaign_file_problems_say_how_to_check_them():
    """Broken campaign files exit 2 with each problem and the command that lists them."""
    from bot.adapters.offer_files import FileProblem

    problem = FileProblem("offers/x.toml", 3, "credit", "must be greater than 0")

    end = exit_for(CampaignFilesInvalid([problem]))

    assert end.code == 2
    assert end.message.splitlines() == ["campaign files have problems:",
                                        "offers/x.toml:3: credit: must be greater than 0",
                                        "Run `offerbot campaigns check` after fixing them."]


def test_an_errors_notes_are_part_of_its_message():
    """What a service added to an error on its way out (a partial import, say) is printed too."""
    error = MemberError("the database went away")
    error.add_note("the member import stopped at line 1002")

    assert exit_for(error).message == "the database went away\nthe member import stopped at line 1002"


def test_an_interrupted_command_says_what_it_had_done(capsys):
    """Ctrl-C ends a command as click does ("Aborted!"), after printing the notes the work left on
    the interrupt (a member import: the line it stopped at, the rows linked above it)."""
    from bot.cli.errors import mapped_errors

    interrupt = KeyboardInterrupt()
    interrupt.add_note("the member import stopped at line 1002; the 1000 rows linked above it are kept")

    with pytest.raises(KeyboardInterrupt), mapped_errors(click.Context(cli)):
        raise interrupt

    assert capsys.readouterr().err == (
        "the member import stopped at line 1002; the 1000 rows linked above it are kept\n")


def test_an_interrupt_is_explained_once_however_deep_the_command(capsys):
    """The notes of an interrupt raised in `offerbot sync import` are printed once, not once per
    group it passes on its way out."""
    from bot.cli.errors import mapped_errors

    root = click.Context(cli)
    sync = click.Context(cli.commands["sync"], parent=root)
    interrupt = KeyboardInterrupt()
    interrupt.add_note("stopped at line 1002")

    with pytest.raises(KeyboardInterrupt), mapped_errors(root), mapped_errors(sync), \
            mapped_errors(click.Context(cli.commands["sync"].commands["import"], parent=sync)):
        raise interrupt

    assert capsys.readouterr().err == "stopped at line 1002\n"
