"""Dashboard facts: k is validated, and facts the numbers cannot rely on are refused with the reason."""

from datetime import date

import pytest

from bot.domain.dashboard.facts import (
    CampaignFacts,
    Credit,
    DataSpan,
    Enrolment,
    FactsInvalid,
    Purchase,
    SettingInvalid,
    check_min_members,
)
from bot.domain.dashboard.metrics import compute
from tests.dashboard_fakes import day, facts, redeemed


@pytest.mark.parametrize("value", [5, 10, 50])
def test_min_members_of_five_or_more_is_k(value: int) -> None:
    """5, 10 and 50 are allowed values of [dashboard] min_members."""
    assert check_min_members(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [(4, "min_members must be at least 5 (it is 4)"), (0, "min_members must be at least 5 (it is 0)"),
     ("10", "min_members must be a whole number of members (it is '10')"),
     (True, "min_members must be a whole number of members (it is True)"),
     (10.0, "min_members must be a whole number of members (it is 10.0)")],
)
def test_min_members_below_five_or_not_whole_is_refused(value: object, message: str) -> None:
    """Fewer than 5, or anything but a whole number, is refused with the allowed values and the default."""
    with pytest.raises(SettingInvalid, match=r"the default is 10") as error:
        check_min_members(value)
    assert str(error.value).startswith(message)


def test_a_span_that_ends_before_it_starts_is_refused() -> None:
    """A data span from 2 Nov to 1 Nov is a reading bug."""
    with pytest.raises(FactsInvalid, match="ends"):
        DataSpan(date(2026, 11, 2), date(2026, 11, 1))


def _bad(case: str) -> CampaignFacts:
    purchase, credit = redeemed("m1", day(1), 2000)
    cases = {
        "enrolled twice": facts(enrolments=[Enrolment("m1", day(0)), Enrolment("m1", day(2))]),
        "enrolled before opening": facts(enrolments=[Enrolment("m1", day(-1))]),
        "credit without enrolment": facts(purchases=[purchase], credits=[credit]),
        "refund beyond purchase": facts(enrolments=[Enrolment("m1", day(0))],
                                        purchases=[Purchase("m1", day(1), 100, False, 101)]),
        "purchase outside span": facts(enrolments=[Enrolment("m1", day(0))],
                                       purchases=[Purchase("m1", day(40), 100)]),
        "credit without purchase": facts(enrolments=[Enrolment("m1", day(0))], credits=[credit]),
        "zero credit": facts(enrolments=[Enrolment("m1", day(0))], purchases=[purchase],
                             credits=[credit, Credit("m1", day(2), 0)]),
    }
    return cases[case]


@pytest.mark.parametrize("case", ["enrolled twice", "enrolled before opening", "credit without enrolment",
                                  "refund beyond purchase", "purchase outside span",
                                  "credit without purchase", "zero credit"])
def test_facts_the_numbers_cannot_rely_on_are_refused(case: str) -> None:
    """Facts that break the ledger's own rules raise FactsInvalid instead of wrong numbers."""
    with pytest.raises(FactsInvalid):
        compute(_bad(case), k=10)
