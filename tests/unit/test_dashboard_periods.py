"""Dashboard periods: the grain follows the range shown, boundaries follow the calendar."""

from datetime import date

import pytest

from bot.domain.dashboard.periods import (
    Grain,
    Period,
    day_index,
    grain_for,
    next_start,
    period_start,
    periods_between,
)


@pytest.mark.parametrize(
    ("last", "grain"),
    [(date(2026, 11, 1), Grain.DAY), (date(2026, 11, 30), Grain.DAY), (date(2026, 12, 1), Grain.WEEK),
     (date(2027, 1, 29), Grain.WEEK), (date(2027, 1, 30), Grain.MONTH), (date(2028, 1, 1), Grain.MONTH)],
)
def test_grain_follows_the_length_of_the_range(last: date, grain: Grain) -> None:
    """From 1 Nov: 30 days (to 30 Nov) are daily, 31 to 90 days (to 29 Jan) weekly, 91 and more monthly."""
    assert grain_for(date(2026, 11, 1), last) is grain


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    """Thursday 5 Nov 2026 is in the week of Monday 2 Nov and in the month from 1 Nov."""
    assert period_start(date(2026, 11, 5), Grain.WEEK) == date(2026, 11, 2)
    assert period_start(date(2026, 11, 5), Grain.MONTH) == date(2026, 11, 1)
    assert period_start(date(2026, 11, 5), Grain.DAY) == date(2026, 11, 5)


def test_next_month_after_december_is_january() -> None:
    """The period after December 2026 starts on 1 January 2027."""
    assert next_start(date(2026, 12, 1), Grain.MONTH) == date(2027, 1, 1)
    assert next_start(date(2026, 11, 2), Grain.WEEK) == date(2026, 11, 9)


def test_periods_are_calendar_aligned_whatever_the_range_starts_on() -> None:
    """Wednesday 4 Nov to Friday 20 Nov in weeks: the weeks of 2, 9 and 16 Nov, the first and last whole."""
    periods = periods_between(date(2026, 11, 4), date(2026, 11, 20), Grain.WEEK)
    assert [(p.start, p.end) for p in periods] == [
        (date(2026, 11, 2), date(2026, 11, 9)), (date(2026, 11, 9), date(2026, 11, 16)),
        (date(2026, 11, 16), date(2026, 11, 23))]


def test_period_labels_and_keys() -> None:
    """A day reads '2 Nov 2026', a week 'week of 2 Nov 2026', a month 'Nov 2026'; keys are ISO first days."""
    assert Period(Grain.DAY, date(2026, 11, 2), date(2026, 11, 3)).label == "2 Nov 2026"
    week = Period(Grain.WEEK, date(2026, 11, 2), date(2026, 11, 9))
    assert (week.label, week.key, week.last_day) == ("week of 2 Nov 2026", "2026-11-02", date(2026, 11, 8))
    assert Period(Grain.MONTH, date(2026, 11, 1), date(2026, 12, 1)).label == "Nov 2026"


def test_a_period_is_complete_once_the_data_holds_its_last_day() -> None:
    """The week of 2 Nov (to Sunday 8 Nov) is complete with data to 8 Nov, not with data to 7 Nov."""
    week = Period(Grain.WEEK, date(2026, 11, 2), date(2026, 11, 9))
    assert week.complete_by(date(2026, 11, 8))
    assert not week.complete_by(date(2026, 11, 7))


def test_day_index_maps_every_day_to_its_period() -> None:
    """Two weeks from 2 Nov: 2-8 Nov are period 0, 9-15 Nov period 1, and nothing else is indexed."""
    index = day_index(periods_between(date(2026, 11, 2), date(2026, 11, 15), Grain.WEEK))
    assert len(index) == 14
    assert index[date(2026, 11, 8)] == 0
    assert index[date(2026, 11, 9)] == 1
