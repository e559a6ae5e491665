"""Every number of the dashboard as tables of cells, computed from one campaign's facts.

One pass over the facts gathers per-period sets and sums and each enrolled member's story (first
qualifying purchase, next purchase, new or returning, spend around enrolling); the tables are
built from those. Definitions: ``definitions.LABELS_AND_DEFINITIONS``; the precise rules are in
the docstrings here. "Bought" always means a purchase not refunded in full.
Over 300 lines on purpose: every table comes from the one pass above, and each table's rules
read next to the others that share its definitions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

from bot.domain.dashboard.comparison import SPAN, Comparison, PanelMember, Pooled, compare, window_of
from bot.domain.dashboard.definitions import ESTIMATED, NOT_CAUSAL, label
from bot.domain.dashboard.facts import (
    LOOK_BACK_DAYS,
    CampaignFacts,
    DataSpan,
    FactsInvalid,
    History,
    Purchase,
    Terms,
)
from bot.domain.dashboard.periods import Grain, Period, day_index, grain_for, periods_between, short_date
from bot.domain.dashboard.tables import (
    Cell,
    Column,
    Table,
    TableBuilder,
    Unit,
    derived,
    median,
    members_cell,
    per,
    ratio,
    share,
)

TOTAL = "total"
# (row key, label, first day, last day) of the day histograms; the last bucket is everything later.
BUCKETS = (("d0_7", "0-7 days", 0, 7), ("d8_14", "8-14 days", 8, 14), ("d15_30", "15-30 days", 15, 30),
           ("d31_60", "31-60 days", 31, 60), ("d61_90", "61-90 days", 61, 90))
OVER_90 = "over_90"
CLASSES = ("new", "returning", "no_history")
WINDOW_ROWS = (("before_61_90", "61-90 days before"), ("before_31_60", "31-60 days before"),
               ("before_1_30", "1-30 days before"), ("after_0_29", "0-29 days after"),
               ("after_30_59", "30-59 days after"), ("after_60_89", "60-89 days after"))


def bucket_of(days: int | None) -> int:
    """Return the histogram bucket of a number of days: 0-7, 8-14, 15-30, 31-60, 61-90, else 5."""
    if days is not None:
        for index, (_key, _label, _first, last) in enumerate(BUCKETS):
            if days <= last:
                return index
    return len(BUCKETS)


class Story(NamedTuple):
    """What one enrolled member did, as the numbers need it (never leaves the domain)."""

    member: str
    enrolled: date
    first_qualifying: date | None  # the earliest purchase that earned a credit
    next_purchase: date | None  # the earliest other purchase bought on or after that day
    kind: str  # new | returning | no_history
    windows: tuple[int, ...] | None  # net cents per 30-day window around enrolling; None: not all held


@dataclass
class _Period:
    """Sets and sums of one period."""

    enrolled: set[str] = field(default_factory=set)
    first_redeemers: set[str] = field(default_factory=set)
    credits: int = 0
    credit_cents: int = 0
    creditors: set[str] = field(default_factory=set)
    clawbacks: int = 0
    clawback_cents: int = 0
    clawed: set[str] = field(default_factory=set)
    spend: int = 0
    spenders: set[str] = field(default_factory=set)
    refunds: int = 0
    refunded: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Computed:
    """One campaign's numbers before suppression: never shown as they are."""

    terms: Terms
    span: DataSpan
    as_of: datetime
    grain: Grain
    periods: tuple[Period, ...]
    tables: tuple[Table, ...]
    stories: tuple[Story, ...]

    def table(self, name: str) -> Table:
        """Return the table called ``name``."""
        return next(t for t in self.tables if t.name == name)


def report_range(terms: Terms, span: DataSpan) -> tuple[date, date]:
    """Return the days the time series cover: from enrolment opening to the data's last day."""
    return terms.enrol_from, max(terms.enrol_from, span.last_day)


def compute(facts: CampaignFacts, *, k: int) -> Computed:
    """Return every table of one campaign's dashboard, unsuppressed (k decides comparison cells)."""
    terms, span = facts.terms, facts.span
    first, last = report_range(terms, span)
    grain = grain_for(first, last)
    periods = periods_between(first, last, grain)
    at = day_index(periods)
    enrolled = _enrolments(facts, at)
    slots = [_Period() for _ in periods]
    for member, day in enrolled.items():
        slots[at[day]].enrolled.add(member)
    _credits(facts, enrolled, at, slots)
    by_member = _purchases(facts, enrolled, at, slots)
    histories = {h.member: h for h in facts.histories}
    stories = tuple(_story(m, d, by_member.get(m, []), histories.get(m), span)
                    for m, d in enrolled.items())
    for story in stories:
        if story.first_qualifying is not None:
            slots[at[story.first_qualifying]].first_redeemers.add(story.member)
    pool = [Pooled(h.member, h.held_from, min(span.last_day, h.held_until or span.last_day),
                   tuple(by_member.get(h.member, ()))) for h in facts.histories if h.member not in enrolled]
    panel = [PanelMember(s.member, s.enrolled, sum(s.windows[:3]), sum(s.windows[3:]))
             for s in stories if s.windows is not None]
    comparison = compare(panel, pool, k=k)
    tables = (
        _summary(terms, slots, stories),
        _use_over_time(periods, slots),
        _spend_over_time(periods, slots),
        _days_to_first(stories),
        _coming_back(stories),
        _new_returning_over_time(periods, stories, at, terms, span),
        _new_returning(stories, by_member),
        _before_after_members(stories, comparison),
        _before_after(stories),
        _lift(comparison),
    )
    return Computed(terms, span, facts.as_of, grain, periods, tables, stories)


def _enrolments(facts: CampaignFacts, at: dict[date, int]) -> dict[str, date]:
    enrolled: dict[str, date] = {}
    for enrolment in facts.enrolments:
        if enrolment.member in enrolled:
            raise FactsInvalid(f"member {enrolment.member!r} is enrolled twice")
        if enrolment.day not in at:
            raise FactsInvalid(f"an enrolment on {enrolment.day} is outside the campaign's days so far")
        enrolled[enrolment.member] = enrolment.day
    return enrolled


def _credits(facts: CampaignFacts, enrolled: dict[str, date], at: dict[date, int],
             slots: list[_Period]) -> None:
    for credit in facts.credits:
        if credit.member not in enrolled or credit.day not in at or not credit.cents:
            raise FactsInvalid(f"a credit of {credit.cents} cents on {credit.day} is for a member not "
                               "enrolled, outside the campaign's days, or zero")
        slot = slots[at[credit.day]]
        if credit.cents > 0:
            slot.credits += 1
            slot.credit_cents += credit.cents
            slot.creditors.add(credit.member)
        else:
            slot.clawbacks += 1
            slot.clawback_cents += credit.cents
            slot.clawed.add(credit.member)


def _purchases(facts: CampaignFacts, enrolled: dict[str, date], at: dict[date, int],
               slots: list[_Period]) -> dict[str, list[Purchase]]:
    span = facts.span
    by_member: dict[str, list[Purchase]] = defaultdict(list)
    for purchase in facts.purchases:
        if purchase.cents <= 0 or not 0 <= purchase.refunded_cents <= purchase.cents \
                or not span.first_day <= purchase.day <= span.last_day:
            raise FactsInvalid(f"a purchase of {purchase.cents} cents on {purchase.day} is not positive, "
                               "has refunds beyond it, or is outside the data span")
        by_member[purchase.member].append(purchase)
        if purchase.qualifying:
            if purchase.member not in enrolled or purchase.day not in at:
                raise FactsInvalid(f"a qualifying purchase on {purchase.day} is by a member not enrolled "
                                   "or outside the campaign's days")
            slot = slots[at[purchase.day]]
            slot.spend += purchase.cents
            slot.spenders.add(purchase.member)
            if purchase.refunded_cents:
                slot.refunds += purchase.refunded_cents
                slot.refunded.add(purchase.member)
    spenders = frozenset().union(*(s.spenders for s in slots))
    creditors = frozenset().union(*(s.creditors for s in slots))
    if spenders != creditors:
        raise FactsInvalid(f"{len(spenders ^ creditors)} member(s) have a credit without a qualifying "
                           "purchase or the other way round")
    return by_member


def _story(member: str, enrolled: date, purchases: list[Purchase], history: History | None,
           span: DataSpan) -> Story:
    """Return what one enrolled member did.

    First qualifying purchase: the earliest purchase that earned a credit. Next purchase: the
    earliest other purchase bought (not refunded in full) on that day or later. Returning: bought
    in the 90 days before the enrolment day; new: did not, the member's history holding all those
    days; otherwise not enough history. Windows: net cents in the six 30-day windows from 90 days
    before to 89 days after the enrolment day, when the history holds all of them.
    """
    held_from = history.held_from if history else span.first_day
    held_until = min(span.last_day, (history.held_until if history else None) or span.last_day)
    qualifying = [i for i, p in enumerate(purchases) if p.qualifying]
    # Earliest day first; on one day, by value, so that the facts' order never matters.
    first_index = min(qualifying, key=lambda i: (purchases[i].day, purchases[i])) if qualifying else None
    first = purchases[first_index].day if first_index is not None else None
    following = [p.day for i, p in enumerate(purchases)
                 if first is not None and i != first_index and p.day >= first and p.net_cents > 0]
    look_back = enrolled - timedelta(days=LOOK_BACK_DAYS)
    if any(look_back <= p.day < enrolled and p.net_cents > 0 for p in purchases):
        kind = "returning"
    elif held_from <= look_back:
        kind = "new"
    else:
        kind = "no_history"
    windows: tuple[int, ...] | None = None
    if held_from <= enrolled - SPAN and enrolled + SPAN - timedelta(days=1) <= held_until:
        sums = [0] * 6
        for purchase in purchases:
            window = window_of(purchase.day, enrolled)
            if window is not None:
                sums[window] += purchase.net_cents
        windows = tuple(sums)
    return Story(member, enrolled, first, min(following, default=None), kind, windows)


def _union(groups: Sequence[set[str]]) -> frozenset[str]:
    return frozenset().union(*groups)


def _columns(*spec: tuple[str, Unit]) -> list[Column]:
    return [Column(key, label(key), unit) for key, unit in spec]


def _summary(terms: Terms, slots: list[_Period], stories: tuple[Story, ...]) -> Table:
    """The offer so far: one row of every headline figure."""
    b = TableBuilder("summary", label("summary"), _columns(
        ("enrolments", Unit.MEMBERS), ("redeemers", Unit.MEMBERS), ("redemption_rate", Unit.SHARE),
        ("redemptions", Unit.COUNT), ("clawbacks", Unit.COUNT), ("remaining", Unit.MEMBERS),
        ("median_days_to_first", Unit.DAYS), ("spend", Unit.CENTS), ("refunds", Unit.CENTS),
        ("net_spend", Unit.CENTS), ("average_ticket", Unit.CENTS), ("spend_per_redeemer", Unit.CENTS),
        ("credits_paid", Unit.CENTS), ("clawed_back", Unit.CENTS), ("net_credits", Unit.CENTS),
        ("spend_per_credit", Unit.RATIO), ("budget", Unit.CENTS), ("budget_used", Unit.CENTS),
        ("budget_left", Unit.CENTS), ("median_days_to_next", Unit.DAYS)))
    row = "to_date"
    enrolled = _union([s.enrolled for s in slots])
    redeemers = _union([s.first_redeemers for s in slots])
    credits, spend = sum(s.credits for s in slots), sum(s.spend for s in slots)
    refunds = sum(s.refunds for s in slots)
    paid, clawed = sum(s.credit_cents for s in slots), sum(s.clawback_cents for s in slots)
    net_credits = paid + clawed
    firsts = [(s.first_qualifying - s.enrolled).days for s in stories if s.first_qualifying]
    came_back = [s for s in stories if s.first_qualifying and s.next_purchase]
    nexts = [(s.next_purchase - s.first_qualifying).days for s in came_back
             if s.next_purchase and s.first_qualifying]
    r = b.ref
    maximum, budget = terms.max_enrolments, terms.budget_cents
    b.row(row, "So far", {
        "enrolments": members_cell(enrolled, "enrolments"),
        "redeemers": members_cell(redeemers, "redeemers"),
        "redemption_rate": derived(share(len(redeemers), len(enrolled)), r(row, "redeemers"),
                                   r(row, "enrolments")),
        "redemptions": Cell(credits, _union([s.creditors for s in slots]), "redemptions"),
        "clawbacks": Cell(sum(s.clawbacks for s in slots), _union([s.clawed for s in slots]), "clawbacks"),
        "remaining": derived(None if maximum is None else max(0, maximum - len(enrolled)),
                             r(row, "enrolments")),
        "median_days_to_first": Cell(median(firsts), redeemers),
        "spend": Cell(spend, _union([s.spenders for s in slots]), "spend"),
        "refunds": Cell(refunds, _union([s.refunded for s in slots]), "refunds"),
        "net_spend": derived(spend - refunds, r(row, "spend"), r(row, "refunds")),
        "average_ticket": derived(per(spend, credits), r(row, "spend"), r(row, "redemptions")),
        "spend_per_redeemer": derived(per(spend, len(redeemers)), r(row, "spend"), r(row, "redeemers")),
        "credits_paid": Cell(paid, _union([s.creditors for s in slots]), "credits_paid"),
        "clawed_back": Cell(clawed, _union([s.clawed for s in slots]), "clawed_back"),
        "net_credits": derived(net_credits, r(row, "credits_paid"), r(row, "clawed_back")),
        "spend_per_credit": derived(ratio(spend, net_credits), r(row, "spend"), r(row, "credits_paid"),
                                    r(row, "clawed_back")),
        "budget": Cell(budget),
        "budget_used": derived(None if budget is None else net_credits, r(row, "credits_paid"),
                               r(row, "clawed_back")),
        "budget_left": derived(None if budget is None else budget - net_credits, r(row, "credits_paid"),
                               r(row, "clawed_back")),
        "median_days_to_next": Cell(median(nexts), frozenset(s.member for s in came_back)),
    })
    return b.build()


def _use_over_time(periods: tuple[Period, ...], slots: list[_Period]) -> Table:
    """Per period: enrolments, first-time redeemers, credits and clawbacks (by transaction day)."""
    b = TableBuilder("use_over_time", label("use_over_time"), _columns(
        ("enrolments", Unit.MEMBERS), ("first_redeemers", Unit.MEMBERS), ("redemptions", Unit.COUNT),
        ("clawbacks", Unit.COUNT)))
    for period, slot in zip(periods, slots, strict=True):
        b.row(period.key, period.label, {
            "enrolments": members_cell(slot.enrolled, f"enrolments@{period.key}"),
            "first_redeemers": members_cell(slot.first_redeemers),
            "redemptions": Cell(slot.credits, frozenset(slot.creditors)),
            "clawbacks": Cell(slot.clawbacks, frozenset(slot.clawed)),
        })
    b.row(TOTAL, "Total", {
        "enrolments": members_cell(_union([s.enrolled for s in slots]), "enrolments"),
        "first_redeemers": members_cell(_union([s.first_redeemers for s in slots]), "redeemers"),
        "redemptions": Cell(sum(s.credits for s in slots), _union([s.creditors for s in slots]),
                            "redemptions"),
        "clawbacks": Cell(sum(s.clawbacks for s in slots), _union([s.clawed for s in slots]), "clawbacks"),
    })
    keys = [p.key for p in periods]
    for column in ("enrolments", "first_redeemers", "redemptions", "clawbacks"):
        b.sum_column(column, TOTAL, keys)
    return b.build()


def _spend_over_time(periods: tuple[Period, ...], slots: list[_Period]) -> Table:
    """Per period (by purchase day): qualifying spend and its refunds, credits and clawbacks in money."""
    b = TableBuilder("spend_over_time", label("spend_over_time"), _columns(
        ("spend", Unit.CENTS), ("refunds", Unit.CENTS), ("net_spend", Unit.CENTS),
        ("average_ticket", Unit.CENTS), ("credits_paid", Unit.CENTS), ("clawed_back", Unit.CENTS),
        ("net_credits", Unit.CENTS)))
    rows = [(p.key, p.label, s) for p, s in zip(periods, slots, strict=True)]
    total = _Period(
        spend=sum(s.spend for s in slots), spenders=set(_union([s.spenders for s in slots])),
        refunds=sum(s.refunds for s in slots), refunded=set(_union([s.refunded for s in slots])),
        credits=sum(s.credits for s in slots),
        credit_cents=sum(s.credit_cents for s in slots), creditors=set(_union([s.creditors for s in slots])),
        clawback_cents=sum(s.clawback_cents for s in slots), clawed=set(_union([s.clawed for s in slots])))
    for key, text, slot in [*rows, (TOTAL, "Total", total)]:
        keyed = key == TOTAL
        r = b.ref
        b.row(key, text, {
            "spend": Cell(slot.spend, frozenset(slot.spenders), "spend" if keyed else None),
            "refunds": Cell(slot.refunds, frozenset(slot.refunded), "refunds" if keyed else None),
            "net_spend": derived(slot.spend - slot.refunds, r(key, "spend"), r(key, "refunds")),
            "average_ticket": derived(per(slot.spend, slot.credits), r(key, "spend"),
                                      r(key, "redemptions")._replace(table="use_over_time")),
            "credits_paid": Cell(slot.credit_cents, frozenset(slot.creditors),
                                 "credits_paid" if keyed else None),
            "clawed_back": Cell(slot.clawback_cents, frozenset(slot.clawed),
                                "clawed_back" if keyed else None),
            "net_credits": derived(slot.credit_cents + slot.clawback_cents, r(key, "credits_paid"),
                                   r(key, "clawed_back")),
        })
    keys = [p.key for p in periods]
    for column in ("spend", "refunds", "credits_paid", "clawed_back"):
        b.sum_column(column, TOTAL, keys)
    return b.build()


def _histogram(name: str, over_label: str, days: Sequence[tuple[str, int | None]],
               redeemers: frozenset[str]) -> TableBuilder:
    """A histogram of redeeming members over BUCKETS and the last bucket, with shares and total."""
    b = TableBuilder(name, label(name), _columns(("redeemers", Unit.MEMBERS),
                                                 ("share_of_redeemers", Unit.SHARE)))
    groups: list[set[str]] = [set() for _ in range(len(BUCKETS) + 1)]
    for member, count in days:
        groups[bucket_of(count)].add(member)
    keys = [key for key, *_ in BUCKETS] + [OVER_90]
    labels = [text for _, text, *_ in BUCKETS] + [over_label]
    for key, text, group in zip(keys, labels, groups, strict=True):
        b.row(key, text, {
            "redeemers": members_cell(group),
            "share_of_redeemers": derived(share(len(group), len(redeemers)), b.ref(key, "redeemers"),
                                          b.ref(TOTAL, "redeemers")),
        })
    b.row(TOTAL, "All redeeming members", {
        "redeemers": members_cell(redeemers, "redeemers"),
        "share_of_redeemers": derived(1.0 if redeemers else None, b.ref(TOTAL, "redeemers")),
    })
    b.sum_column("redeemers", TOTAL, keys)
    return b


def _days_to_first(stories: tuple[Story, ...]) -> Table:
    """Redeeming members by days from enrolling to their first qualifying purchase."""
    days = [(s.member, (s.first_qualifying - s.enrolled).days) for s in stories if s.first_qualifying]
    redeemers = frozenset(m for m, _ in days)
    return _histogram("days_to_first", "Over 90 days", days, redeemers).build()


def _coming_back(stories: tuple[Story, ...]) -> Table:
    """Redeeming members by days to their next purchase; within 30, 60 and 90 days as sums of rows."""
    days = [(s.member, (s.next_purchase - s.first_qualifying).days if s.next_purchase else None)
            for s in stories if s.first_qualifying]
    redeemers = frozenset(m for m, _ in days)
    b = _histogram("coming_back", label("coming_back.over_90"), days, redeemers)
    counts = [0] * (len(BUCKETS) + 1)
    for _member, count in days:
        counts[bucket_of(count)] += 1
    for key, upto in (("within_30", 3), ("within_60", 4), ("within_90", 5)):
        parts = [b.ref(bucket, "redeemers") for bucket, *_ in BUCKETS[:upto]]
        came = sum(counts[:upto])
        b.row(key, label(f"coming_back.{key}"), {
            "redeemers": derived(came, *parts),
            "share_of_redeemers": derived(share(came, len(redeemers)), *parts, b.ref(TOTAL, "redeemers")),
        })
    return b.build()


def _new_returning_over_time(periods: tuple[Period, ...], stories: tuple[Story, ...],
                             at: dict[date, int], terms: Terms, span: DataSpan) -> Table:
    """Enrolled members by enrolment period and by new, returning or not enough history."""
    b = TableBuilder("new_returning_over_time", label("new_returning_over_time"), _columns(
        ("new", Unit.MEMBERS), ("returning", Unit.MEMBERS), ("no_history", Unit.MEMBERS),
        ("enrolments", Unit.MEMBERS)))
    grid: list[dict[str, set[str]]] = [{kind: set() for kind in CLASSES} for _ in periods]
    for story in stories:
        grid[at[story.enrolled]][story.kind].add(story.member)
    for period, groups in zip(periods, grid, strict=True):
        b.row(period.key, period.label, {
            **{kind: members_cell(groups[kind]) for kind in CLASSES},
            "enrolments": members_cell(_union(list(groups.values())), f"enrolments@{period.key}"),
        })
    b.row(TOTAL, "Total", {
        **{kind: members_cell(_union([g[kind] for g in grid]), f"enrolled:{kind}") for kind in CLASSES},
        "enrolments": members_cell(frozenset(s.member for s in stories), "enrolments"),
    })
    keys = [p.key for p in periods]
    for key in [*keys, TOTAL]:
        b.sum_row(key, "enrolments", CLASSES)
    for column in (*CLASSES, "enrolments"):
        b.sum_column(column, TOTAL, keys)
    held = span.first_day + timedelta(days=LOOK_BACK_DAYS)
    if held > terms.enrol_from:
        b.notes.append(f"The data holds purchases from {short_date(span.first_day)}: members who "
                       f"enrolled before {short_date(held)}, or whose card was linked less than "
                       f"{LOOK_BACK_DAYS} days before they enrolled, have no full look-back and count "
                       "as 'not enough history'.")
    return b.build()


def _new_returning(stories: tuple[Story, ...], by_member: dict[str, list[Purchase]]) -> Table:
    """New, returning and not-enough-history members: enrolled, redeemed, and their qualifying spend."""
    b = TableBuilder("new_returning", label("new_returning"), _columns(
        ("enrolments", Unit.MEMBERS), ("share_of_enrolments", Unit.SHARE), ("redeemers", Unit.MEMBERS),
        ("redemption_rate", Unit.SHARE), ("spend", Unit.CENTS), ("spend_per_redeemer", Unit.CENTS)))
    everyone = frozenset(s.member for s in stories)
    spent = {s.member: sum(p.cents for p in by_member.get(s.member, ()) if p.qualifying)
             for s in stories if s.first_qualifying}
    rows = [(kind, label(kind), [s for s in stories if s.kind == kind]) for kind in CLASSES]
    for key, text, group in [*rows, (TOTAL, "All enrolled members", list(stories))]:
        keyed = key == TOTAL
        redeemers = frozenset(s.member for s in group if s.first_qualifying)
        spend = sum(spent.get(s.member, 0) for s in group)
        r = b.ref
        b.row(key, text, {
            "enrolments": members_cell({s.member for s in group},
                                       "enrolments" if keyed else f"enrolled:{key}"),
            "share_of_enrolments": derived(share(len(group), len(everyone)), r(key, "enrolments"),
                                           r(TOTAL, "enrolments")),
            "redeemers": members_cell(redeemers, "redeemers" if keyed else None),
            "redemption_rate": derived(share(len(redeemers), len(group)), r(key, "redeemers"),
                                       r(key, "enrolments")),
            "spend": Cell(spend, redeemers, "spend" if keyed else None),
            "spend_per_redeemer": derived(per(spend, len(redeemers)), r(key, "spend"), r(key, "redeemers")),
        })
    for column in ("enrolments", "redeemers", "spend"):
        b.sum_column(column, TOTAL, CLASSES)
    return b.build()


def _before_after_members(stories: tuple[Story, ...], comparison: Comparison) -> Table:
    """Who the before/after and lift views cover: all six windows or not, matched or not."""
    b = TableBuilder("before_after_members", label("before_after_members"),
                     _columns(("members", Unit.MEMBERS)))
    full = frozenset(s.member for s in stories if s.windows is not None)
    b.row("full_windows", label("before_after_members.full_windows"), {"members": members_cell(full)})
    b.row("matched", label("before_after_members.matched"),
          {"members": members_cell(comparison.matched, "before_after:matched")})
    b.row("unmatched", label("before_after_members.unmatched"),
          {"members": members_cell(full - comparison.matched)})
    b.row("short_history", label("before_after_members.short_history"),
          {"members": members_cell(frozenset(s.member for s in stories) - full)})
    b.row(TOTAL, "All enrolled members", {"members": members_cell(frozenset(s.member for s in stories),
                                                                  "enrolments")})
    b.sum_column("members", TOTAL, ("full_windows", "short_history"))
    b.sum_column("members", "full_windows", ("matched", "unmatched"))
    return b.build()


def _before_after(stories: tuple[Story, ...]) -> Table:
    """The same members' net spend in six 30-day windows around their own enrolment day."""
    b = TableBuilder("before_after", label("before_after"), _columns(
        ("spend_in_window", Unit.CENTS), ("spend_per_member", Unit.CENTS)))
    b.notes.append(NOT_CAUSAL)
    panel = [s for s in stories if s.windows is not None]
    full = b.ref("full_windows", "members")._replace(table="before_after_members")
    for index, (key, text) in enumerate(WINDOW_ROWS):
        spend = sum(s.windows[index] for s in panel if s.windows)
        spenders = frozenset(s.member for s in panel if s.windows and s.windows[index])
        b.row(key, text, {
            "spend_in_window": Cell(spend, spenders),
            "spend_per_member": derived(per(spend, len(panel)), b.ref(key, "spend_in_window"), full),
        })
    return b.build()


def _lift(c: Comparison) -> Table:
    """Matched enrolled members against the comparison group: spend before, after, and the lift."""
    b = TableBuilder("lift", label("lift"), _columns(
        ("members", Unit.MEMBERS), ("before_per_member", Unit.CENTS), ("after_per_member", Unit.CENTS),
        ("change_per_member", Unit.CENTS)))
    r = b.ref

    def change(before: int | None, after: int | None) -> int | None:
        return None if before is None or after is None else after - before

    b.row("enrolled", label("lift.enrolled"), {
        "members": members_cell(c.matched, "before_after:matched"),
        "before_per_member": Cell(c.enrolled_before, c.enrolled_before_spenders, None,
                                  (r("enrolled", "members"),)),
        "after_per_member": Cell(c.enrolled_after, c.enrolled_after_spenders, None,
                                 (r("enrolled", "members"),)),
        "change_per_member": derived(change(c.enrolled_before, c.enrolled_after),
                                     r("enrolled", "before_per_member"), r("enrolled", "after_per_member")),
    })
    b.row("comparison", label("lift.comparison"), {
        "members": members_cell(c.comparison),
        "before_per_member": Cell(c.comparison_before, c.comparison_before_spenders, None,
                                  (r("comparison", "members"),)),
        "after_per_member": Cell(c.comparison_after, c.comparison_after_spenders, None,
                                 (r("comparison", "members"),)),
        "change_per_member": derived(change(c.comparison_before, c.comparison_after),
                                     r("comparison", "before_per_member"),
                                     r("comparison", "after_per_member")),
    })

    def minus(a: int | None, z: int | None) -> int | None:
        return None if a is None or z is None else a - z

    lift = None if c.enrolled_before is None else minus(change(c.enrolled_before, c.enrolled_after),
                                                         change(c.comparison_before, c.comparison_after))
    b.row("difference", label("lift.difference"), {
        "before_per_member": derived(minus(c.enrolled_before, c.comparison_before),
                                     r("enrolled", "before_per_member"),
                                     r("comparison", "before_per_member")),
        "after_per_member": derived(minus(c.enrolled_after, c.comparison_after),
                                    r("enrolled", "after_per_member"), r("comparison", "after_per_member")),
        "change_per_member": derived(lift, r("enrolled", "change_per_member"),
                                     r("comparison", "change_per_member")),
    })
    if c.matched:
        b.notes.append(ESTIMATED)
    else:
        b.notes.append("No comparison group large enough: the lift needs, in one enrolment month and "
                       "spend band, enough enrolled members with all six windows and enough linked "
                       "members who never enrolled.")
    return b.build()

