"""The dashboard's SVG charts from templates/web/charts: well-formed, accessible, CSP-clean, private."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot.adapters.chart_svg import ChartRenderer
from bot.domain.dashboard.charts import Chart, bar_chart, dashboard_charts
from bot.domain.dashboard.report import Report, build_report
from tests.dashboard_fakes import crowd, day, facts, redeemed

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def renderer() -> ChartRenderer:
    """The chart renderer over the project's templates."""
    return ChartRenderer(TEMPLATES)


def campaign_report() -> Report:
    """Weekly data to 12 Dec: 20, 12, 15 and 3 enrolments in four weeks (the 3 hidden, the 12 as its
    complement), 14 redeeming in the first week and 12 coming back within a week."""
    pairs = [redeemed(f"a{n}", day(2), 2000) for n in range(14)]
    purchases = [p for p, _ in pairs] + [p._replace(qualifying=False, day=day(5)) for p, _ in pairs[:12]]
    enrolments = [*crowd("a", 20, day(0)), *crowd("b", 12, day(21)), *crowd("c", 15, day(28)),
                  *crowd("d", 3, day(35))]
    return build_report(facts(enrolments=enrolments, purchases=purchases, credits=[c for _, c in pairs],
                              last_day=day(40)))


def parse(svg: str) -> ET.Element:
    """Parse an SVG string as XML (fails on anything malformed)."""
    return ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted input


def test_every_chart_is_well_formed_and_accessible(renderer: ChartRenderer) -> None:
    """Each chart parses as XML, is role=img, and is named and described by its own title and desc."""
    for chart in dashboard_charts(campaign_report(), prefix="amex-test"):
        root = parse(renderer.render(chart))
        assert root.tag == f"{SVG}svg"
        assert root.get("role") == "img"
        title, desc = root[0], root[1]
        assert (title.tag, desc.tag) == (f"{SVG}title", f"{SVG}desc")
        assert root.get("aria-labelledby") == title.get("id") == f"{chart.id}-title"
        assert root.get("aria-describedby") == desc.get("id") == f"{chart.id}-desc"
        assert title.text == chart.title
        assert desc.text
        assert desc.text.endswith("The table below the chart gives every number.")


def test_charts_have_no_style_no_script_and_no_outside_reference(renderer: ChartRenderer) -> None:
    """No style attribute or element, no script, no event handler, no link out: only presentation
    attributes and fills that are colours or the chart's own patterns."""
    for chart in dashboard_charts(campaign_report(), prefix="amex-test"):
        for element in parse(renderer.render(chart)).iter():
            assert element.tag not in (f"{SVG}script", f"{SVG}style", f"{SVG}foreignObject", f"{SVG}image")
            assert "style" not in element.attrib
            assert not [name for name in element.attrib if name.lower().startswith("on")]
            assert not [name for name in element.attrib if name.endswith("href")]
            fill = element.get("fill", "#")
            assert fill.startswith("#") or fill == "none" or fill.startswith(f"url(#{chart.id}-p")


def test_a_suppressed_cell_draws_no_bar(renderer: ChartRenderer) -> None:
    """The 3 enrolments of the week of 7 Dec are hidden: no bar carries them, a gap mark does."""
    chart = dashboard_charts(campaign_report(), prefix="amex-test")[0]
    root = parse(renderer.render(chart))
    bar_titles = [r.findtext(f"{SVG}title") or "" for r in root.iter(f"{SVG}rect")]
    gap_titles = [line.findtext(f"{SVG}title") or "" for line in root.iter(f"{SVG}line")]
    assert "week of 7 Dec 2026, Enrolments: fewer than 10" in gap_titles
    assert "week of 23 Nov 2026, Enrolments: hidden" in gap_titles
    assert not [t for t in bar_titles if t.startswith(("week of 7 Dec 2026, Enrolments",
                                                       "week of 23 Nov 2026, Enrolments"))]
    assert "week of 30 Nov 2026, Enrolments: 15" in bar_titles
    assert any(t.text and t.text.startswith("Dashed marks: hidden") for t in root.iter(f"{SVG}text"))


def test_text_is_escaped(renderer: ChartRenderer) -> None:
    """A title with markup in it stays text: the SVG parses and the title reads as written."""
    table = campaign_report().table("coming_back")
    chart = bar_chart(table, ["redeemers"], rows=["d0_7"], chart="x", currency="USD",
                      title="Tom & Jerry's <script>alert(1)</script>")
    root = parse(renderer.render(chart))
    assert root[0].text == "Tom & Jerry's <script>alert(1)</script>"
    assert not list(root.iter(f"{SVG}script"))


def test_two_campaigns_side_by_side_have_distinct_ids(renderer: ChartRenderer) -> None:
    """The charts of two campaigns on one page share no id (titles, descriptions, patterns)."""
    report = campaign_report()
    ids: list[str] = []
    charts: list[Chart] = [*dashboard_charts(report, prefix="one"), *dashboard_charts(report, prefix="two")]
    for chart in charts:
        ids += [e.get("id", "") for e in parse(renderer.render(chart)).iter() if e.get("id")]
    assert len(ids) == len(set(ids))
