"""The portal as a person uses it, in headless Chromium: sign in, overview, upload, requests, sign out."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.enrolment import Enrolment
from bot.services.intake import CURSOR, POLLED
from bot.services.members import link_member
from tests.conftest import HEADER, PASSWORD, REPO
from tests.fakes import ALICE_CARD, BOB_CARD, tx_row
from tests.web.test_portal_http import MCD_REQUEST

pytestmark = pytest.mark.slow
SCREENSHOT = REPO / "docs" / "portal-overview.png"
SHOTS = os.environ.get("OFFERBOT_SCREENSHOTS")  # a folder for more screenshots, to look at by hand


def sign_in(page, email: str) -> None:
    """Sign in through the form."""
    page.goto("/signin")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def seed(live) -> None:
    """Alice and Bob linked and enrolled, so a file has something to credit."""
    app = live.app
    link_member(app.uow, app.fingerprinter, app.clock, "1001", "alice", ALICE_CARD)
    link_member(app.uow, app.fingerprinter, app.clock, "1002", "bob", BOB_CARD)
    when = datetime(2026, 11, 20, 12, tzinfo=UTC)
    with app.uow() as tx:
        tx.enrolments.add_many([Enrolment("1001", "amex-mcdonalds", "5001", when),
                                Enrolment("1002", "amex-fedex", "5003", when)])
        tx.campaigns.add_enrolled({"amex-mcdonalds": 1, "amex-fedex": 1})
        tx.cursors.set(CURSOR, "5003", app.clock())  # as if the bot had just polled
        tx.cursors.set(POLLED, app.clock().isoformat(), app.clock())
        tx.commit()


def test_sign_in_see_the_overview_and_sign_out(page, live):
    """Ops sign in, see the bot's state and the campaigns, and sign out to the sign-in page."""
    page.goto("/")
    assert page.url.endswith("/signin?next=/")
    sign_in(page, "ops@bank.example")

    assert page.locator("h1").inner_text() == "Overview"
    assert page.get_by_text("amex-mcdonalds").is_visible()
    page.click("form.signout button")

    assert "/signin" in page.url
    page.goto("/runs")
    assert "/signin" in page.url


def test_upload_a_small_file_and_see_its_run(page, live, tmp_path: Path):
    """The file goes up through the form and its run page shows the credits when done."""
    seed(live)
    day = tmp_path / "2026-11-21.csv"
    rows = (tx_row("T1"), tx_row("T2", card=BOB_CARD, mid="MID-FDX-0001", amount="25.00"),
            tx_row("T3", amount="oops"))
    day.write_text("\n".join((HEADER, *rows)) + "\n")
    sign_in(page, "ops@bank.example")
    page.click("text=Upload")
    page.set_input_files("#file", str(day))
    page.click("text=Upload and reconcile")

    page.wait_for_selector("text=Credits and clawbacks per campaign", timeout=30_000)
    assert re.search(r"/runs/[0-9a-f]{64}$", page.url)
    assert page.get_by_role("cell", name="amex-fedex").is_visible()
    assert page.get_by_text("Rejected rows").is_visible()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/run.png", full_page=True)

    page.goto("/")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_submit_a_campaign_and_approve_it(page, live):
    """A merchant submits a request; ops approve it; the merchant sees it approved."""
    sign_in(page, "mcd@example.com")
    page.click("text=Campaign requests")
    page.click("text=Submit a campaign")
    page.fill("#text", MCD_REQUEST)
    page.click("text=Check and submit")
    assert page.get_by_text("pending").first.is_visible()
    request_url = page.url
    page.click("form.signout button")

    sign_in(page, "ops@bank.example")
    page.goto(request_url)
    assert page.get_by_text("Passes").is_visible()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/request.png", full_page=True)
    page.fill("#approve-note", "looks right")
    page.click("text=Approve")
    assert page.locator(".badge.approved").is_visible()
    assert (live.project / "offers" / "mcd-breakfast.toml").exists()
    page.click("form.signout button")

    sign_in(page, "mcd@example.com")
    page.goto(request_url)
    assert page.locator(".badge.approved").is_visible()


def test_the_pages_work_with_javascript_off(browser, live):
    """Signing in, the overview and the upload form need no script."""
    context = browser.new_context(base_url=live.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, "ops@bank.example")
        assert page.locator("h1").inner_text() == "Overview"
        page.goto("/upload")
        assert page.locator("#file").is_visible()
    finally:
        context.close()
