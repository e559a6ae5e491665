"""Enrolments: who is enrolled in what, by which post."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.enrolment import Enrolment
from tests.fakes import campaign

LATE = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # already Nov 21 in Tokyo


@pytest.fixture
def enrolled(uow, clock):
    """Two campaigns; Alice (1001) in both, Bob (1002) in McDonald's."""
    with uow() as tx:
        tx.campaigns.sync([campaign(), campaign(id="amex-zappos", hashtag="#AmexZappos")], clock())
        tx.enrolments.add_many([Enrolment("1001", "amex-mcdonalds", "5001", LATE),
                                Enrolment("1001", "amex-zappos", "5002", LATE),
                                Enrolment("1002", "amex-mcdonalds", "5003", clock())])
        tx.commit()
    return uow


def test_enrolments_are_found_by_member_and_by_key(enrolled, clock):
    """campaigns_of, get and posts_of answer for the members and keys asked, ignoring the unknown."""
    with enrolled(readonly=True) as tx:
        assert tx.enrolments.campaigns_of(["1001", "1002", "4242"]) == {
            "1001": {"amex-mcdonalds", "amex-zappos"}, "1002": {"amex-mcdonalds"}}
        assert tx.enrolments.campaigns_of(["4242"])["4242"] == set()  # looked up by the caller as a default
        assert tx.enrolments.get("1001", "amex-zappos") == Enrolment("1001", "amex-zappos", "5002", LATE)
        assert tx.enrolments.get("1002", "amex-zappos") is None
        assert tx.enrolments.posts_of([("1001", "amex-mcdonalds"), ("1002", "amex-mcdonalds"),
                                       ("1002", "amex-zappos")]) == {
            ("1001", "amex-mcdonalds"): "5001", ("1002", "amex-mcdonalds"): "5003"}


def test_enrolment_days_are_read_in_the_zone_asked(enrolled, clock):
    """days_by_key gives each enrolment's calendar day in ``tz``, keyed member<TAB>campaign."""
    with enrolled(readonly=True) as tx:
        assert tx.enrolments.days_by_key(UTC) == {"1001\tamex-mcdonalds": date(2026, 11, 20),
                                                  "1001\tamex-zappos": date(2026, 11, 20),
                                                  "1002\tamex-mcdonalds": clock().date()}
        assert tx.enrolments.days_by_key(ZoneInfo("Asia/Tokyo"))["1001\tamex-zappos"] == date(2026, 11, 21)


def test_a_member_is_enrolled_in_a_campaign_once(enrolled, clock):
    """A second enrolment of the same member in the same campaign is refused."""
    with enrolled() as tx, pytest.raises(Exception):  # noqa: B017, PT011 - the fake's and the driver's own errors
        tx.enrolments.add_many([Enrolment("1001", "amex-zappos", "5009", clock())])


def test_an_enrolment_needs_its_campaign(uow, clock):
    """An enrolment in a campaign the database does not know is refused, as its foreign key is."""
    with uow() as tx, pytest.raises(Exception):  # noqa: B017, PT011 - the fake's and the driver's own errors
        tx.enrolments.add_many([Enrolment("1001", "amex-nowhere", "5001", clock())])
