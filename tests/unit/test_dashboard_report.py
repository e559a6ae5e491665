"""The report merchants see: headline cards, display, CSV and JSON shapes, definitions, no member key."""

import json

import pytest

from bot.domain.dashboard.definitions import DEFINITIONS, LABELS_AND_DEFINITIONS, definitions_for
from bot.domain.dashboard.facts import Enrolment, SettingInvalid
from bot.domain.dashboard.report import (
    Report,
    build_report,
    csv_rows,
    csv_value,
    display,
    report_data,
    report_from_data,
)
from bot.domain.dashboard.tables import Hidden, Unit
from tests.dashboard_fakes import crowd, day, facts, redeemed


def weekly(last_week: int) -> Report:
    """Data to Saturday 12 Dec (day 40, weekly): 20 enrol in the week of 2 Nov, 12 in that of 23 Nov,
    15 in that of 30 Nov and ``last_week`` in that of 7 Dec, which has not ended."""
    enrolments = (crowd("a", 20, day(0)) + crowd("b", 12, day(21)) + crowd("c", 15, day(28))
                  + crowd("d", last_week, day(35)))
    return build_report(facts(enrolments=enrolments, last_day=day(40)), min_members=10)


def test_a_card_compares_the_last_complete_period_with_the_one_before() -> None:
    """The week of 7 Dec is not over: the card shows the week of 30 Nov (15) against that of 23 Nov (12):
    +3, +25%; the total is 47."""
    card = weekly(0).cards[0]
    assert card.key == "enrolments"
    assert (card.total, card.latest, card.previous, card.change) == (47, 15, 12, 3)
    assert card.change_share == 0.25
    assert card.latest_period is not None
    assert card.previous_period is not None
    assert (card.latest_period.key, card.previous_period.key) == ("2026-11-30", "2026-11-23")


def test_a_card_change_is_hidden_when_either_side_is() -> None:
    """3 enrol in the running week: fewer than 10, so its complement, the smallest other week (12, the
    week of 23 Nov), is hidden too, and with it the card's previous value and change."""
    card = weekly(3).cards[0]
    assert (card.total, card.latest) == (50, 15)
    assert card.previous == Hidden(False, 10)
    assert card.change == Hidden(False, 10)
    assert card.change_share == Hidden(False, 10)


def test_min_members_below_five_is_refused_by_the_report() -> None:
    """build_report validates k itself: 4 is refused."""
    with pytest.raises(SettingInvalid):
        build_report(facts(), min_members=4)


@pytest.mark.parametrize(
    ("value", "unit", "text", "csv"),
    [(1234, Unit.MEMBERS, "1,234", "1234"), (-125, Unit.CENTS, "-$1.25", "-1.25"),
     (123456, Unit.CENTS, "$1,234.56", "1234.56"), (2 / 3, Unit.SHARE, "66.7%", "0.6667"),
     (6.857, Unit.RATIO, "6.86", "6.86"), (1.5, Unit.DAYS, "1.5", "1.5"), (7.0, Unit.DAYS, "7", "7"),
     (None, Unit.CENTS, "—", ""), (Hidden(True, 10), Unit.CENTS, "fewer than 10", "fewer than 10"),
     (Hidden(False, 10), Unit.MEMBERS, "hidden", "hidden")],
)
def test_values_for_pages_and_csv(value: object, unit: Unit, text: str, csv: str) -> None:
    """Pages show grouped numbers, money and percentages; CSV plain numbers; both the same markers."""
    assert display(value, unit, "USD") == text  # type: ignore[arg-type]
    assert csv_value(value, unit) == csv  # type: ignore[arg-type]


def secret_report() -> Report:
    """A report of 12 members keyed 'secret-member-N', 11 of whom redeemed."""
    pairs = [redeemed(f"secret-member-{n}", day(2), 1000 + n) for n in range(11)]
    return build_report(facts(enrolments=crowd("secret-member-", 12, day(0)),
                              purchases=[p for p, _ in pairs], credits=[c for _, c in pairs]))


def test_no_member_key_reaches_the_report_its_json_or_its_csv() -> None:
    """Member keys are counted, never carried: not in the report, its JSON or any table's CSV."""
    report = secret_report()
    texts = [repr(report), json.dumps(report_data(report))]
    texts += [repr(csv_rows(t)) for t in report.tables]
    assert not [t for t in texts if "secret-member" in t]


def test_report_data_is_json_with_markers() -> None:
    """The API shape: cents as integers, hidden cells as {'suppressed': text}, periods with their days."""
    data = json.loads(json.dumps(report_data(weekly(3))))
    assert (data["campaign_id"], data["grain"], data["min_members"], data["currency"]) == (
        "amex-test", "week", 10, "USD")
    use = next(t for t in data["tables"] if t["name"] == "use_over_time")
    rows = {row["key"]: row["values"] for row in use["rows"]}
    assert rows["2026-12-07"]["enrolments"] == {"suppressed": "fewer than 10"}
    assert rows["2026-11-30"]["enrolments"] == 15
    assert data["periods"][-1] == {"key": "2026-12-07", "label": "week of 7 Dec 2026",
                                   "first_day": "2026-12-07", "last_day": "2026-12-13", "complete": False}
    assert use["definitions"][0]["label"] == "Enrolments and redemptions over time"


def test_csv_rows_have_keys_labels_and_plain_values() -> None:
    """A table's CSV: a header of column keys, then each row's key, label and values."""
    rows = csv_rows(secret_report().table("spend_over_time"))
    assert rows[0] == ["row", "label", "spend", "refunds", "net_spend", "average_ticket", "credits_paid",
                       "clawed_back", "net_credits"]
    total = rows[-1]
    assert total[:3] == ["total", "Total", "110.55"]  # 11 x $10.00 + (0 + 1 + ... + 10) cents


def test_every_figure_has_a_one_line_definition() -> None:
    """Every table, column and defined row of a report has a label and a one-line definition."""
    report = secret_report()
    for table in report.tables:
        lines = definitions_for(table)
        assert len(lines) >= 1 + len(table.columns)
        for label, text in lines:
            assert label
            assert text.endswith(".")
            assert "\n" not in text
    assert set(DEFINITIONS) == set(LABELS_AND_DEFINITIONS)
    assert "not a causal estimate" in DEFINITIONS["before_after"].lower()


def test_the_legend_says_what_the_markers_mean() -> None:
    """The report's legend explains both markers with its k and the fixed periods."""
    legend = build_report(facts(enrolments=[Enrolment("m", day(0))]), min_members=7).legend
    assert "'fewer than 7'" in legend
    assert "'hidden'" in legend
    assert "fixed days" in legend


@pytest.mark.parametrize("report", [weekly(3), weekly(0), secret_report()], ids=["hidden", "shown", "daily"])
def test_a_report_survives_a_json_round_trip(report: Report) -> None:
    """report_from_data reads back exactly the report report_data wrote (the stored-snapshot path)."""
    assert report_from_data(json.loads(json.dumps(report_data(report)))) == report
