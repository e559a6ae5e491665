"""Before and after enrolling, and the matched comparison group behind the estimated lift.

Before/after looks at the same enrolled members only: those whose data holds the 90 days before
and the 90 days from their enrolment day ("with all six windows"), in 30-day windows around that
day. It says what happened, not why: members chose when to enrol.

The comparison group is drawn from linked members who never enrolled. Enrolled members are put
in cells by enrolment month and spend band (their net spend at the merchant in the 90 days before
enrolling); the comparison members of a cell are those whose data holds the 90 days before and
after the first day of that month, in the same band over the 90 days before it. A cell counts
only with at least k members on each side. The estimated lift is a difference of differences:
(enrolled after - before) - (comparison after - before), per member, the comparison weighted to
the enrolled members' mix of cells.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from bot.domain.dashboard.definitions import SPAN_DAYS, WINDOW_DAYS, WINDOWS
from bot.domain.dashboard.facts import Purchase

BAND_EDGES = (2_500, 10_000, 25_000)  # cents: none, under 25.00, to 99.99, to 249.99, 250.00 or more
SPAN = timedelta(days=SPAN_DAYS)


def band(cents: int, edges: Sequence[int] = BAND_EDGES) -> int:
    """Return the spend band of ``cents``: 0 for none, then 1 up to len(edges) + 1."""
    return 0 if cents <= 0 else 1 + bisect_right(edges, cents)


def window_of(day: date, enrolled: date) -> int | None:
    """Return the 30-day window of ``day`` around an enrolment (0-2 before, 3-5 from it), or None."""
    offset = (day - enrolled).days
    if -SPAN_DAYS <= offset < SPAN_DAYS:
        return offset // WINDOW_DAYS + WINDOWS
    return None


def spend_between(purchases: Iterable[Purchase], first: date, end: date) -> int:
    """Return the net cents of ``purchases`` on days from ``first`` up to (not including) ``end``."""
    return sum(p.net_cents for p in purchases if first <= p.day < end)


class PanelMember(NamedTuple):
    """An enrolled member with all six windows: enrolment day and net spend 90 days each side."""

    member: str
    enrolled: date
    before_cents: int
    after_cents: int


class Pooled(NamedTuple):
    """A linked member who never enrolled: held days and purchases at the merchant."""

    member: str
    held_from: date
    held_until: date  # the data's last day when still linked
    purchases: tuple[Purchase, ...]


@dataclass
class _Side:
    members: set[str] = field(default_factory=set)
    before: int = 0
    after: int = 0
    before_spenders: set[str] = field(default_factory=set)
    after_spenders: set[str] = field(default_factory=set)

    def add(self, member: str, before: int, after: int) -> None:
        self.members.add(member)
        self.before += before
        self.after += after
        if before:
            self.before_spenders.add(member)
        if after:
            self.after_spenders.add(member)


@dataclass(frozen=True)
class Comparison:
    """What the lift table shows (per-member cents; None without a matched cell)."""

    matched: frozenset[str]
    comparison: frozenset[str]
    enrolled_before: int | None = None
    enrolled_after: int | None = None
    comparison_before: int | None = None
    comparison_after: int | None = None
    enrolled_before_spenders: frozenset[str] = frozenset()
    enrolled_after_spenders: frozenset[str] = frozenset()
    comparison_before_spenders: frozenset[str] = frozenset()
    comparison_after_spenders: frozenset[str] = frozenset()


def compare(panel: Sequence[PanelMember], pool: Sequence[Pooled], *, k: int,
            edges: Sequence[int] = BAND_EDGES) -> Comparison:
    """Match the panel to the pool by enrolment month and spend band; cells under k on a side drop out."""
    enrolled: dict[tuple[date, int], _Side] = defaultdict(_Side)
    for member in panel:
        enrolled[(member.enrolled.replace(day=1), band(member.before_cents, edges))].add(
            member.member, member.before_cents, member.after_cents)
    months = sorted({month for month, _ in enrolled})
    controls = _controls(months, pool, edges)
    used = [(cell, side) for cell, side in sorted(enrolled.items())
            if len(side.members) >= k and len(controls[cell].members) >= k]
    if not used:
        return Comparison(frozenset(), frozenset())
    weight = sum(len(side.members) for _, side in used)
    c_before = sum(len(s.members) * controls[c].before / len(controls[c].members) for c, s in used)
    c_after = sum(len(s.members) * controls[c].after / len(controls[c].members) for c, s in used)

    def union(groups: Iterable[set[str]]) -> frozenset[str]:
        return frozenset().union(*groups)

    return Comparison(
        matched=union(s.members for _, s in used),
        comparison=union(controls[c].members for c, _ in used),
        enrolled_before=round(sum(s.before for _, s in used) / weight),
        enrolled_after=round(sum(s.after for _, s in used) / weight),
        comparison_before=round(c_before / weight),
        comparison_after=round(c_after / weight),
        enrolled_before_spenders=union(s.before_spenders for _, s in used),
        enrolled_after_spenders=union(s.after_spenders for _, s in used),
        comparison_before_spenders=union(controls[c].before_spenders for c, _ in used),
        comparison_after_spenders=union(controls[c].after_spenders for c, _ in used),
    )


def _controls(months: Sequence[date], pool: Sequence[Pooled],
              edges: Sequence[int]) -> Mapping[tuple[date, int], _Side]:
    """Return the comparison members per (month, band), measured from each month's first day."""
    cells: dict[tuple[date, int], _Side] = defaultdict(_Side)
    idle: dict[tuple[date, date], list[str]] = defaultdict(list)  # never bought: grouped by held days
    for member in pool:
        if member.purchases:
            for month in months:
                if member.held_from <= month - SPAN and month + SPAN - timedelta(days=1) <= member.held_until:
                    before = spend_between(member.purchases, month - SPAN, month)
                    after = spend_between(member.purchases, month, month + SPAN)
                    cells[(month, band(before, edges))].add(member.member, before, after)
        else:
            idle[(member.held_from, member.held_until)].append(member.member)
    for (held_from, held_until), members in idle.items():
        for month in months:
            if held_from <= month - SPAN and month + SPAN - timedelta(days=1) <= held_until:
                cells[(month, 0)].members.update(members)
    return cells
