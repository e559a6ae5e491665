"""Fixed reporting periods: calendar days, ISO weeks (from Monday) or calendar months.

The grain follows the length of the range shown (Open Loyalty's rule: up to 30 days daily, up
to 90 weekly, longer monthly) and is never chosen freely, and the boundaries are the calendar's,
never the range's: two reports then never cover overlapping odd ranges whose difference would
single out a member.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

DAILY_UP_TO = 30  # days in the range shown
WEEKLY_UP_TO = 90
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Grain(StrEnum):
    """How long one period is."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def grain_for(first: date, last: date) -> Grain:
    """Return the grain for a range of days (inclusive): up to 30 daily, up to 90 weekly, else monthly."""
    days = (last - first).days + 1
    if days <= DAILY_UP_TO:
        return Grain.DAY
    if days <= WEEKLY_UP_TO:
        return Grain.WEEK
    return Grain.MONTH


def period_start(day: date, grain: Grain) -> date:
    """Return the first day of the period holding ``day``."""
    if grain is Grain.DAY:
        return day
    if grain is Grain.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_start(start: date, grain: Grain) -> date:
    """Return the first day of the period after the one starting on ``start``."""
    if grain is Grain.DAY:
        return start + timedelta(days=1)
    if grain is Grain.WEEK:
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def short_date(day: date) -> str:
    """Return a date as people read it on the page: '2 Nov 2026'."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Period:
    """One fixed period: ``start`` inclusive, ``end`` exclusive."""

    grain: Grain
    start: date
    end: date

    @property
    def key(self) -> str:
        """Return the period's machine key (its first day, ISO): for CSV, JSON and keys."""
        return self.start.isoformat()

    @property
    def label(self) -> str:
        """Return the period as people read it: '2 Nov 2026', 'week of 2 Nov 2026', 'Nov 2026'."""
        if self.grain is Grain.DAY:
            return short_date(self.start)
        if self.grain is Grain.WEEK:
            return f"week of {short_date(self.start)}"
        return f"{_MONTHS[self.start.month - 1]} {self.start.year}"

    @property
    def last_day(self) -> date:
        """Return the period's last day."""
        return self.end - timedelta(days=1)

    def complete_by(self, last_day: date) -> bool:
        """Tell whether data held up to ``last_day`` covers the whole period."""
        return self.last_day <= last_day


def periods_between(first: date, last: date, grain: Grain) -> tuple[Period, ...]:
    """Return the periods of ``grain`` covering ``first`` to ``last`` (inclusive), in order."""
    periods = []
    start = period_start(first, grain)
    while start <= last:
        end = next_start(start, grain)
        periods.append(Period(grain, start, end))
        start = end
    return tuple(periods)


def day_index(periods: tuple[Period, ...]) -> dict[date, int]:
    """Return, for every day the periods cover, the index of its period (a fast look-up)."""
    index: dict[date, int] = {}
    for number, period in enumerate(periods):
        day = period.start
        while day < period.end:
            index[day] = number
            day += timedelta(days=1)
    return index
