"""`offerbot reconcile` and `offerbot explain` end to end, in a copy of the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes import ALICE_CARD, BOB_CARD, sandbox_dms, sandbox_replies

HEADER = "transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,type"


@pytest.fixture
def offerbot(offerbot, project: Path):
    """The e2e conftest's `offerbot`, with the sample members linked and enrolled."""
    offerbot("sync", "import", "data/sample_members.csv")
    sandbox = project / "data" / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    (sandbox / "mentions.jsonl").write_text((project / "data" / "sample_mentions.jsonl").read_text())
    assert offerbot("run", "--once").exit_code == 0  # Alice: McDonald's; Bob: FedEx and Zappos
    return offerbot


def day_file(project: Path, name: str = "day.csv") -> Path:
    path = project / name
    path.write_text("\n".join((
        HEADER,
        f"T1,{ALICE_CARD},MID-MCD-0001,McDonald's,12.50,USD,2026-11-21,purchase",
        f"T2,{BOB_CARD},MID-ZAP-0001,Zappos,70.00,USD,2026-11-21,purchase",
        f"T3,{BOB_CARD},MID-FDX-0001,FedEx,1e3,USD,2026-11-21,purchase",
    )) + "\n")
    return path


def test_reconcile_prints_the_summary_and_writes_the_exports(offerbot, project):
    """The summary counts rows, rejects and credits per campaign; the exports sit in data/exports."""
    result = offerbot("reconcile", str(day_file(project)))

    assert result.exit_code == 0, result.output
    assert "day.csv (sha256 " in result.output
    assert "rows read                   3" in result.output
    assert "rejected                    1" in result.output
    assert "amex-mcdonalds                     1 credits          $5.00" in result.output
    exports = sorted(p.name for p in (project / "data" / "exports").iterdir())
    assert [name.split(".", 2)[2] for name in exports] == ["credits.csv", "rejects.csv", "summary.json",
                                                           "summary.txt"]


def test_reconciling_a_file_again_says_nothing_new_was_issued(offerbot, project):
    """A second run of the same file is reported, with the first run's summary."""
    path = day_file(project)
    offerbot("reconcile", str(path))

    again = offerbot("reconcile", str(path))

    assert again.exit_code == 0
    assert "already reconciled" in again.output
    assert "no new credits were issued" in again.output


def test_a_dry_run_says_so_and_leaves_nothing(offerbot, project):
    """--dry-run prints the same summary and writes no export."""
    result = offerbot("reconcile", "--dry-run", str(day_file(project)))

    assert result.exit_code == 0
    assert "Dry run: nothing was written." in result.output
    assert not (project / "data" / "exports").exists()


def test_a_merchant_backtests_a_new_campaign_file_against_a_past_day(offerbot, project):
    """--campaigns with --assume-enrolled shows what a campaign would have paid on that day."""
    offer = project / "trial.toml"
    offer.write_text((project / "offers" / "amex-zappos.toml").read_text()
                     .replace('"amex-zappos"', '"zappos-trial"').replace("#AmexZappos", "#AmexZapTrial")
                     .replace("min_spend = 75.00", "min_spend = 50.00"))

    result = offerbot("reconcile", "--dry-run", "--assume-enrolled", "--campaigns", str(offer),
                      str(day_file(project)))

    assert result.exit_code == 0, result.output
    assert "zappos-trial                       1 credits         $10.00" in result.output


def test_assume_enrolled_without_dry_run_is_refused(offerbot, project):
    """Backtest assumptions may never write credits."""
    result = offerbot("reconcile", "--assume-enrolled", str(day_file(project)))

    assert result.exit_code == 2
    assert "--dry-run" in result.output


def test_a_refused_file_exits_1_with_the_reason(offerbot, project):
    """A file with a CVV column is refused whole, with the fix in the message."""
    path = project / "bad.csv"
    path.write_text(HEADER + ",cvv\nT1,378282246310005,MID-MCD-0001,M,1.00,USD,2026-11-21,purchase,123\n")

    result = offerbot("reconcile", str(path))

    assert result.exit_code == 1
    assert "'cvv' column" in result.output
    assert "Remove the column" in result.output


def test_explain_prints_the_trail(offerbot, project):
    """explain shows the member, the campaign, the enrolment post, each purchase and the result."""
    offerbot("reconcile", str(day_file(project)))

    result = offerbot("explain", "--member", "1002", "--campaign", "amex-zappos")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "member    1002 (@bob_ships), card ending 8431"
    assert lines[1].startswith("campaign  amex-zappos: #AmexZappos at Zappos.com, $10 back on $75+")
    assert "by post 1900000000000000002" in lines[2]
    assert "T2" in lines[4]
    assert "below minimum (under the 75.00 minimum)" in lines[4]
    assert lines[-1] == "result    no credit: below minimum (under the 75.00 minimum)"


def test_the_inbox_is_reconciled_by_run_and_the_credit_notice_is_a_direct_message(offerbot, project):
    """A file dropped in data/inbox is reconciled by `run --once`; the notice goes to the member by DM
    (issue 9.5: it was a public reply under the bot's confirmation), written to data/sandbox/dms.jsonl."""
    inbox = project / "data" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)  # `run` (in the fixture) has made it already
    path = day_file(project).rename(inbox / "day.csv")
    os.utime(path, (0, 0))  # long settled: not still being copied in

    result = offerbot("run", "--once")

    assert result.exit_code == 0, result.output
    assert (inbox / "processed" / "day.csv").exists()
    replies = sandbox_replies(project)
    assert not any("statement credit" in r["text"] for r in replies)
    [notice] = [d for d in sandbox_dms(project) if d["participant_id"] == "1001"]
    assert "Good news: your $5.00 statement credit from McDonald's (#AmexMcDonalds)" in notice["text"]


def test_a_dry_run_lists_the_rejected_rows_and_writes_nothing(offerbot, project):
    """--dry-run prints each rejected row (line, column, transaction id, reason), the first 50, then
    how many more, and leaves no export behind."""
    rows = [f"B{n},{ALICE_CARD},MID-MCD-0001,M,1e3,USD,2026-11-21,purchase" for n in range(53)]
    path = project / "bad-day.csv"
    path.write_text("\n".join((HEADER, *rows, f"T9,{ALICE_CARD},MID-MCD-0001,M,$4,USD,2026-11-21,purchase"))
                    + "\n")

    result = offerbot("reconcile", "--dry-run", str(path))

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("rejected rows (line, column, transaction id, reason):")
    shown = lines[start + 1:start + 51]
    assert shown[0].split()[:4] == ["line", "2", "amount", "B0"]
    assert "amount uses an exponent" in shown[0]
    assert shown[-1].split()[:4] == ["line", "51", "amount", "B49"]
    assert lines[start + 51] == "  ... and 4 more"
    assert "Dry run: nothing was written." in result.output
    assert not (project / "data" / "exports").exists()


def test_a_header_only_file_is_reconciled_with_a_warning(offerbot, project):
    """A file with a header and no rows is recorded, and the command says it had no data rows."""
    path = project / "empty-day.csv"
    path.write_text(HEADER + "\n")

    result = offerbot("reconcile", str(path))

    assert result.exit_code == 0, result.output
    assert "warning: the file has a header and no data rows" in result.output
    assert "already reconciled" in offerbot("reconcile", str(path)).output


@pytest.mark.parametrize(("member", "campaign", "says"), [
    ("4242", "amex-zappos", "X user 4242 has never been linked to a card"),
    ("1002", "amex-nowhere", "no campaign has the id 'amex-nowhere'"),
], ids=["unknown-member", "unknown-campaign"])
def test_explain_exits_1_for_an_unknown_member_or_campaign(offerbot, member, campaign, says):
    """Nothing to explain is an error: the message says which id is unknown, and the exit status is 1."""
    result = offerbot("explain", "--member", member, "--campaign", campaign)

    assert result.exit_code == 1
    assert f"Error: {says}" in result.output


def test_a_backtest_of_a_day_reconciled_before_writes_nothing_at_all(offerbot, project):
    """Backtesting a new campaign on a day already reconciled evaluates every row as new, and every
    table (campaigns included) is byte for byte what it was."""
    from bot.adapters.sql.engine import make_engine
    from tests.conftest import POSTGRES_URL
    from tests.fakes import dump_tables

    day = day_file(project)
    assert offerbot("reconcile", str(day)).exit_code == 0
    offer = project / "trial.toml"
    offer.write_text((project / "offers" / "amex-zappos.toml").read_text()
                     .replace('"amex-zappos"', '"zappos-trial"').replace("#AmexZappos", "#AmexZapTrial")
                     .replace("min_spend = 75.00", "min_spend = 50.00"))
    engine = make_engine(POSTGRES_URL or f"sqlite:///{project / 'data' / 'offerbot.db'}")
    before = dump_tables(engine)

    result = offerbot("reconcile", "--dry-run", "--assume-enrolled", "--campaigns", str(offer), str(day))

    assert result.exit_code == 0, result.output
    assert "zappos-trial                       1 credits         $10.00" in result.output
    assert "already reconciled" not in result.output
    assert dump_tables(engine) == before
    engine.dispose()


def test_reconcile_again_reissues_nothing_and_says_what_changed(offerbot, project):
    """`reconcile --again` on a reconciled day says it issued only what was new (here: nothing); on a new
    file it is a usage error saying what to run instead."""
    day = day_file(project)
    offerbot("reconcile", str(day))

    again = offerbot("reconcile", "--again", str(day))

    assert again.exit_code == 0, again.output
    assert "run 2 (--again" in again.output
    assert "0 new credits" in again.output
    assert "1 unchanged" in again.output
    assert any(p.name.endswith(".again-1.credits.csv") for p in (project / "data" / "exports").iterdir())
    path = project / "new.csv"
    path.write_text(day.read_text().replace("T3,", "T4,"))
    refused = offerbot("reconcile", "--again", str(path))
    assert refused.exit_code == 2
    assert "new.csv was never reconciled" in refused.output
    assert "offerbot reconcile new.csv" in refused.output
