"""Chart geometry: nice axes, bars and points only for shown figures, gaps for hidden ones."""

import pytest

from bot.domain.dashboard.charts import BOTTOM, HEIGHT, TOP, bar_chart, chart_id, line_chart, nice_scale
from bot.domain.dashboard.tables import Column, Hidden, ShownTable, Unit, Value


def shown(values: list[Value], unit: Unit = Unit.MEMBERS) -> ShownTable:
    """Return a one-column shown table of rows a, b, c... with ``values``."""
    rows = tuple("abcdefgh"[: len(values)])
    return ShownTable("t", "Test", rows, tuple(f"row {r}" for r in rows),
                      (Column("members", "Members", unit),), tuple((v,) for v in values))


@pytest.mark.parametrize(
    ("low", "high", "least", "scale"),
    [(0, 47, 0, (0, 60, 20)), (0, 8, 0, (0, 8, 2)), (0, 10, 1, (0, 10, 5)), (0, 0, 1, (0, 4, 1)),
     (-125, 500, 0, (-200, 600, 200)), (0, 805, 100, (0, 1000, 500))],
)
def test_nice_scale(low: float, high: float, least: float, scale: tuple[float, float, float]) -> None:
    """Axes run from zero (or below) in 1-2-5 steps, at least ``least`` apart: 47 -> 0-60 by 20."""
    assert nice_scale(low, high, least=least) == pytest.approx(scale)


def test_a_hidden_figure_is_a_gap_not_a_bar() -> None:
    """Rows 10, hidden, 0: one bar (row a, the full plot height on a 0-10 axis), one gap (row b), and
    nothing for the zero."""
    chart = bar_chart(shown([10, Hidden(True, 10), 0]), ["members"], rows=["a", "b", "c"], chart="x",
                      currency="USD")
    assert [bar.title for bar in chart.bars] == ["row a, Members: 10"]
    assert chart.bars[0].height == pytest.approx(HEIGHT - BOTTOM - TOP)
    assert [gap.title for gap in chart.gaps] == ["row b, Members: fewer than 10"]
    assert chart.note.startswith("Dashed marks: hidden (fewer than 10 members")
    assert "1 figure hidden for privacy" in chart.desc


def test_a_hidden_figure_breaks_the_line() -> None:
    """Rows 5, 10, hidden, 4, 6: two segments (a-b, d-e), four points and one gap."""
    chart = line_chart(shown([5, 10, Hidden(False, 10), 4, 6]), ["members"], rows=list("abcde"), chart="x",
                       currency="USD")
    assert len(chart.segments) == 2
    assert [len(s.points.split()) for s in chart.segments] == [2, 2]
    assert len(chart.points) == 4
    assert len(chart.gaps) == 1


def test_description_names_the_range_and_the_highest_figure() -> None:
    """The screen-reader description says what is drawn, from which row to which, and the highest."""
    chart = bar_chart(shown([3, 9]), ["members"], rows=["a", "b"], chart="x", currency="USD", title="Test")
    assert chart.desc == ("Test. Bar chart of Members, from row a to row b. Highest: row b, Members: 9. "
                          "The table below the chart gives every number.")


def test_an_empty_chart_says_so() -> None:
    """Nothing but zeros: no bars, and a note saying there is nothing to draw yet."""
    chart = bar_chart(shown([0, None]), ["members"], rows=["a", "b"], chart="x", currency="USD")
    assert chart.bars == ()
    assert chart.note == "Nothing to draw yet."


def test_money_axis_labels_are_short() -> None:
    """A money axis to $10 is labelled $0, $5, $10."""
    chart = bar_chart(shown([805], Unit.CENTS), ["members"], rows=["a"], chart="x", currency="USD")
    assert [t.text for t in chart.y_ticks] == ["$0", "$5", "$10"]


def test_long_labels_wrap_onto_two_lines() -> None:
    """'Over 90 days or not yet' in a narrow slot is split at the middle space."""
    table = shown([1] * 6)
    labels = ("a", "b", "c", "d", "e", "Over 90 days or not yet")
    table = ShownTable("t", "T", table.rows, labels, table.columns, table.values)
    chart = bar_chart(table, ["members"], rows=list("abcdef"), chart="x", currency="USD")
    assert chart.x_ticks[-1].lines == ("Over 90 days", "or not yet")
    assert not chart.tilt


def test_chart_ids_are_safe() -> None:
    """Campaign ids become ids of letters, digits, '-' and '_' only."""
    assert chart_id("amex mcdonald's/use") == "chart-amex-mcdonald-s-use"


def test_series_of_different_units_are_refused() -> None:
    """Members and money on one axis would mislead: refused."""
    columns = (Column("m", "M", Unit.MEMBERS), Column("s", "S", Unit.CENTS))
    table = ShownTable("t", "T", ("a",), ("a",), columns, ((1, 2),))
    with pytest.raises(ValueError, match="mix units"):
        bar_chart(table, ["m", "s"], rows=["a"], chart="x", currency="USD")
