"""The merchant dashboard in headless Chromium: a merchant signs in, opens a campaign, sees every
chart with its table, and downloads a table as CSV; no console error or CSP violation (the
page fixture fails the test on any)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from bot.web.dashboard_view import CHARTED
from tests.browser.test_portal_browser import sign_in
from tests.conftest import REPO
from tests.dashboard_sample import MCD, ZAP, rich_report, small_report

pytestmark = pytest.mark.slow
SCREENSHOT = REPO / "docs" / "dashboard.png"
SHOTS = os.environ.get("OFFERBOT_SCREENSHOTS")  # a folder for more screenshots, to look at by hand


def test_a_merchant_opens_a_campaign_sees_every_chart_and_table_and_downloads_a_csv(page, live):
    """Every chart is drawn (an SVG image with its title) above a table of the same numbers; the
    CSV link downloads that table; nothing of Zappos's campaign is on the page."""
    report = live.reports.put(rich_report(MCD))
    live.reports.put(small_report(ZAP))
    sign_in(page, "mcd@example.com")
    page.click("text=Dashboards")
    page.click("a[href='/campaigns/amex-mcdonalds']")

    assert page.locator("h1").inner_text().startswith("McDonald's: #AmexMcDonalds")
    assert page.locator("figure.chart svg[role=img]").count() == len(CHARTED) == 6
    for name in CHARTED:  # each chart, with the table of its numbers under it
        chart = page.locator(f"#table-{name} figure.chart svg[role=img]")
        table = page.locator(f"#table-{name} table.figures")
        assert chart.is_visible()
        assert table.is_visible()
        assert chart.bounding_box()["width"] > 300
        assert chart.bounding_box()["y"] < table.bounding_box()["y"]
        assert chart.locator("title").first.text_content() == page.locator(f"#table-{name} h3").inner_text() \
            or name in ("use_over_time", "spend_over_time", "before_after")
    for table in report.tables:
        assert page.locator(f"#table-{table.name} table.figures").is_visible()
    assert page.get_by_text("Figures as of").is_visible()
    top = {"x": 0, "y": 0, "width": 1280, "height": 1900}  # the cards and the first charts with their tables
    page.screenshot(path=str(SCREENSHOT), clip=top, full_page=True)
    assert SCREENSHOT.stat().st_size > 30_000
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/dashboard-full.png", full_page=True)

    with page.expect_download() as info:
        page.locator("#table-use_over_time a[download]").click()
    download = info.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))

    assert download.suggested_filename == "amex-mcdonalds.use_over_time.csv"
    assert rows[0] == ["row", "label", "enrolments", "first_redeemers", "redemptions", "clawbacks"]
    assert len(rows) == len(report.table("use_over_time").rows) + 1
    assert "zappos" not in page.content().lower()


def test_the_definitions_open_without_script(browser, live):
    """With JavaScript off the dashboard still shows its charts, and a table's definitions open."""
    live.reports.put(small_report(MCD))
    context = browser.new_context(base_url=live.url, java_script_enabled=False)
    tab = context.new_page()
    try:
        sign_in(tab, "mcd@example.com")
        tab.goto("/campaigns/amex-mcdonalds")
        assert tab.locator("figure.chart svg").count() == 6
        tab.locator("#table-summary details summary").click()
        assert tab.locator("#table-summary details dl").is_visible()
    finally:
        context.close()
