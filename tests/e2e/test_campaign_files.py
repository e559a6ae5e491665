"""Campaign files end to end: a broken file affects only its own campaign, accounting is never orphaned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.adapters.sql.engine import make_engine
from bot.config import load_settings
from bot.environment import read_environment
from tests.fakes import ALICE_CARD, BOB_CARD, sandbox_replies

HEADER = "transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,type"


@pytest.fixture
def offerbot(offerbot, project: Path):
    """The e2e `offerbot`, after a first run: Alice enrolled in McDonald's, Bob in FedEx and Zappos."""
    offerbot("sync", "import", "data/sample_members.csv")
    sandbox = project / "data" / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    (sandbox / "mentions.jsonl").write_text((project / "data" / "sample_mentions.jsonl").read_text())
    assert offerbot("run", "--once").exit_code == 0
    return offerbot


def edit(project: Path, name: str, old: str, new: str) -> None:
    """Change ``old`` to ``new`` in offers/<name>."""
    path = project / "offers" / name
    content = path.read_text()
    assert old in content
    path.write_text(content.replace(old, new))


def post(project: Path, post_id: int, author: str, words: str) -> None:
    """Append a post by ``author`` to the sandbox's mentions."""
    with (project / "data" / "sandbox" / "mentions.jsonl").open("a") as lines:
        lines.write(json.dumps({"id": str(1900000000000000000 + post_id), "author_id": author,
                                "text": f"@offerbot {words}"}) + "\n")


def kept_versions(project: Path) -> dict[str, tuple[dict[str, object] | None, str | None]]:
    """Return each campaign's kept definition and source, as the bot's database holds them."""
    settings = load_settings(project / "bot.toml", read_environment(project / ".env"))
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, definition, source FROM campaigns")).all()
    finally:
        engine.dispose()
    return {cid: (json.loads(d) if d else None, source) for cid, d, source in rows}


def test_a_broken_file_affects_only_its_own_campaign_until_it_is_fixed(offerbot, project):
    """Break one of two files: the other's edit goes in, the broken one keeps its last good
    version, every command runs, a restart changes nothing, and the fix is installed."""
    edit(project, "amex-zappos.toml", 'merchant = "Zappos.com"', 'merchant = "Zappos"')
    edit(project, "amex-mcdonalds.toml", "credit = 5.00", "credit = -5.00")
    day = project / "day.csv"
    day.write_text(f"{HEADER}\nT1,{ALICE_CARD},MID-MCD-0001,McDonald's,12.50,USD,2026-11-21,purchase\n")

    check = offerbot("campaigns", "check")
    listing = offerbot("campaigns", "list")
    run = offerbot("run", "--once")
    reconciled = offerbot("reconcile", str(day))
    explained = offerbot("explain", "--member", "1001", "--campaign", "amex-mcdonalds")
    status = offerbot("status")

    assert check.exit_code == 1
    assert "offers/amex-mcdonalds.toml:10: credit: must be greater than 0" in check.output
    assert "offers/amex-mcdonalds.toml: amex-mcdonalds runs on its last good version, installed " \
           in check.output
    for result in (listing, run, reconciled, explained, status):
        assert result.exit_code == 0, result.output
    assert "amex-zappos          #AmexZappos      Zappos " in listing.output  # the valid edit is in
    assert "amex-mcdonalds" in listing.output  # the broken file's campaign still runs
    assert "warning: campaign files have 1 problem(s): amex-mcdonalds runs on its last good version" \
           in listing.output
    assert "amex-mcdonalds                     1 credits          $5.00" in reconciled.output
    assert "result    credited $5.00 net" in explained.output
    assert "campaign files   offers/amex-mcdonalds.toml:10: credit: must be greater than 0" in status.output
    kept = kept_versions(project)
    assert kept["amex-mcdonalds"][0]["credit"] == "5.00"  # type: ignore[index]
    assert kept["amex-zappos"][0]["merchant"] == "Zappos"  # type: ignore[index]

    edit(project, "amex-mcdonalds.toml", "credit = -5.00", "credit = 6.00")
    fixed = offerbot("campaigns", "check")
    assert offerbot("run", "--once").exit_code == 0

    assert fixed.exit_code == 0, fixed.output
    assert "4 campaign(s) OK" in fixed.output
    assert kept_versions(project)["amex-mcdonalds"][0]["credit"] == "6.00"  # type: ignore[index]


def test_a_broken_new_file_is_not_loaded_and_nothing_else_changes(offerbot, project):
    """A new file with problems puts nothing in force; the four campaigns carry on."""
    (project / "offers" / "amex-new.toml").write_text('id = "amex-new"\nmerchant = "New"\n')

    listing = offerbot("campaigns", "list")

    assert listing.exit_code == 0
    assert not any(line.startswith("amex-new") for line in listing.output.splitlines())
    assert "campaign files have 7 problem(s);" in listing.output
    assert "amex-new" not in kept_versions(project)


def test_deleting_the_file_of_a_campaign_with_enrolments_is_refused_and_retiring_it_works(offerbot, project):
    """Dropping an enrolled campaign is refused (it keeps running); status = "retired" ends it properly."""
    original = (project / "offers" / "amex-zappos.toml").read_text()
    (project / "offers" / "amex-zappos.toml").unlink()

    check = offerbot("campaigns", "check")
    listing = offerbot("campaigns", "list")

    assert check.exit_code == 1
    assert ("offers: id: amex-zappos has 1 enrolment and 0 credits but no file defines it any more (was "
            "offers/amex-zappos.toml). To end it keep its file and set status = \"retired\"; to rename it, "
            "keep the id") in check.output.splitlines()
    assert "amex-zappos          #AmexZappos" in listing.output

    (project / "offers" / "amex-zappos.toml").write_text(original + 'status = "retired"\n')
    post(project, 10, "1003", "#AmexZappos")
    assert offerbot("run", "--once").exit_code == 0
    retired = offerbot("campaigns", "list")

    assert offerbot("campaigns", "check").exit_code == 0
    assert "amex-zappos          #AmexZappos      Zappos.com      retired" in retired.output
    assert "purchases 2026-11-01 to 2027-07-31 (retired)" in offerbot(
        "explain", "--member", "1002", "--campaign", "amex-zappos").output
    assert sandbox_replies(project)[-1]["text"].startswith("#AmexZappos has ended: no new enrolments")


def test_renaming_an_enrolled_campaign_is_refused_on_its_file(offerbot, project):
    """A new id in the file of a campaign with enrolments is refused; the old campaign runs on."""
    edit(project, "amex-zappos.toml", 'id = "amex-zappos"', 'id = "amex-zappos-2027"')

    check = offerbot("campaigns", "check")

    assert check.exit_code == 1
    assert any(line.startswith("offers/amex-zappos.toml:2: id: amex-zappos has 1 enrolment and 0 credits")
               for line in check.output.splitlines()), check.output
    assert "amex-zappos-2027" not in kept_versions(project)
    assert "amex-zappos          #AmexZappos" in offerbot("campaigns", "list").output


def test_a_new_campaign_taking_the_hashtag_of_an_enrolled_one_is_refused(offerbot, project):
    """Moving an enrolled campaign's hashtag to a new id in a new file is refused twice over."""
    moved = (project / "offers" / "amex-zappos.toml").read_text().replace('"amex-zappos"', '"zappos-2027"')
    (project / "offers" / "amex-zappos.toml").unlink()
    (project / "offers" / "zappos-2027.toml").write_text(moved)

    check = offerbot("campaigns", "check")

    assert check.exit_code == 1
    assert ("offers/zappos-2027.toml:4: hashtag: #AmexZappos belongs to amex-zappos, which has 1 enrolment; "
            "pick another hashtag (to change amex-zappos itself, keep its id)") in check.output.splitlines()
    assert "offers: id: amex-zappos has 1 enrolment" in check.output


def test_a_card_number_in_a_merchant_name_is_refused_and_never_published(offerbot, project):
    """A merchant name holding a card number fails the check, without the digits, and is never replied."""
    edit(project, "amex-fedex.toml", 'merchant = "FedEx Office"', 'merchant = "Card 4111111111111111 Store"')
    post(project, 11, "1003", "#AmexFedEx")

    check = offerbot("campaigns", "check")
    assert offerbot("run", "--once").exit_code == 0

    assert check.exit_code == 1
    assert ("offers/amex-fedex.toml:3: merchant: looks like a card number; card numbers must never appear "
            "in offer text") in check.output.splitlines()
    assert "4111111111111111" not in check.output
    assert all("4111111111111111" not in r["text"] for r in sandbox_replies(project))
    assert "FedEx Office" in sandbox_replies(project)[-1]["text"]  # the last good version answered


def test_campaigns_list_shows_budget_spent_and_left(offerbot, project):
    """`campaigns list` shows each budget, what is spent and what is left ("-" without a budget)."""
    day = project / "day.csv"
    day.write_text(f"{HEADER}\nT1,{BOB_CARD},MID-FDX-0001,FedEx,25.00,USD,2026-11-21,purchase\n")
    assert offerbot("reconcile", str(day)).exit_code == 0

    rows = [line for line in offerbot("campaigns", "list").output.splitlines() if not line.startswith("{")]

    assert rows[0].split() == ["ID", "HASHTAG", "MERCHANT", "STATUS", "ENROLLED", "REMAINING", "BUDGET",
                               "SPENT", "LEFT", "ENROL", "WINDOW"]
    fedex = next(r for r in rows if r.startswith("amex-fedex"))
    mcd = next(r for r in rows if r.startswith("amex-mcdonalds"))
    assert "unlimited  $250,000.00  $5.00  $249,995.00  2026-11-01" in fedex
    assert "unlimited  -            -      -            2026-11-01" in mcd
