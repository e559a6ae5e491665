"""Chart geometry for SVG drawn on the server: bars and lines over a suppressed table's rows.

Only shown figures are drawn. A hidden figure is a gap (a dashed mark on the baseline, never a
bar or a point), and the chart's note says why. Series are told apart by fill pattern and dash,
not colour alone, so the charts read in grey-scale. Each chart carries a title and a description
for screen readers; the table under it on the page holds the same numbers.
Over 300 lines on purpose: the geometry of both chart kinds shares one frame (scale, ticks, gaps,
labels), and the dashboard's charts are chosen from the report here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.dashboard.definitions import label
from bot.domain.dashboard.metrics import BUCKETS, OVER_90, WINDOW_ROWS
from bot.domain.dashboard.report import Report, display
from bot.domain.dashboard.tables import Hidden, ShownTable, Unit, Value
from bot.domain.money import format_money_short, from_cents

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 76, 16, 44, 70  # the plot box's margins: legend above, labels and note below
MAX_X_LABELS = 12
DASHES = ("", "6 4", "2 3", "8 3 2 3")  # line series, in order
PATTERNS = 4  # bar fills in the templates: solid, hatched, dotted, cross-hatched
HISTOGRAM_ROWS = (*(key for key, *_ in BUCKETS), OVER_90)


@dataclass(frozen=True)
class Bar:
    """A bar: its box, series and tooltip title."""

    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True)
class Gap:
    """Where a hidden figure would be: a dashed mark on the baseline."""

    x1: float
    x2: float
    y: float
    series: int
    title: str


@dataclass(frozen=True)
class Segment:
    """An unbroken run of a line series (a hidden figure breaks the line)."""

    series: int
    points: str  # "x,y x,y ...", as the polyline's points attribute
    dash: str


@dataclass(frozen=True)
class Point:
    """A line series' marker at a shown figure."""

    x: float
    y: float
    series: int
    title: str


@dataclass(frozen=True)
class Tick:
    """An axis label at a position."""

    x: float
    y: float
    text: str
    lines: tuple[str, ...] = ()  # the text on two lines, when it is too long for one


@dataclass(frozen=True)
class Series:
    """A legend entry."""

    index: int
    label: str
    x: float
    dash: str


@dataclass(frozen=True)
class Chart:
    """Everything a template needs to draw one chart (coordinates rounded to 0.1)."""

    id: str
    kind: str  # bars | lines
    title: str
    desc: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    zero_y: float
    bars: tuple[Bar, ...]
    gaps: tuple[Gap, ...]
    segments: tuple[Segment, ...]
    points: tuple[Point, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    grid: tuple[float, ...]  # y of each horizontal grid line
    series: tuple[Series, ...]
    note: str
    tilt: bool  # x labels too long for their slot: drawn slanted


def chart_id(text: str) -> str:
    """Return ``text`` as an id safe in SVG and HTML (letters, digits, '-' and '_')."""
    return "chart-" + re.sub(r"[^A-Za-z0-9_-]", "-", text)


def nice_scale(low: float, high: float, *, steps: int = 4,
               least: float = 0.0) -> tuple[float, float, float]:
    """Return (bottom, top, step) of an axis holding low..high in 1-2-5 steps, zero included;
    ``least`` is the smallest step worth labelling (1 member, 1.00 of money)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + max(1.0, least * steps)
    raw = max((high - low) / steps, least)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _tick_text(value: float, unit: Unit, currency: str) -> str:
    if unit is Unit.CENTS:
        return format_money_short(from_cents(round(value)), currency)
    if unit is Unit.SHARE:
        return f"{value * 100:g}%"
    return f"{value:,.10g}"


def _short(text: str) -> str:
    return text.removeprefix("week of ")


def _wide(text: str) -> float:
    return len(text) * 6.2  # about the width of 11px sans-serif text


def _two_lines(text: str) -> tuple[str, ...]:
    """Split ``text`` at the space nearest its middle."""
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    if not spaces:
        return ()
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return (text[:cut], text[cut + 1:])


class _Frame:
    """The plot box and scales shared by bars and lines."""

    def __init__(self, table: ShownTable, columns: Sequence[str], rows: Sequence[str], currency: str) -> None:
        units = [table.column(c).unit for c in columns]
        if len({Unit.MEMBERS if u is Unit.COUNT else u for u in units}) != 1:  # counts share an axis
            raise ValueError(f"chart of {table.name}: columns {list(columns)} mix units {units}")
        self.unit = units[0]
        self.table, self.columns, self.rows, self.currency = table, tuple(columns), tuple(rows), currency
        self.values: list[list[Value]] = [[table.value(r, c) for c in columns] for r in rows]
        numbers = [float(v) for line in self.values for v in line if isinstance(v, int | float)]
        least = {Unit.MEMBERS: 1.0, Unit.COUNT: 1.0, Unit.CENTS: 100.0, Unit.DAYS: 1.0}.get(self.unit, 0.0)
        self.low, self.high, self.step = nice_scale(min(numbers, default=0.0), max(numbers, default=0.0),
                                                    least=least)
        self.left, self.top = float(LEFT), float(TOP)
        self.right, self.bottom = float(WIDTH - RIGHT), float(HEIGHT - BOTTOM)
        self.slot = (self.right - self.left) / max(1, len(rows))

    def y(self, value: float) -> float:
        span = self.high - self.low
        return round(self.bottom - (value - self.low) / span * (self.bottom - self.top), 1)

    def label(self, row: int) -> str:
        return self.table.row_labels[self.table.rows.index(self.rows[row])]

    def title(self, row: int, column: int) -> str:
        value = self.values[row][column]
        series = self.table.column(self.columns[column]).label
        return f"{self.label(row)}, {series}: {display(value, self.unit, self.currency)}"

    def x_ticks(self) -> tuple[Tick, ...]:
        every = math.ceil(len(self.rows) / MAX_X_LABELS) if self.rows else 1
        ticks = []
        for i in range(0, len(self.rows), every):
            text = _short(self.label(i))
            ticks.append(Tick(round(self.left + (i + 0.5) * self.slot, 1), self.bottom + 16, text,
                              _two_lines(text) if _wide(text) > self.slot else ()))
        return tuple(ticks)

    def y_ticks(self) -> tuple[Tick, ...]:
        count = round((self.high - self.low) / self.step)
        return tuple(Tick(self.left - 6, self.y(self.low + i * self.step) + 4,
                          _tick_text(self.low + i * self.step, self.unit, self.currency))
                     for i in range(count + 1))

    def grid(self) -> tuple[float, ...]:
        count = round((self.high - self.low) / self.step)
        return tuple(self.y(self.low + i * self.step) for i in range(count + 1))

    def legend(self) -> tuple[Series, ...]:
        entries, x = [], self.left
        for index, column in enumerate(self.columns):
            text = self.table.column(column).label
            entries.append(Series(index, text, round(x, 1), DASHES[index % len(DASHES)]))
            x += 36 + 6.5 * len(text)
        return tuple(entries)

    def tilt(self) -> bool:
        return any(max(map(_wide, tick.lines or (tick.text,))) > self.slot for tick in self.x_ticks())

    def hidden(self) -> list[Hidden]:
        return [v for line in self.values for v in line if isinstance(v, Hidden)]

    def note(self) -> str:
        hidden = self.hidden()
        if not hidden:
            if not any(isinstance(v, int | float) and v for line in self.values for v in line):
                return "Nothing to draw yet."
            return ""
        return f"Dashed marks: hidden (fewer than {hidden[0].k} members, or would reveal such a figure)."

    def desc(self, kind: str, title: str) -> str:
        series = ", ".join(self.table.column(c).label for c in self.columns)
        parts = [f"{kind} chart of {series}"]
        if self.rows:
            parts[0] += f", from {self.label(0)} to {self.label(len(self.rows) - 1)}"
        shown = [(float(v), r, c) for r, line in enumerate(self.values) for c, v in enumerate(line)
                 if isinstance(v, int | float)]
        if shown:
            _value, row, column = max(shown)
            parts.append(f"Highest: {self.title(row, column)}")
        hidden = self.hidden()
        if hidden:
            parts.append(f"{len(hidden)} figure{'s' if len(hidden) != 1 else ''} hidden for privacy, "
                         "drawn as gaps")
        parts.append("The table below the chart gives every number")
        return f"{title}. " + ". ".join(parts) + "."


def bar_chart(table: ShownTable, columns: Sequence[str], *, rows: Sequence[str], chart: str,
              currency: str, title: str | None = None) -> Chart:
    """Return a bar chart of ``columns`` (one series each, side by side) over ``rows``."""
    frame = _Frame(table, columns, rows, currency)
    heading = title or table.title
    width = frame.slot * 0.8 / max(1, len(columns))
    zero = frame.y(0.0)
    bars, gaps = [], []
    for row, line in enumerate(frame.values):
        for column, value in enumerate(line):
            x = frame.left + row * frame.slot + frame.slot * 0.1 + column * width
            if isinstance(value, Hidden):
                gaps.append(Gap(round(x, 1), round(x + width, 1), zero, column, frame.title(row, column)))
            elif value is not None and value != 0:
                top = frame.y(max(float(value), 0.0))
                height = abs(frame.y(float(value)) - zero)
                bars.append(Bar(round(x, 1), top, round(max(width - 1, 1.0), 1), round(height, 1), column,
                                frame.title(row, column)))
    return Chart(chart_id(chart), "bars", heading, frame.desc("Bar", heading), WIDTH, HEIGHT, frame.left,
                 frame.top, frame.right, frame.bottom, zero, tuple(bars), tuple(gaps), (), (),
                 frame.x_ticks(), frame.y_ticks(), frame.grid(), frame.legend(), frame.note(), frame.tilt())


def line_chart(table: ShownTable, columns: Sequence[str], *, rows: Sequence[str], chart: str,
               currency: str, title: str | None = None) -> Chart:
    """Return a line chart of ``columns`` over ``rows``; a hidden figure breaks its line."""
    frame = _Frame(table, columns, rows, currency)
    heading = title or table.title
    zero = frame.y(0.0)
    segments, points, gaps = [], [], []
    for column in range(len(columns)):
        run: list[str] = []
        dash = DASHES[column % len(DASHES)]
        for row, line in enumerate(frame.values):
            value = line[column]
            x = round(frame.left + (row + 0.5) * frame.slot, 1)
            if isinstance(value, int | float):
                y = frame.y(float(value))
                run.append(f"{x},{y}")
                points.append(Point(x, y, column, frame.title(row, column)))
                continue
            if isinstance(value, Hidden):
                half = min(frame.slot * 0.3, 8.0)
                gaps.append(Gap(round(x - half, 1), round(x + half, 1), zero, column,
                                frame.title(row, column)))
            if len(run) > 1:
                segments.append(Segment(column, " ".join(run), dash))
            run = []
        if len(run) > 1:
            segments.append(Segment(column, " ".join(run), dash))
    return Chart(chart_id(chart), "lines", heading, frame.desc("Line", heading), WIDTH, HEIGHT, frame.left,
                 frame.top, frame.right, frame.bottom, zero, (), tuple(gaps), tuple(segments), tuple(points),
                 frame.x_ticks(), frame.y_ticks(), frame.grid(), frame.legend(), frame.note(), frame.tilt())


def dashboard_charts(report: Report, *, prefix: str) -> tuple[Chart, ...]:
    """Return the campaign page's charts, in page order; ``prefix`` keeps ids unique on a page."""
    periods = [p.key for p in report.periods]
    currency = report.currency
    use, spend = report.table("use_over_time"), report.table("spend_over_time")
    return (
        bar_chart(use, ("enrolments", "redemptions"), rows=periods, chart=f"{prefix}-use",
                  currency=currency, title="Enrolments and redemptions over time"),
        line_chart(spend, ("spend", "net_credits"), rows=periods, chart=f"{prefix}-spend",
                   currency=currency, title="Qualifying spend and net credits over time"),
        bar_chart(report.table("days_to_first"), ("redeemers",), rows=HISTOGRAM_ROWS,
                  chart=f"{prefix}-first", currency=currency),
        bar_chart(report.table("coming_back"), ("redeemers",), rows=HISTOGRAM_ROWS,
                  chart=f"{prefix}-back", currency=currency),
        bar_chart(report.table("new_returning_over_time"), ("new", "returning", "no_history"), rows=periods,
                  chart=f"{prefix}-new", currency=currency),
        bar_chart(report.table("before_after"), ("spend_per_member",), rows=[key for key, _ in WINDOW_ROWS],
                  chart=f"{prefix}-before-after", currency=currency,
                  title=label("before_after")),
    )
