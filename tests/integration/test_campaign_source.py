"""The campaigns in force as a running bot keeps them: each valid version saved, a broken file
kept on its last good one, problems logged once per change."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.domain.campaigns import CampaignStatus
from bot.domain.enrolment import Enrolment
from bot.errors import ReplyTooLong
from bot.services.campaigns import CampaignSource, budget_alerts, warn_budget_crossings
from bot.services.status import describe, read_status
from tests.conftest import REPO
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, campaign, tx_row
from tests.integration.test_offer_files import MCDONALDS_TOML, ZAPPOS_TOML


@pytest.fixture
def offers(tmp_path: Path) -> Path:
    """An offers folder with McDonald's and Zappos."""
    folder = tmp_path / "offers"
    folder.mkdir()
    (folder / "mcd.toml").write_text(MCDONALDS_TOML)
    (folder / "zappos.toml").write_text(ZAPPOS_TOML)
    return folder


@pytest.fixture
def source(offers: Path, uow, clock, renderer) -> CampaignSource:
    """A campaign source over the offers folder, naming files relative to its parent."""
    return CampaignSource(offers, UTC, uow, clock, display_root=offers.parent, renderer=renderer)


def rewrite(path: Path, old: str, new: str) -> None:
    """Edit a campaign file (its size changes, so its signature does too)."""
    content = path.read_text()
    assert old in content
    path.write_text(content.replace(old, new))


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the campaign-file errors logged so far, and forget them."""
    found = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    caplog.clear()
    return found


def test_each_valid_file_is_installed_with_its_source(source, engine, clock):
    """Loading saves every valid file's definition, file name and time."""
    catalog = source.load()

    assert sorted(c.id for c in catalog.campaigns) == ["amex-mcdonalds", "amex-zappos"]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, source, definition FROM campaigns ORDER BY id")).all()
    assert [(r.id, r.source) for r in rows] == [("amex-mcdonalds", "mcd.toml"),
                                                ("amex-zappos", "zappos.toml")]
    assert json.loads(rows[0].definition)["credit"] == "5.00"


def test_a_broken_file_runs_on_its_last_good_version_and_is_logged_once(source, offers, caplog):
    """A file that breaks leaves its campaign on the kept version; other edits and reloads go on."""
    source.load()
    rewrite(offers / "mcd.toml", "credit = 5.00", "credit = -5.00")
    caplog.set_level(logging.INFO)

    first = source.current()
    logged = errors(caplog)
    again = source.current()  # nothing changed: no reload, nothing logged
    rewrite(offers / "zappos.toml", 'merchant = "Zappos.com"', 'merchant = "Zappos"')
    edited = source.current()

    assert first.by_id["amex-mcdonalds"].credit == Decimal("5.00")
    assert [lg.campaign_id for lg in first.last_good] == ["amex-mcdonalds"]
    assert logged == ["campaign files: offers/mcd.toml:9: credit: must be greater than 0",
                      f"campaign files: {first.last_good[0]}"]
    assert again is first
    assert edited.by_id["amex-zappos"].merchant == "Zappos"  # another merchant's edit is not held back
    assert edited.by_id["amex-mcdonalds"].credit == Decimal("5.00")
    assert errors(caplog) == []  # the same problem is not logged again

    rewrite(offers / "mcd.toml", "credit = -5.00", "credit = 6.00")
    fixed = source.current()

    assert fixed.by_id["amex-mcdonalds"].credit == Decimal("6.00")
    assert (fixed.problems, fixed.last_good) == ((), ())
    assert any("resolved: offers/mcd.toml:9: credit" in r.getMessage() for r in caplog.records)


def test_a_restart_finds_the_last_good_version_in_the_database(offers, uow, clock, renderer):
    """A new process (a new source over the same database) runs the broken file's kept version."""
    CampaignSource(offers, UTC, uow, clock, display_root=offers.parent).load()
    (offers / "mcd.toml").write_text(MCDONALDS_TOML.replace("currency", "curency"))

    restarted = CampaignSource(offers, UTC, uow, clock, display_root=offers.parent, renderer=renderer).load()

    assert restarted.by_id["amex-mcdonalds"].currency == "USD"
    assert str(restarted.problems[0]) == (
        "offers/mcd.toml:10: curency: unknown key; did you mean 'currency'?")


def test_a_syntax_error_is_matched_to_its_campaign_by_file_name(source, offers):
    """A file too broken to read its id still keeps its own campaign's last good version."""
    source.load()
    (offers / "mcd.toml").write_text("id = \n")

    catalog = source.current()

    assert sorted(c.id for c in catalog.campaigns) == ["amex-mcdonalds", "amex-zappos"]


def test_inspect_says_what_a_load_would_do_and_changes_nothing(source, offers, engine):
    """inspect() (campaigns check, status) reports the plan without installing any version."""
    source.load()
    rewrite(offers / "zappos.toml", 'merchant = "Zappos.com"', 'merchant = "Zappos"')
    rewrite(offers / "mcd.toml", "credit = 5.00", "credit = -5.00")

    seen = source.inspect()

    assert seen.by_id["amex-zappos"].merchant == "Zappos"
    assert [lg.campaign_id for lg in seen.last_good] == ["amex-mcdonalds"]
    with engine.connect() as conn:
        merchant = conn.execute(text("SELECT definition FROM campaigns WHERE id = 'amex-zappos'")).scalar()
    assert json.loads(merchant)["merchant"] == "Zappos.com"


def test_a_kept_version_that_today_s_rules_refuse_does_not_run(source, offers, engine, caplog):
    """A kept definition is checked again: one with a card number in it is never put back in force."""
    source.load()
    with engine.begin() as conn:
        conn.execute(text("UPDATE campaigns SET definition = :d WHERE id = 'amex-mcdonalds'"),
                     {"d": json.dumps(campaign(merchant="Card 4111111111111111").definition())})
    rewrite(offers / "mcd.toml", "credit = 5.00", "credit = -5.00")

    catalog = source.current()

    assert [c.id for c in catalog.campaigns] == ["amex-zappos"]
    assert "no longer passes the rules" in caplog.text
    assert "4111111111111111" not in caplog.text


def test_an_enrolled_campaign_whose_file_goes_keeps_running_and_is_reported(source, offers, uow):
    """Deleting the file of a campaign with enrolments is not installed: it stays in force, reported."""
    source.load()
    with uow() as tx:
        tx.campaigns.add_enrolled({"amex-zappos": 2})
        tx.commit()
    (offers / "zappos.toml").unlink()

    catalog = source.current()

    assert sorted(c.id for c in catalog.campaigns) == ["amex-mcdonalds", "amex-zappos"]
    assert [str(p) for p in catalog.problems] == [
        "offers: id: amex-zappos has 2 enrolments and 0 credits but no file defines it any more (was "
        "offers/zappos.toml). To end it keep its file and set status = \"retired\"; to rename it, "
        "keep the id"]


def test_a_campaign_nobody_enrolled_in_may_go(source, offers, engine):
    """Deleting the file of a campaign without accounting takes it out, and its kept version too."""
    source.load()
    (offers / "zappos.toml").unlink()

    catalog = source.current()

    assert [c.id for c in catalog.campaigns] == ["amex-mcdonalds"]
    assert catalog.problems == ()
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT definition FROM campaigns WHERE id = 'amex-zappos'")).scalar()
    assert kept is None


class LengthCheckingRenderer:
    """Renders every reply, except that a merchant called "Too Long" never fits."""

    def render(self, template: str, context: dict[str, Any]) -> str:
        if any(c["merchant"] == "Too Long" for c in context["enrolled"]):
            raise ReplyTooLong(template, 300)
        return "fits"


def test_a_missing_offers_folder_switches_nothing_off(source, offers, engine):
    """If the folder itself goes (a bad deploy, a wrong path), every campaign keeps its kept version."""
    source.load()
    for path in offers.iterdir():
        path.unlink()
    offers.rmdir()

    catalog = source.current()

    assert sorted(c.id for c in catalog.campaigns) == ["amex-mcdonalds", "amex-zappos"]
    assert [p.field for p in catalog.problems] == ["offers"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM campaigns WHERE definition IS NOT NULL")).scalar() == 2


def test_a_reply_too_long_is_the_files_own_problem(offers, uow, clock):
    """A merchant name making the enrolment reply too long refuses that file like any broken field."""
    source = CampaignSource(offers, UTC, uow, clock, display_root=offers.parent,
                            renderer=LengthCheckingRenderer())
    source.load()
    rewrite(offers / "mcd.toml", 'merchant = "McDonald\'s"', 'merchant = "Too Long"')

    catalog = source.current()

    assert catalog.by_id["amex-mcdonalds"].merchant == "McDonald's"
    assert "the enrolment reply would be too long" in str(catalog.problems[0])


def test_the_shipped_offers_load_without_problems(uow, clock, renderer):
    """The project's four campaigns load, reply lengths checked, with nothing to report."""
    catalog = CampaignSource(REPO / "offers", UTC, uow, clock, display_root=REPO, renderer=renderer).load()
    assert (len(catalog.campaigns), catalog.problems, catalog.warning()) == (4, (), None)


# --- budgets -------------------------------------------------------------------------------


def test_budget_warnings_come_once_per_crossing(caplog):
    """A batch crossing 80%, then one spending the budget, each warn once; batches between say nothing."""
    offer = campaign(budget=Decimal("100.00"))
    campaigns = {offer.id: offer}
    caplog.set_level(logging.WARNING)

    warn_budget_crossings(campaigns, {offer.id: 7_000}, {offer.id: 7_000})  # 70%
    warn_budget_crossings(campaigns, {offer.id: 8_000}, {offer.id: 1_000})  # 80%
    warn_budget_crossings(campaigns, {offer.id: 9_000}, {offer.id: 1_000})  # still 90%
    warn_budget_crossings(campaigns, {offer.id: 9_600}, {offer.id: 600})    # $4 left: spent
    warn_budget_crossings(campaigns, {offer.id: 9_100}, {offer.id: -500})   # a clawback

    assert [r.getMessage() for r in caplog.records] == [
        "campaign amex-mcdonalds: 80% of its budget spent ($80.00 of $100.00)",
        "campaign amex-mcdonalds: budget spent ($96.00 of $100.00; no further $5.00 credit fits): "
        "enrolment is closed"]


def test_status_lists_campaigns_at_80_percent_of_budget_or_more(source, offers, uow, engine, clock):
    """`offerbot status` names campaigns at or over 80% of their budget, and file problems."""
    rewrite(offers / "zappos.toml", 'currency = "USD"', 'currency = "USD"\nbudget = 1000.00')
    rewrite(offers / "mcd.toml", 'currency = "USD"', 'currency = "USD"\nbudget = 100.00')
    source.load()
    with uow() as tx:
        tx.campaigns.add_spent({"amex-zappos": 85_000, "amex-mcdonalds": 9_600})
        tx.commit()
    from bot.adapters.locks import locks_for

    catalog = source.inspect()
    alerts = budget_alerts(catalog, uow)
    status_locks = locks_for(engine, "me:1", clock, timedelta(minutes=1))
    lines = describe(read_status(uow, status_locks, catalog), clock())

    assert [(a.campaign.id, a.status) for a in alerts] == [("amex-mcdonalds", CampaignStatus.BUDGET_SPENT),
                                                           ("amex-zappos", CampaignStatus.LIVE)]
    assert "budgets          amex-mcdonalds: budget spent, enrolment closed ($96.00 of $100.00)" in lines
    assert "                 amex-zappos: 85% of its budget spent ($850.00 of $1,000.00)" in lines


def test_reconciliation_warns_when_a_committed_batch_crosses_80_percent_and_100(ledger, make_csv, caplog):
    """The batch taking FedEx's budget to 80% warns once (the next batch does not); the batch
    spending it warns once more."""
    when = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with ledger.uow() as tx:
        tx.campaigns.add_spent({"amex-fedex": 19_999_500})  # $199,995.00 of $250,000.00
        tx.enrolments.add_many([Enrolment("1003", "amex-fedex", "5004", when),
                                Enrolment("1001", "amex-fedex", "5005", when)])
        tx.commit()
    ledger.deps.batch_rows = 1  # one committed batch per row
    caplog.set_level(logging.WARNING)

    ledger.reconcile(make_csv("first.csv", tx_row("F1", BOB_CARD, "MID-FDX-0001", "25.00"),
                              tx_row("F2", CAROL_CARD, "MID-FDX-0001", "25.00")))
    first = [r.getMessage() for r in caplog.records]
    with ledger.uow() as tx:
        tx.campaigns.add_spent({"amex-fedex": 4_998_600})  # now $249,991.00: one more $5 credit fits
        tx.commit()
    caplog.clear()
    ledger.reconcile(make_csv("second.csv", tx_row("F3", ALICE_CARD, "MID-FDX-0001", "25.00")))
    second = [r.getMessage() for r in caplog.records]

    assert first == ["campaign amex-fedex: 80% of its budget spent ($200,000.00 of $250,000.00)"]
    assert second == ["campaign amex-fedex: budget spent ($249,996.00 of $250,000.00; no further $5.00 "
                      "credit fits): enrolment is closed"]
