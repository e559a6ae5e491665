"""Properties of suppression on random campaigns and random tables: nothing hidden can be recovered
by subtraction within the report, and everything shown is the true figure."""

import random
from collections.abc import Hashable, Sequence
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.dashboard.facts import CampaignFacts, Credit, Enrolment, History, Purchase
from bot.domain.dashboard.metrics import compute
from bot.domain.dashboard.privacy import determined, suppress
from bot.domain.dashboard.report import build_report
from bot.domain.dashboard.tables import (
    Cell,
    Column,
    Hidden,
    Ref,
    ShownTable,
    Table,
    TableBuilder,
    Unit,
    members_cell,
)
from tests.conftest import examples
from tests.dashboard_fakes import day, facts

PROPERTY = settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
CENTS = st.integers(100, 20_000)


@st.composite
def campaigns(draw: st.DrawFn) -> CampaignFacts:
    """Random facts: up to 30 enrolled members buying before and after enrolling, credits with
    refunds and clawbacks, and linked members who never enrolled; daily, weekly or monthly."""
    last = draw(st.sampled_from([20, 60, 130]))
    first_day = draw(st.sampled_from([date(2026, 6, 1), date(2026, 9, 15)]))

    def held(offset: int) -> date:
        return max(first_day, day(offset))

    enrolments, purchases, credits, histories = [], [], [], []
    for n in range(draw(st.integers(0, 30))):
        member = f"m{n}"
        enrolled = draw(st.integers(0, min(last, 89)))
        enrolments.append(Enrolment(member, day(enrolled)))
        if draw(st.booleans()):
            purchases.append(Purchase(member, held(enrolled - draw(st.integers(1, 120))), draw(CENTS)))
        if draw(st.integers(0, 2)):
            on = draw(st.integers(enrolled, last))
            cents = draw(CENTS)
            refunded = draw(st.sampled_from([0, 0, 0, cents // 2, cents]))
            purchases.append(Purchase(member, day(on), cents, True, refunded))
            credits.append(Credit(member, day(on), 500))
            if refunded:
                credits.append(Credit(member, day(min(last, on + draw(st.integers(0, 5)))),
                                      -500 if refunded == cents else -250))
            for _ in range(draw(st.integers(0, 2))):
                purchases.append(Purchase(member, day(draw(st.integers(on, last))), draw(CENTS)))
        if draw(st.integers(0, 5)) == 0:
            histories.append(History(member, held(enrolled - draw(st.integers(0, 100)))))
    for n in range(draw(st.integers(0, 15))):
        member = f"c{n}"
        histories.append(History(member, held(-draw(st.integers(0, 200)))))
        for _ in range(draw(st.integers(0, 2))):
            purchases.append(Purchase(member, held(draw(st.integers(-150, last))), draw(CENTS)))
    return facts(enrolments=enrolments, purchases=purchases, credits=credits, histories=histories,
                 first_day=first_day, last_day=day(last))


def var(ref: Ref, cell: Cell) -> Hashable:
    """Return the unknown a reader sees in a cell: its key, or its place."""
    return cell.key if cell.key is not None else ref


def subtraction_attack(tables: Sequence[Table], shown: Sequence[ShownTable]) -> set[Hashable]:
    """Return every hidden unknown a reader recovers from the shown cells, by repeatedly solving any
    declared sum (row or column total, histogram, split, same quantity elsewhere) with one unknown."""
    cells = {ref: cell for t in tables for ref, cell in t.refs()}
    known: set[Hashable] = set()
    hidden: set[Hashable] = set()
    for table, view in zip(tables, shown, strict=True):
        for (ref, cell), value in zip(table.refs(), (v for line in view.values for v in line), strict=True):
            if not cell.inputs:
                (hidden if isinstance(value, Hidden) else known).add(var(ref, cell))
    known -= hidden  # a keyed quantity hidden anywhere is unknown (and must be hidden everywhere)
    sums = [[var(r, cells[r]) for r in (s.total, *s.parts)] for t in tables for s in t.sums]
    progress = True
    while progress:
        progress = False
        for items in sums:
            unknown = {v for v in items if v not in known}
            if len(unknown) == 1:
                known |= unknown
                progress = True
    return known & hidden


def check_report(tables: Sequence[Table], k: int) -> None:
    """Assert every privacy property of suppressing ``tables`` with ``k``."""
    shown = suppress(tables, k)
    cells = {ref: cell for t in tables for ref, cell in t.refs()}
    values = {ref: value for t, view in zip(tables, shown, strict=True)
              for (ref, _), value in zip(t.refs(), (v for line in view.values for v in line), strict=True)}
    for ref, cell in cells.items():
        value = values[ref]
        if not isinstance(value, Hidden):
            assert value == cell.value, ref  # everything shown is the unsuppressed figure
            assert not 0 < len(cell.members) < k, ref
            assert not any(isinstance(values[i], Hidden) for i in cell.inputs), ref
        elif cell.key is not None:
            assert all(isinstance(values[r], Hidden) for r, c in cells.items() if c.key == cell.key)
    for table in tables:
        for relation in table.sums:  # the declared sums are true, so the attack model is right
            total = cells[relation.total].value or 0
            assert total == sum(cells[p].value or 0 for p in relation.parts), (table.name, relation)
            if not isinstance(values[relation.total], Hidden):
                covered = frozenset().union(*(cells[p].members for p in relation.parts
                                              if isinstance(values[p], Hidden)))
                assert len(covered) == 0 or len(covered) >= k, relation
    assert subtraction_attack(tables, shown) == set()
    hidden = {var(r, c) for r, c in cells.items() if not c.inputs and isinstance(values[r], Hidden)}
    order = {v: i for i, v in enumerate(sorted(hidden, key=repr))}
    equations = []
    for table in tables:
        for relation in table.sums:
            row: dict[Hashable, int] = {}
            for ref, sign in ((relation.total, 1), *((p, -1) for p in relation.parts)):
                v = var(ref, cells[ref])
                if v in hidden:
                    row[v] = row.get(v, 0) + sign
            equations.append({v: c for v, c in row.items() if c})
    assert determined([e for e in equations if e], order) == set()  # nor by any combination


@PROPERTY
@given(campaigns(), st.sampled_from([5, 10]))
def test_no_suppressed_figure_of_a_campaign_can_be_worked_out(campaign: CampaignFacts, k: int) -> None:
    """For random campaigns, every shown figure is true, none covers 1 to k-1 members, computed figures
    show only with all their inputs, and no hidden figure follows from the report's sums."""
    check_report(compute(campaign, k=k).tables, k)


@st.composite
def grids(draw: st.DrawFn) -> Table:
    """A random 2-4 x 2-4 table of disjoint member groups (mostly small) with row, column and grand totals."""
    rows, columns = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    sizes = draw(st.lists(st.sampled_from([0, 1, 2, 3, 5, 8, 9, 10, 12, 20, 40]),
                          min_size=rows * columns, max_size=rows * columns))
    names = [f"c{c}" for c in range(columns)]
    b = TableBuilder("grid", "grid", [Column(n, n, Unit.MEMBERS) for n in [*names, "total"]])
    by_column: list[set[str]] = [set() for _ in names]
    for r in range(rows):
        line, everyone = {}, set()
        for c in range(columns):
            members = {f"{r}.{c}.{n}" for n in range(sizes[r * columns + c])}
            line[names[c]] = members_cell(members)
            everyone |= members
            by_column[c] |= members
        line["total"] = members_cell(everyone)
        b.row(f"r{r}", f"r{r}", line)
        b.sum_row(f"r{r}", "total", names)
    b.row("total", "total", {**{n: members_cell(by_column[i]) for i, n in enumerate(names)},
                             "total": members_cell(set().union(*by_column))})
    b.sum_row("total", "total", names)
    for n in [*names, "total"]:
        b.sum_column(n, "total", [f"r{r}" for r in range(rows)])
    return b.build()


@settings(max_examples=examples(300), deadline=None)
@given(grids())
def test_no_suppressed_cell_of_a_two_way_table_can_be_worked_out(grid: Table) -> None:
    """For random two-way tables with margins, no hidden cell follows from the rows and columns, one
    at a time or combined, and every shown cell is true."""
    check_report([grid], 10)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(campaigns(), st.randoms(use_true_random=False))
def test_the_report_does_not_depend_on_the_order_of_the_facts(campaign: CampaignFacts,
                                                              rng: random.Random) -> None:
    """Shuffling every list of facts gives the same report, suppression included."""
    def shuffled(items: Sequence[object]) -> list[object]:
        copy = list(items)
        rng.shuffle(copy)
        return copy

    mixed = CampaignFacts(campaign.terms, campaign.span, campaign.as_of,
                          shuffled(campaign.enrolments), shuffled(campaign.purchases),  # type: ignore[arg-type]
                          shuffled(campaign.credits), shuffled(campaign.histories))  # type: ignore[arg-type]
    assert build_report(mixed, min_members=5) == build_report(campaign, min_members=5)


def test_the_strategy_reaches_every_grain_and_both_outcomes() -> None:
    """A seeded sample of the campaigns strategy has daily, weekly and monthly reports, and both shown
    and hidden cells (so the properties above are not vacuous)."""
    grains, outcomes = set(), set()
    rng = random.Random(7)
    for _ in range(40):
        campaign = _sample(rng)
        report = build_report(campaign, min_members=5)
        grains.add(report.grain)
        outcomes |= {isinstance(v, Hidden) for t in report.tables for line in t.values for v in line}
    assert len(grains) == 3
    assert outcomes == {True, False}


def _sample(rng: random.Random) -> CampaignFacts:
    """A campaign like the strategy's, drawn with ``rng`` (for the coverage check)."""
    last = rng.choice([20, 60, 130])
    enrolments, purchases, credits = [], [], []
    for n in range(rng.randint(5, 30)):
        enrolled = rng.randint(0, min(last, 89))
        enrolments.append(Enrolment(f"m{n}", day(enrolled)))
        if rng.random() < 0.6:
            on = rng.randint(enrolled, last)
            purchases.append(Purchase(f"m{n}", day(on), rng.randint(100, 20_000), True))
            credits.append(Credit(f"m{n}", day(on), 500))
            if rng.random() < 0.5:
                purchases.append(Purchase(f"m{n}", day(rng.randint(on, last)), 700))
    return facts(enrolments=enrolments, purchases=purchases, credits=credits, last_day=day(last))


