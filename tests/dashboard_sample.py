"""Dashboard reports for the portal's tests: a fake report store and campaigns' sample figures."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from bot.domain.dashboard.facts import Enrolment, History, Purchase
from bot.domain.dashboard.report import Report, build_report
from tests.dashboard_fakes import crowd, day, facts, redeemed

MCD = {"campaign_id": "amex-mcdonalds", "merchant": "McDonald's"}
ZAP = {"campaign_id": "amex-zappos", "merchant": "Zappos.com"}


class FakeDashboardReports:
    """A DashboardReports over reports put in by the test (none until then)."""

    def __init__(self) -> None:
        self.reports: dict[str, Report] = {}

    def latest(self, campaign_id: str) -> Report | None:
        """Return the report put in for the campaign, if any."""
        return self.reports.get(campaign_id)

    def put(self, report: Report) -> Report:
        """Store ``report`` as its campaign's latest."""
        self.reports[report.campaign_id] = report
        return report


def small_report(campaign: dict[str, str], *, spend: int = 2000, few: int = 3) -> Report:
    """Weekly figures to 12 Dec: 20, 12, 15 and ``few`` enrolments in four weeks (``few`` < 10 is
    hidden as "fewer than 10"), 14 redeeming members spending ``spend`` cents each in week one."""
    prefix = campaign["campaign_id"][:4]
    pairs = [redeemed(f"{prefix}a{n}", day(2), spend) for n in range(14)]
    purchases = [p for p, _ in pairs] + [p._replace(qualifying=False, day=day(5)) for p, _ in pairs[:12]]
    enrolments = [*crowd(f"{prefix}a", 20, day(0)), *crowd(f"{prefix}b", 12, day(21)),
                  *crowd(f"{prefix}c", 15, day(28)), *crowd(f"{prefix}d", few, day(35))]
    return build_report(facts(enrolments=enrolments, purchases=purchases, credits=[c for _, c in pairs],
                              last_day=day(40), **campaign))


def rich_report(campaign: dict[str, str]) -> Report:
    """A campaign four months in with a few hundred members: every chart has something to draw
    (enrolments and redemptions by month, spend, coming back, new and returning, before and after)."""
    last = day(118)
    enrolments: list[Enrolment] = []
    purchases: list[Purchase] = []
    credits = []
    histories: list[History] = []
    weekly = (60, 45, 38, 30, 26, 22, 18, 15, 14, 12, 11, 10, 10, 12, 14, 16, 17)  # to the last day
    member = 0
    for week, count in enumerate(weekly):
        for n in range(count):
            name = f"m{member}"
            member += 1
            joined = day(week * 7 + n % 7)
            enrolments.append(Enrolment(name, joined))
            if member % 3 == 0:  # a returning member: bought in the 90 days before enrolling
                purchases.append(Purchase(name, date.fromordinal(joined.toordinal() - 20 - n % 60),
                                          1500 + 37 * (n % 9)))
            for offset in (-15 - 30 * (n % 3), 35 + 30 * (n % 2)):  # spend before and after enrolling
                when = joined.toordinal() + offset
                if when <= last.toordinal() and (offset > 0 or n % 2 == 0):
                    purchases.append(Purchase(name, date.fromordinal(when), 1200 + 55 * (n % 8)))
            if member % 5 < 3 and joined.toordinal() + n % 12 <= last.toordinal():  # redeemed
                first = date.fromordinal(joined.toordinal() + n % 12)
                cents = 2500 + 150 * (n % 13)
                refunded = n % 4 == 0
                pair = redeemed(name, first, cents, refunded=cents if refunded else 0)
                purchases.append(pair[0])
                credits.append(pair[1])
                if refunded:
                    credits.append(pair[1]._replace(cents=-500))
                back = first.toordinal() + (3, 11, 20, 45, 75, 120)[n % 6]
                if back <= last.toordinal():
                    purchases.append(Purchase(name, date.fromordinal(back), 1800 + 90 * (n % 7)))
    for n in range(300):  # linked members who never enrolled: the comparison group
        name = f"c{n}"
        histories.append(History(name, date(2026, 6, 1)))
        if n % 3:
            purchases.append(Purchase(name, date(2026, 9, 1 + n % 28), 1500 + 40 * (n % 11)))
        if n % 4 == 0:
            purchases.append(Purchase(name, date(2026, 12, 1 + n % 28), 1600 + 40 * (n % 11)))
    held = facts(enrolments=enrolments, purchases=purchases, credits=credits, histories=histories,
                 last_day=last, max_enrolments=None, budget_cents=None, enrol_until=last,
                 redeem_by=day(150), **campaign)  # no quantity or budget, like the sample McDonald's offer
    return build_report(dataclasses.replace(held, as_of=datetime(2027, 3, 1, 6, 5, tzinfo=UTC)))
