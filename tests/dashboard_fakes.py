"""Builders of dashboard facts for the tests: a campaign opening on Monday 2 Nov 2026."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from bot.domain.dashboard.facts import (
    CampaignFacts,
    Credit,
    DataSpan,
    Enrolment,
    History,
    Purchase,
    Terms,
)

OPEN = date(2026, 11, 2)  # a Monday
AS_OF = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def day(offset: int) -> date:
    """Return the day ``offset`` days after the campaign opens."""
    return OPEN + timedelta(days=offset)


def terms(**changes: object) -> Terms:
    """Return the terms of a $5-back campaign open for three months, quantity 100, budget $100."""
    values: dict[str, object] = {
        "campaign_id": "amex-test", "merchant": "Test Burgers", "currency": "USD",
        "enrol_from": OPEN, "enrol_until": day(89), "redeem_by": day(119),
        "max_enrolments": 100, "budget_cents": 10_000,
    }
    values.update(changes)
    return Terms(**values)  # type: ignore[arg-type]


def facts(*, enrolments: Sequence[Enrolment] = (), purchases: Sequence[Purchase] = (),
          credits: Sequence[Credit] = (), histories: Sequence[History] = (),
          first_day: date = date(2026, 6, 1), last_day: date | None = None,
          **term_changes: object) -> CampaignFacts:
    """Return campaign facts (data held from 1 Jun 2026 to ``last_day``, default 27 days after opening)."""
    return CampaignFacts(terms(**term_changes), DataSpan(first_day, last_day or day(27)), AS_OF,
                         tuple(enrolments), tuple(purchases), tuple(credits), tuple(histories))


def redeemed(member: str, on: date, cents: int, credit: int = 500,
             refunded: int = 0) -> tuple[Purchase, Credit]:
    """Return a qualifying purchase and the credit it earned."""
    return Purchase(member, on, cents, True, refunded), Credit(member, on, credit)


def crowd(prefix: str, count: int, enrolled: date) -> list[Enrolment]:
    """Return ``count`` enrolments of members ``prefix0``... on one day."""
    return [Enrolment(f"{prefix}{n}", enrolled) for n in range(count)]
