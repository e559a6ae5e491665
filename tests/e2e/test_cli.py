"""The offerbot command end to end, in a copy of the project, on the sandbox."""

from __future__ import annotations

import json

import click
import pytest

from bot.cli import cli
from tests.fakes import ALICE_CARD, sandbox_dms, sandbox_replies


def test_campaigns_check_passes_on_the_seed_campaigns(offerbot):
    """The four shipped campaigns are valid."""
    result = offerbot("campaigns", "check")

    assert result.exit_code == 0
    assert "4 campaign(s) OK" in result.output


def test_campaigns_check_prints_file_line_field_message_and_exits_1(offerbot, project):
    """Each problem is one 'file:line: field: message' line; any problem means exit 1."""
    broken = (project / "offers" / "amex-fedex.toml").read_text().replace("credit = 5.00", "credit = -5")
    (project / "offers" / "amex-fedex.toml").write_text(broken + "percnt = 10\n")
    (project / "offers" / "copy.toml").write_text(
        (project / "offers" / "amex-zappos.toml").read_text().replace('"amex-zappos"', '"zappos-2"')
        .replace("#AmexZappos", "#amexzappos"))

    result = offerbot("campaigns", "check")

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "offers/amex-fedex.toml:13: percnt: unknown key; did you mean 'percent'?" in lines
    assert "offers/amex-fedex.toml:10: credit: must be greater than 0" in lines
    assert any(line.startswith("offers/copy.toml:4: hashtag: #amexzappos is also used by "
                               "offers/amex-zappos.toml") for line in lines)


def test_a_bad_setting_exits_2_naming_the_key_and_the_fix(offerbot, project):
    """A wrong value in bot.toml stops the bot with one message and exit status 2."""
    config = project / "bot.toml"
    config.write_text(config.read_text().replace("poll_interval = 5", "poll_interval = 0"))

    result = offerbot("run", "--once")

    assert result.exit_code == 2
    assert "bot.toml: [bot] poll_interval: 0 is not a number of seconds" in result.output
    assert "Fix:" in result.output


def test_partial_x_credentials_exit_2(offerbot, project):
    """Setting some X keys but not all is a configuration error, not a silent sandbox."""
    (project / ".env").write_text("X_CONSUMER_KEY=abc\n")

    result = offerbot("run", "--once")

    assert result.exit_code == 2
    assert "X_CONSUMER_SECRET" in result.output


def test_sync_add_reads_the_card_from_stdin_and_never_echoes_it(offerbot):
    """The card number comes from stdin; only its last 4 digits are printed."""
    result = offerbot("sync", "add", "1001", "@alice_eats", input=ALICE_CARD + "\n")

    assert result.exit_code == 0, result.output
    assert "linked X user 1001 (@alice_eats) to card ending 0005" in result.output
    assert ALICE_CARD not in result.output


def test_sync_add_with_a_bad_card_exits_1_without_echoing_it(offerbot):
    """A mistyped card number is refused with a reason and without the digits."""
    result = offerbot("sync", "add", "1001", "alice", input="378282246310006\n")

    assert result.exit_code == 1
    assert "Luhn" in result.output
    assert "378282246310006" not in result.output


def test_sync_import_reports_bad_rows_and_links_the_rest(offerbot, project):
    """Bad rows are listed by file and line; good rows are linked; the exit status is 1."""
    path = project / "members.csv"
    path.write_text("handle,card_number,user_id\nalice,378282246310005,1001\nbob,4111,1002\n"
                    "carol,378734493671000,1003\n")

    result = offerbot("sync", "import", str(path))

    assert result.exit_code == 1
    assert "2 linked, 0 unchanged, 1 rejected" in result.output
    assert f"{path}:line 3: card_number: card number has 4 digits; expected 13 to 19" in result.output


def test_sync_import_refuses_a_file_without_the_columns(offerbot, project):
    """A CSV missing a required column is refused whole, naming the missing column."""
    path = project / "members.csv"
    path.write_text("user_id,card_number\n1001,378282246310005\n")

    result = offerbot("sync", "import", str(path))

    assert result.exit_code == 1
    assert "header lacks handle" in result.output


def linked_members(project) -> int:
    """How many members have a card on file in the project's database."""
    from bot.adapters.sql.engine import make_engine
    from bot.adapters.sql.unit_of_work import unit_of_work_factory
    from tests.conftest import POSTGRES_URL

    engine = make_engine(POSTGRES_URL or f"sqlite:///{project / 'data' / 'offerbot.db'}")
    try:
        with unit_of_work_factory(engine)(readonly=True) as tx:
            return len(tx.members.fingerprint_index())
    finally:
        engine.dispose()


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_sync_import_of_a_utf16_file_links_nothing_and_says_how_to_save_it(offerbot, project, codec):
    """Excel's 'Unicode text' is refused whole with one clear line (no traceback), exit 1."""
    path = project / "members.csv"
    path.write_bytes("\ufeffuser_id,handle,card_number\n1001,alice,378282246310005\n".encode(codec))

    result = offerbot("sync", "import", str(path))

    assert result.exit_code == 1
    assert "is UTF-16" in result.output
    assert "Save it as UTF-8" in result.output
    assert "Traceback" not in result.output
    assert linked_members(project) == 0


def test_sync_import_of_a_latin1_file_names_the_line_and_links_nothing(offerbot, project):
    """A Latin-1 byte on line 2,002 is reported at line 2,002, before the 2,000 good rows above it link."""
    from tests.fakes import card_number

    good = "".join(f"{10_000 + n},h{n},{card_number(n)}\n" for n in range(2000))
    path = project / "members.csv"
    path.write_bytes(("user_id,handle,card_number\n" + good).encode() + "9,José,1\n".encode("latin-1"))

    result = offerbot("sync", "import", str(path))

    assert result.exit_code == 1
    assert f"{path}: line 2002 (byte " in result.output
    assert "is not UTF-8; nothing was linked" in result.output
    assert linked_members(project) == 0


def test_sync_import_reports_a_badly_quoted_row_and_links_the_others(offerbot, project):
    """Bad quoting is a problem of one row, named by its physical line; the rest are linked."""
    path = project / "members.csv"
    path.write_text('user_id,handle,card_number\n1001,"alice\neats",378282246310005\n'
                    '1002,"bob"x,371449635398431\n1003,carol,378734493671000\n')

    result = offerbot("sync", "import", str(path))

    assert result.exit_code == 1
    assert f"{path}:line 4: cannot be read as CSV" in result.output
    assert f"{path}:line 2: handle: handle 'alice\\neats' is not an X handle" in result.output
    assert "1 linked, 0 unchanged, 2 rejected, 0 opted out (skipped)" in result.output


def test_sync_import_skips_members_who_sent_stop(offerbot, project):
    """A routine import (every `make run`) never re-links a member who opted out: the row is reported
    as skipped with the date, the rest of the file links, and the exit status stays 0."""
    import re

    offerbot("sync", "import", "data/sample_members.csv")
    (project / "data" / "sandbox" / "mentions.jsonl").write_text(
        json.dumps({"author_id": "1001", "text": "@offerbot STOP"}) + "\n")
    assert offerbot("run", "--once").exit_code == 0

    result = offerbot("sync", "import", "data/sample_members.csv")

    assert result.exit_code == 0, result.output
    assert re.search(r"data/sample_members.csv:line 2: opted out on \d{4}-\d{2}-\d{2}, skipped",
                     result.output)
    assert "0 linked, 2 unchanged, 0 rejected, 1 opted out (skipped)" in result.output
    assert linked_members(project) == 2


def test_sync_add_links_an_opted_out_member_only_with_renewed_consent(offerbot, project):
    """Without --renewed-consent the link is refused, naming the flag; with it the member is linked."""
    offerbot("sync", "import", "data/sample_members.csv")
    (project / "data" / "sandbox" / "mentions.jsonl").write_text(
        json.dumps({"author_id": "1001", "text": "@offerbot STOP"}) + "\n")
    offerbot("run", "--once")

    refused = offerbot("sync", "add", "1001", "alice_eats", input=ALICE_CARD + "\n")
    renewed = offerbot("sync", "add", "--renewed-consent", "1001", "alice_eats", input=ALICE_CARD + "\n")

    assert refused.exit_code == 1
    assert "opted out (STOP)" in refused.output
    assert "--renewed-consent" in refused.output
    assert renewed.exit_code == 0, renewed.output
    assert "linked X user 1001 (@alice_eats) to card ending 0005" in renewed.output
    assert "0 opted out" in offerbot("sync", "import", "data/sample_members.csv").output


def test_sync_remove_unlinks(offerbot):
    """`sync remove` forgets the card; removing again says there is none."""
    offerbot("sync", "import", "data/sample_members.csv")

    assert offerbot("sync", "remove", "1001").exit_code == 0
    second = offerbot("sync", "remove", "1001")
    assert second.exit_code == 1
    assert "has no linked card" in second.output


def test_run_once_in_the_sandbox_enrols_and_replies(offerbot, project):
    """With no X keys, `run --once` reads the sandbox file and writes replies for linked members."""
    offerbot("sync", "import", "data/sample_members.csv")
    sandbox = project / "data" / "sandbox"
    (sandbox / "mentions.jsonl").write_text((project / "data" / "sample_mentions.jsonl").read_text())

    result = offerbot("run", "--once")

    assert result.exit_code == 0, result.output
    assert "SANDBOX" in result.output
    sent = sandbox_replies(project)
    assert [r["in_reply_to_tweet_id"] for r in sent] == ["1900000000000000001", "1900000000000000002"]
    assert "#AmexMcDonalds" in sent[0]["text"]

    with (sandbox / "mentions.jsonl").open("a") as lines:
        lines.write(json.dumps({"author_id": "1003", "text": "@offerbot #AmexVirginAmer"}) + "\n")
    offerbot("run", "--once")

    assert "#AmexVirginAmer" in sandbox_replies(project)[-1]["text"]
    listing = offerbot("campaigns", "list").output
    assert "amex-virgin-america  #AmexVirginAmer  Virgin America  live    1         999" in listing


def test_run_starts_despite_a_broken_campaign_file_and_logs_it(offerbot, project):
    """A broken campaign file no longer stops `run`: it is logged, and the other campaigns run."""
    (project / "offers" / "bad.toml").write_text('id = "bad"\n')

    result = offerbot("run", "--once")

    assert result.exit_code == 0, result.output
    assert "offers/bad.toml: merchant: is required" in result.output
    assert "4 campaigns in force" in result.output


def test_keygen_prints_a_usable_key(offerbot):
    """`keygen` prints a 64-hex-character key line for .env."""
    result = offerbot("keygen")

    name, _, value = result.output.strip().partition("=")
    assert name == "OFFERBOT_FINGERPRINT_KEY"
    assert len(bytes.fromhex(value)) == 32


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("command", _commands(cli), ids=" ".join)
def test_every_command_has_help(offerbot, command):
    """Every command explains itself under --help."""
    result = offerbot(*command, "--help")

    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert (cli.get_command(click.Context(cli), command[0]).help or "").strip()


def test_replies_lists_what_did_not_go_out_and_retry_sends_one_again(offerbot, project):
    """`replies` lists failed and undeliverable messages with reasons; `replies retry ID` sends one once;
    retrying anything else, or for an unlinked member, exits 1 saying why."""
    import os

    from bot.adapters.sql.engine import make_engine
    from bot.adapters.sql.unit_of_work import unit_of_work_factory
    from bot.clock import utc_now
    from bot.domain.replies import DM, Delivery, ReplyIntent

    offerbot("sync", "import", "data/sample_members.csv")
    assert offerbot("replies").output.strip() == "no failed or undeliverable replies"
    engine = make_engine(os.environ.get("OFFERBOT_DATABASE_URL") or f"sqlite:///{project}/data/offerbot.db")
    uow = unit_of_work_factory(engine)
    notice = {"kind": "credit", "amount": "$5.00", "merchant": "McDonald's", "hashtag": "#AmexMcDonalds"}
    with uow() as tx:
        tx.outbox.add_many([
            ReplyIntent("credit:c1", "1001", "1900000000000000001", "credit.j2", {**notice, "ref": "C1"},
                        channel=DM),
            ReplyIntent("credit:c2", "1002", "1900000000000000002", "credit.j2", {**notice, "ref": "C2"},
                        channel=DM),
            ReplyIntent("credit:c3", "1003", "1900000000000000003", "credit.j2", {**notice, "ref": "C3"},
                        channel=DM)], utc_now())
        ids = {r.dedupe_key: r.id for r in tx.outbox.listing(["pending"], 10)}
        refused = "X refused the direct message (403 You cannot send messages to this user.)"
        tx.outbox.record(ids["credit:c1"], Delivery("undeliverable", note=refused), utc_now())
        tx.outbox.record(ids["credit:c2"], Delivery("sent", post_id="800000000000000001"), utc_now())
        tx.outbox.record(ids["credit:c3"], Delivery("failed", note="HTTP 400 Bad Request"), utc_now())
        tx.commit()
    engine.dispose()
    offerbot("sync", "remove", "1003")

    listing = offerbot("replies")
    sent = offerbot("replies", "--status", "sent", "--limit", "5")
    not_failed = offerbot("replies", "retry", str(ids["credit:c2"]))
    unlinked = offerbot("replies", "retry", str(ids["credit:c3"]))
    missing = offerbot("replies", "retry", "999999")
    retried = offerbot("replies", "retry", str(ids["credit:c1"]))
    offerbot("run", "--once")

    lines = listing.output.splitlines()
    assert lines[0].split() == ["ID", "CHANNEL", "MEMBER", "TEMPLATE", "ATTEMPTS", "STATUS", "WHEN", "(UTC)",
                                "REASON"]
    assert any(f"{ids['credit:c1']}" in line and "dm" in line and "undeliverable" in line
               and "You cannot send messages to this user" in line for line in lines)
    assert any("failed" in line and "HTTP 400 Bad Request" in line for line in lines)
    assert len(lines) == 3  # the sent one is not listed
    assert "sent" in sent.output.splitlines()[1]
    assert (not_failed.exit_code, unlinked.exit_code, missing.exit_code, retried.exit_code) == (1, 1, 1, 0)
    assert "is sent, not failed or undeliverable" in not_failed.output
    assert "member 1003, who is no longer linked" in unlinked.output
    assert "there is no reply 999999" in missing.output
    assert "queued for one more attempt" in retried.output
    assert [d["participant_id"] for d in sandbox_dms(project)] == ["1001"]
    assert "undeliverable" not in offerbot("replies").output


@pytest.mark.parametrize("at", [3, 1500])
def test_sync_import_reports_a_bad_line_the_same_way_near_the_top_and_far_down(offerbot, project, at):
    """A bad row on line 3 and on line 1,500 (a later batch) gets the same 'FILE:line N: column: what
    is wrong' line on stderr, the good rows around it are linked, and the exit status is 1."""
    from tests.fakes import card_number

    rows = [f"{10_000 + n},h{n},{card_number(n)}" for n in range(1600)]
    rows[at - 2] = "2001,dora,4111"
    path = project / "members.csv"
    path.write_text("user_id,handle,card_number\n" + "\n".join(rows) + "\n")

    result = offerbot("sync", "import", str(path))

    assert result.exit_code == 1
    assert f"{path}:line {at}: card_number: card number has 4 digits; expected 13 to 19\n" in result.output
    assert "1599 linked, 0 unchanged, 1 rejected, 0 opted out (skipped)" in result.output
    assert linked_members(project) == 1599
