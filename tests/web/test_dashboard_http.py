"""The merchant dashboard over HTTP: the campaign page, campaigns side by side, the CSV of every
table and the JSON API with its tokens. Merchant A never sees B's numbers; a suppressed cell is
suppressed in HTML, CSV and JSON alike; ops see every campaign."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
from datetime import UTC, datetime
from html import unescape

import pytest

from bot.domain.dashboard.definitions import definitions_for
from bot.domain.dashboard.report import csv_value, display, report_data, report_from_data
from bot.domain.dashboard.tables import Hidden
from bot.domain.enrolment import Enrolment
from bot.web.dashboard_view import CHARTED, charts_by_table
from tests.dashboard_sample import MCD, ZAP, rich_report, small_report
from tests.fakes import csrf_of, dump_tables
from tests.web.test_portal_http import audit_text, bearer, mcd_viewer, signed_in, zap_viewer

LATE_WEEK = "week of 7 Dec 2026"  # small_report: 3 enrolments that week, fewer than 10
COMPLEMENT_WEEK = "week of 23 Nov 2026"  # 12 enrolments, hidden: total minus the others would give the 3


@pytest.fixture
def figures(portal):
    """McDonald's and Zappos both have a stored report; returns them by campaign id."""
    return {"amex-mcdonalds": portal.reports.put(small_report(MCD)),
            "amex-zappos": portal.reports.put(small_report(ZAP, spend=7777))}


def section(html: str, table: str) -> str:
    """Return the page's section of one dashboard table (its chart, table, notes and definitions)."""
    match = re.search(rf'<section class="panel" id="table-{table}".*?</section>', html, re.S)
    assert match, f"no section for {table}"
    return match.group(0)


def row_cells(html: str, label: str) -> list[str]:
    """Return the cells of the table row headed ``label``."""
    match = re.search(rf'<tr[^>]*><th scope="row">{re.escape(label)}</th>(.*?)</tr>', html, re.S)
    assert match, f"no row {label!r}"
    return re.findall(r"<td[^>]*>(.*?)</td>", match.group(1))


def csv_of(response) -> list[list[str]]:
    """Return a CSV download's rows."""
    return list(csv.reader(io.StringIO(response.text)))


# the campaign page
def test_a_merchant_sees_cards_every_chart_a_table_under_each_and_the_definitions(portal, figures):
    """The page has the headline cards with their definitions, six inline SVG charts each above its
    table, every table of the report with a CSV link, the legend, notes and when it is as of."""
    report = figures["amex-mcdonalds"]
    html = signed_in(portal, "mcd@example.com").get("/campaigns/amex-mcdonalds").text

    text = unescape(html)
    assert "Figures as of <strong>2026-12-01 06:00:00 UTC</strong>" in html
    for card in report.cards:
        assert card.label in text
        assert card.definition in text
    assert html.count("<svg") == 6
    assert report.legend in text
    for table in report.tables:
        part = section(html, table.name)
        assert ("<svg" in part) == (table.name in CHARTED)
        assert part.index("<svg") < part.index("<table") if "<svg" in part else True
        assert f'href="/campaigns/amex-mcdonalds/dashboard/{table.name}.csv"' in part
        assert "What these numbers mean" in part
        for note in table.notes:
            assert note in unescape(part)
        for label, line in definitions_for(table):
            assert f"<dt>{label}</dt><dd>{line}</dd>" in unescape(part)
    assert "<script" not in html
    assert "style=" not in html


def test_each_chart_draws_the_table_it_stands_above(portal, figures):
    """The chart above a table is drawn from that table: its title names the same figures."""
    charts = charts_by_table(figures["amex-mcdonalds"])

    assert list(charts) == list(CHARTED)
    assert charts["use_over_time"].title == "Enrolments and redemptions over time"
    assert charts["coming_back"].title == figures["amex-mcdonalds"].table("coming_back").title
    assert all(chart.id.startswith("chart-amex-mcdonalds-") for chart in charts.values())


def test_without_a_report_the_page_says_there_are_no_figures_yet(portal):
    """Before the first computation the page says so, and the CSV of a table is not found."""
    mcd = signed_in(portal, "mcd@example.com")

    assert "No figures yet" in mcd.get("/campaigns/amex-mcdonalds").text
    assert mcd.get("/campaigns/amex-mcdonalds/dashboard/summary.csv").status_code == 404


def test_a_merchant_sees_no_exact_operational_figure_and_ops_still_do(portal, figures):
    """The exact enrolled count, budget spent and credits per file were a leak on the merchant's
    page, overview and JSON: merchants now get only the report's figures; ops keep the exact ones."""
    app = portal.app
    with app.uow() as tx:
        tx.enrolments.add_many([Enrolment("1001", "amex-mcdonalds", "5001",
                                          datetime(2026, 11, 20, 12, tzinfo=UTC))])
        tx.campaigns.add_enrolled({"amex-mcdonalds": 1})
        tx.commit()
    mcd = signed_in(portal, "mcd@example.com")
    ops = signed_in(portal, "ops@bank.example")

    page, overview = mcd.get("/campaigns/amex-mcdonalds").text, mcd.get("/").text
    listed = mcd.get("/api/campaigns").json()["campaigns"][0]

    assert "Standing" not in page
    assert "Credits per transaction file" not in page
    assert "<th class=\"num\">Enrolled</th>" not in overview
    assert "Spent" not in overview
    assert (listed["enrolled"], listed["remaining"], listed["spent_cents"]) == (None, None, None)
    assert mcd.get("/api/campaigns/amex-mcdonalds").json()["files"] == []
    assert mcd.get("/campaigns/amex-mcdonalds/totals.csv").status_code == 404
    assert "Standing (exact, ops only)" in ops.get("/campaigns/amex-mcdonalds").text
    assert ops.get("/api/campaigns").json()["campaigns"][1]["enrolled"] == 1
    assert ops.get("/campaigns/amex-mcdonalds/totals.csv").status_code == 200


def test_another_merchants_campaign_is_the_same_404_as_a_missing_one(portal, figures):
    """McDonald's asking for Zappos's page or CSV gets exactly what it gets for no such campaign."""
    mcd = signed_in(portal, "mcd@example.com")

    for theirs, missing in (("/campaigns/amex-zappos", "/campaigns/amex-nothing"),
                            ("/campaigns/amex-zappos/dashboard/summary.csv",
                             "/campaigns/amex-nothing/dashboard/summary.csv")):
        got, none = mcd.get(theirs), mcd.get(missing)
        assert got.status_code == none.status_code == 404
        assert got.text == none.text
        assert "7777" not in got.text
        assert "77.77" not in got.text


def test_ops_see_every_campaigns_dashboard(portal, figures):
    """Ops open any merchant's dashboard and see all campaigns side by side."""
    ops = signed_in(portal, "ops@bank.example")

    assert "Figures as of" in ops.get("/campaigns/amex-zappos").text
    assert ops.get("/campaigns/amex-zappos/dashboard/summary.csv").status_code == 200
    side = ops.get("/dashboard").text
    assert all(f'href="/campaigns/{cid}"' in side for cid in ("amex-mcdonalds", "amex-zappos", "amex-fedex"))


def test_a_merchant_sees_its_campaigns_side_by_side_and_no_other(portal, figures):
    """The side-by-side page and its CSV hold McDonald's campaigns only, with their totals."""
    mcd = signed_in(portal, "mcd@example.com")

    html = mcd.get("/dashboard").text
    rows = csv_of(mcd.get("/dashboard/compare.csv"))

    assert 'href="/campaigns/amex-mcdonalds"' in html
    assert "zappos" not in html.lower()
    assert rows[0] == ["figure", "label", "amex-mcdonalds"]
    assert rows[1] == ["enrolments", "Enrolments", "50"]
    assert row_cells(html, 'Enrolments<span class="definition">Members who enrolled by posting the '
                           "offer&#39;s hashtag; each member counts once, on the day they enrolled.</span>") \
        == ["50"]


# CSV
def test_every_table_downloads_as_csv_the_way_the_page_shows_it(portal, figures):
    """Each table's CSV has a header of column keys and a row per row, money as 12.34; the
    download is in the audit log."""
    report = figures["amex-mcdonalds"]
    mcd = signed_in(portal, "mcd@example.com")

    for table in report.tables:
        response = mcd.get(f"/campaigns/amex-mcdonalds/dashboard/{table.name}.csv")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert f'filename="amex-mcdonalds.{table.name}.csv"' in response.headers["content-disposition"]
        rows = csv_of(response)
        assert rows[0] == ["row", "label", *(c.key for c in table.columns)]
        assert len(rows) == len(table.rows) + 1
    spend = csv_of(mcd.get("/campaigns/amex-mcdonalds/dashboard/spend_over_time.csv"))
    assert spend[1][:3] == ["2026-11-02", "week of 2 Nov 2026", "280.00"]
    assert "dashboard spend_over_time.csv" in audit_text(portal)
    assert mcd.get("/campaigns/amex-mcdonalds/dashboard/no_such_table.csv").status_code == 404


def test_the_csv_is_safe_from_formula_injection(portal):
    """A cell starting with =, +, - or @ (a label from a campaign file) is made inert with a quote;
    negative amounts stay numbers."""
    report = small_report(MCD)
    table = report.table("use_over_time")
    labels = ("=HYPERLINK(\"http://x\")", "@SUM(A1)", *table.row_labels[2:])
    tables = tuple(dataclasses.replace(t, row_labels=labels) if t.name == "use_over_time" else t
                   for t in report.tables)
    portal.reports.put(dataclasses.replace(report, tables=tables))
    mcd = signed_in(portal, "mcd@example.com")

    rows = csv_of(mcd.get("/campaigns/amex-mcdonalds/dashboard/use_over_time.csv"))

    assert rows[1][1] == "'=HYPERLINK(\"http://x\")"
    assert rows[2][1] == "'@SUM(A1)"


# suppression, the same everywhere
def test_a_suppressed_cell_is_suppressed_in_html_csv_and_json_alike(portal, figures):
    """The week with 3 enrolments shows 'fewer than 10', and the week that would give it away by
    subtraction shows 'hidden': on the page, in the CSV and in the API's JSON."""
    mcd = signed_in(portal, "mcd@example.com")
    html = section(mcd.get("/campaigns/amex-mcdonalds").text, "use_over_time")
    rows = {r[1]: r for r in csv_of(mcd.get("/campaigns/amex-mcdonalds/dashboard/use_over_time.csv"))}
    data = mcd.get("/api/v1/campaigns/amex-mcdonalds/report", headers=bearer(portal)).json()
    table = next(t for t in data["tables"] if t["name"] == "use_over_time")
    by_label = {r["label"]: r["values"] for r in table["rows"]}

    assert row_cells(html, LATE_WEEK)[0] == "fewer than 10"
    assert row_cells(html, COMPLEMENT_WEEK)[0] == "hidden"
    assert '<td class="num suppressed">fewer than 10</td>' in html
    assert rows[LATE_WEEK][2] == "fewer than 10"
    assert rows[COMPLEMENT_WEEK][2] == "hidden"
    assert by_label[LATE_WEEK]["enrolments"] == {"suppressed": "fewer than 10"}
    assert by_label[COMPLEMENT_WEEK]["enrolments"] == {"suppressed": "hidden"}
    assert row_cells(html, "Total")[0] == rows["Total"][2] == str(by_label["Total"]["enrolments"]) == "50"


# the JSON API
def test_the_api_lists_the_tokens_merchants_campaigns_and_returns_each_report(portal, figures):
    """With McDonald's token: its campaigns only, and the report exactly as report_data makes it."""
    client = portal.client()
    headers = bearer(portal)

    listed = client.get("/api/v1/campaigns", headers=headers).json()["campaigns"]
    data = client.get("/api/v1/campaigns/amex-mcdonalds/report", headers=headers).json()

    assert [c["id"] for c in listed] == ["amex-mcdonalds"]
    assert listed[0]["as_of"] == "2026-12-01T06:00:00+00:00"
    assert listed[0]["report"] == "/api/v1/campaigns/amex-mcdonalds/report"
    assert "enrolled" not in listed[0]
    assert "spent_cents" not in listed[0]
    assert data == report_data(figures["amex-mcdonalds"])
    assert report_from_data(data) == figures["amex-mcdonalds"]


def test_the_api_answers_a_campaign_without_figures_plainly(portal):
    """Before the first report the API says there are no figures yet (200, no tables)."""
    response = portal.client().get("/api/v1/campaigns/amex-mcdonalds/report", headers=bearer(portal))

    assert response.status_code == 200
    assert response.json()["as_of"] is None
    assert "No figures yet" in response.json()["message"]


def test_a_token_on_another_merchants_campaign_gets_the_same_404_as_a_missing_one(portal, figures):
    """McDonald's token asking for Zappos's report: 404, word for word what a missing campaign gets."""
    client = portal.client()
    headers = bearer(portal)

    theirs = client.get("/api/v1/campaigns/amex-zappos/report", headers=headers)
    missing = client.get("/api/v1/campaigns/amex-nothing/report", headers=headers)

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == {"error": "not found"}
    zappos = client.get("/api/v1/campaigns/amex-zappos/report", headers=bearer(portal, zap_viewer(portal)))
    assert zappos.json()["merchant"] == "Zappos.com"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer obt_short",
                                    "Bearer obt_" + "A" * 43, "Token obt_" + "A" * 43])
def test_a_call_without_a_valid_token_is_401(portal, figures, header):
    """No token, another scheme, a malformed or unknown token: 401 saying how to authenticate."""
    headers = {} if header is None else {"Authorization": header}

    response = portal.client().get("/api/v1/campaigns/amex-mcdonalds/report", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["error"]


def test_the_api_takes_no_cookie(portal, figures):
    """A signed-in browser session is not an API credential: the API needs a token."""
    mcd = signed_in(portal, "mcd@example.com")

    assert mcd.get("/api/v1/campaigns").status_code == 401
    assert mcd.get("/api/v1/campaigns/amex-mcdonalds/report").status_code == 401


# tokens, made and revoked in the portal
def make_token(client, name: str = "BI nightly import", **fields: str):
    """Make a token through the tokens page's form; return the page and the token shown."""
    token = csrf_of(client.get("/tokens").text)
    page = client.post("/tokens", data={"csrf": token, "name": name, **fields})
    found = re.search(r'<code class="token" id="new-token">(obt_[A-Za-z0-9_-]{43})</code>', page.text)
    return page, found.group(1) if found else None


def test_a_token_is_shown_once_kept_hashed_and_works_until_revoked(portal, figures):
    """The token appears on the page that made it and never again; the database keeps its SHA-256
    only; it reads the API until revoked from the portal, then gets 401; both are audited."""
    mcd = signed_in(portal, "mcd@example.com")
    page, text = make_token(mcd)
    assert page.status_code == 200
    assert text is not None
    headers = {"Authorization": f"Bearer {text}"}

    listing = mcd.get("/tokens").text
    kept = dump_tables(portal.app.engine)
    assert text not in listing
    assert text[:10] in listing
    assert text not in repr(kept)
    assert [r for r in kept["api_tokens"] if hashlib.sha256(text.encode()).hexdigest() in r]
    assert portal.client().get("/api/v1/campaigns", headers=headers).status_code == 200

    token_id = re.search(r'action="/tokens/(\d+)/revoke"', listing).group(1)
    mcd.post(f"/tokens/{token_id}/revoke", data={"csrf": csrf_of(listing)})

    assert portal.client().get("/api/v1/campaigns", headers=headers).status_code == 401
    assert "revoked" in mcd.get("/tokens").text
    log = audit_text(portal)
    assert "api token created McDonald's: 'BI nightly import'" in log
    assert "api token revoked McDonald's: 'BI nightly import'" in log
    assert text not in log


def test_revoking_needs_the_forms_token(portal):
    """A revocation without the CSRF token is refused and the token keeps working."""
    mcd = signed_in(portal, "mcd@example.com")
    headers = bearer(portal)
    token_id = re.search(r'action="/tokens/(\d+)/revoke"', mcd.get("/tokens").text).group(1)

    refused = mcd.post(f"/tokens/{token_id}/revoke", data={})

    assert refused.status_code == 403
    assert portal.client().get("/api/v1/campaigns", headers=headers).status_code == 200


def test_a_merchant_sees_and_revokes_only_its_own_tokens(portal):
    """Zappos's token is not on McDonald's page, and McDonald's cannot revoke it (404)."""
    zap_token = portal.portal.tokens.create(zap_viewer(portal), "Zappos BI")
    mcd = signed_in(portal, "mcd@example.com")

    page = mcd.get("/tokens").text
    refused = mcd.post(f"/tokens/{zap_token.token.id}/revoke", data={"csrf": csrf_of(page)})

    assert "Zappos" not in page
    assert refused.status_code == 404
    headers = {"Authorization": f"Bearer {zap_token.text}"}
    assert portal.client().get("/api/v1/campaigns", headers=headers).status_code == 200


def test_ops_make_a_token_for_a_merchant_and_see_every_token(portal, figures):
    """Ops choose the merchant; the token reads that merchant's campaigns only; ops see all tokens."""
    portal.portal.tokens.create(mcd_viewer(portal), "McDonald's BI")
    ops = signed_in(portal, "ops@bank.example")

    refused, _ = make_token(ops, "no merchant")
    _page, text = make_token(ops, "Zappos warehouse", merchant="Zappos.com")
    listed = portal.client().get("/api/v1/campaigns", headers={"Authorization": f"Bearer {text}"}).json()

    assert refused.status_code == 422
    assert "choose the merchant" in refused.text
    assert [c["id"] for c in listed["campaigns"]] == ["amex-zappos"]
    listing = ops.get("/tokens").text
    assert "McDonald&#39;s BI" in listing
    assert "Zappos warehouse" in listing


def test_a_token_needs_a_name(portal):
    """A token without a name is refused with what to write."""
    page, text = make_token(signed_in(portal, "mcd@example.com"), "  ")

    assert page.status_code == 422
    assert text is None
    assert "give the token a name" in page.text


def test_a_rich_report_renders_with_every_chart_drawn(portal):
    """A campaign with hundreds of members: every chart has bars or lines, every table its rows."""
    portal.reports.put(rich_report(MCD))

    html = signed_in(portal, "mcd@example.com").get("/campaigns/amex-mcdonalds").text

    assert html.count("<svg") == 6
    assert "Nothing to draw yet." not in html


def test_every_cell_is_the_same_figure_on_the_page_in_the_csv_and_in_the_json(portal):
    """For a campaign with hundreds of members and some hidden cells: each table's every cell reads
    the same on the page (display), in its CSV (csv_value) and in the API (report_data)."""
    report = portal.reports.put(rich_report(MCD))
    mcd = signed_in(portal, "mcd@example.com")
    html = mcd.get("/campaigns/amex-mcdonalds").text
    data = {t["name"]: t for t in mcd.get("/api/v1/campaigns/amex-mcdonalds/report",
                                          headers=bearer(portal)).json()["tables"]}
    hidden = 0

    for table in report.tables:
        part = section(html, table.name)
        rows = csv_of(mcd.get(f"/campaigns/amex-mcdonalds/dashboard/{table.name}.csv"))[1:]
        for number, (label, values) in enumerate(zip(table.row_labels, table.values, strict=True)):
            shown = [display(v, c.unit, report.currency) for v, c in zip(values, table.columns, strict=True)]
            if len(table.rows) == 1 and len(table.columns) > 4:  # shown turned on its side
                page = [row_cells(part, c.label)[0] for c in table.columns]
            else:
                page = row_cells(part, label)
            assert [unescape(cell) for cell in page] == shown
            columns = zip(values, table.columns, strict=True)
            assert rows[number][2:] == [csv_value(v, c.unit) for v, c in columns]
            assert [data[table.name]["rows"][number]["values"][c.key] for c in table.columns] == [
                {"suppressed": v.text} if isinstance(v, Hidden) else v for v in values]
            hidden += sum(isinstance(v, Hidden) for v in values)
    assert hidden > 0
