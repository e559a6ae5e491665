"""Privacy suppression on hand-worked tables: fewer than k, complements, combinations, derived cells."""

from collections.abc import Sequence

import pytest

from bot.domain.dashboard.privacy import determined, hidden_cells, suppress
from bot.domain.dashboard.tables import (
    Cell,
    Column,
    Hidden,
    Ref,
    Table,
    TableBuilder,
    Unit,
    derived,
    members_cell,
)

K = 10


def group(name: str, size: int) -> frozenset[str]:
    """Return ``size`` distinct member keys named after ``name``."""
    return frozenset(f"{name}-{n}" for n in range(size))


def split(sizes: Sequence[int], *, name: str = "t", total_key: str | None = None,
          keys: Sequence[str | None] = ()) -> Table:
    """Return a one-column table of disjoint member groups of ``sizes`` and their total."""
    b = TableBuilder(name, name, [Column("members", "Members", Unit.MEMBERS)])
    everyone: set[str] = set()
    rows = []
    for index, size in enumerate(sizes):
        members = group(f"{name}{index}", size)
        everyone |= members
        key = keys[index] if index < len(keys) else None
        b.row(f"p{index}", f"part {index}", {"members": members_cell(members, key)})
        rows.append(f"p{index}")
    b.row("total", "total", {"members": members_cell(everyone, total_key)})
    b.sum_column("members", "total", rows)
    return b.build()


def shown_column(table: Table, k: int = K) -> list[object]:
    """Return the table's one column as shown."""
    (shown,) = suppress([table], k)
    return [line[0] for line in shown.values]


def test_a_cell_under_k_shows_fewer_than_k_and_zero_is_shown() -> None:
    """Parts 3, 0, 0 of 3: the 3 and the total are under 10; the zeros single out no one."""
    assert shown_column(split([3, 0, 0])) == [Hidden(True, K), 0, 0, Hidden(True, K)]
    assert Hidden(True, K).text == "fewer than 10"


def test_the_complement_of_a_suppressed_cell_is_hidden_too() -> None:
    """Parts 3 and 48 of 51: 51 - 48 would give the 3, so the 48 is hidden ('hidden', not 'fewer')."""
    assert shown_column(split([3, 48])) == [Hidden(True, K), Hidden(False, K), 51]
    assert Hidden(False, K).text == "hidden"


def test_the_second_smallest_cell_is_the_one_hidden() -> None:
    """Parts 3, 20, 30 of 53: the 20 (the smallest shown) goes with the 3; the 30 and the total stay."""
    assert shown_column(split([3, 20, 30])) == [Hidden(True, K), Hidden(False, K), 30, 53]


def test_hidden_cells_under_a_shown_total_cover_at_least_k() -> None:
    """Parts 3, 4, 40 of 47: hiding the 3 and 4 still gives away their sum 7 (47 - 40), under 10: so
    the 40 is hidden too."""
    assert shown_column(split([3, 4, 40])) == [Hidden(True, K), Hidden(True, K), Hidden(False, K), 47]


def test_two_large_cells_hidden_together_are_enough() -> None:
    """Parts 3, 12, 12, 30 of 57: hiding 3 and one 12 covers 15 members: the rest stays shown."""
    assert shown_column(split([3, 12, 12, 30])) == [Hidden(True, K), Hidden(False, K), 12, 30, 57]


def test_k_is_the_threshold_itself() -> None:
    """With k = 5, parts 5 and 6 of 11 are all shown; with k = 6 the 5 and so the 6 are hidden."""
    assert shown_column(split([5, 6]), 5) == [5, 6, 11]
    assert shown_column(split([5, 6]), 6) == [Hidden(True, 6), Hidden(False, 6), 11]


def test_the_same_quantity_has_the_same_fate_in_every_table() -> None:
    """Table a: 51 (key x) and 9 of 60, so x is hidden as the 9's complement. Table b splits x into 30
    and 21: with x hidden, showing both would give it back (30 + 21), so the 21 is hidden as well."""
    a = split([51, 9], name="a", keys=["x"])
    x = sorted(a.cell("p0", "members").members)
    bb = TableBuilder("b", "b", [Column("members", "Members", Unit.MEMBERS)])
    bb.row("p0", "part 0", {"members": members_cell(set(x[:30]))})
    bb.row("p1", "part 1", {"members": members_cell(set(x[30:]))})
    bb.row("total", "total", {"members": members_cell(set(x), "x")})
    bb.sum_column("members", "total", ["p0", "p1"])
    hidden = hidden_cells([a, bb.build()], K)
    assert hidden[Ref("a", "p0", "members")] is False
    assert hidden[Ref("b", "total", "members")] is False
    assert Ref("b", "p0", "members") not in hidden
    assert hidden[Ref("b", "p1", "members")] is False


def test_keyed_cells_must_agree() -> None:
    """Two cells with one key but different values are a bug in the tables, refused."""
    a = split([12], name="a", total_key="x")
    b = split([13], name="b", total_key="x")
    with pytest.raises(ValueError, match="key 'x'"):
        hidden_cells([a, b], K)


def test_computed_cells_follow_their_inputs() -> None:
    """A share of a 3-member part is 'fewer than 10'; of its 48-member complement 'hidden'; a share of
    the total over itself, and anything computed from shown cells, is shown."""
    b = TableBuilder("t", "t", [Column("members", "Members", Unit.MEMBERS),
                                Column("share", "Share", Unit.SHARE)])
    total = b.ref("total", "members")
    for row, size in (("few", 3), ("many", 48)):
        b.row(row, row, {"members": members_cell(group(row, size)),
                         "share": derived(size / 51, b.ref(row, "members"), total)})
    b.row("total", "total", {"members": members_cell(group("few", 3) | group("many", 48)),
                             "share": derived(1.0, total)})
    b.sum_column("members", "total", ["few", "many"])
    (shown,) = suppress([b.build()], K)
    assert shown.value("few", "share") == Hidden(True, K)
    assert shown.value("many", "share") == Hidden(False, K)
    assert shown.value("total", "share") == 1.0


def test_a_money_figure_over_fewer_than_k_members_is_hidden() -> None:
    """$900 spent by 3 members is hidden even where no count shows the 3."""
    b = TableBuilder("t", "t", [Column("spend", "Spend", Unit.CENTS)])
    b.row("x", "x", {"spend": Cell(90_000, group("x", 3))})
    b.row("y", "y", {"spend": Cell(10_000, frozenset())})  # a constant, e.g. the budget
    (shown,) = suppress([b.build()], K)
    assert shown.values == ((Hidden(True, K),), (10_000,))


def test_determined_finds_a_cell_that_only_a_combination_gives_away() -> None:
    """Hidden cells a b / c d (rows 1-2, columns 1-2) and e f / g h (rows 3-4, columns 3-4) joined by
    x in row 2, column 3, with every row and column total known: each row and column has two or more
    unknowns, yet rows 1 + 2 minus columns 1 + 2 leaves x alone."""
    rows = [{"a": 1, "b": 1}, {"c": 1, "d": 1, "x": 1}, {"e": 1, "f": 1}, {"g": 1, "h": 1}]
    columns = [{"a": 1, "c": 1}, {"b": 1, "d": 1}, {"x": 1, "e": 1, "g": 1}, {"f": 1, "h": 1}]
    order = {v: i for i, v in enumerate("abcdefghx")}
    assert determined(rows + columns, order) == {"x"}
    assert determined(rows[:2] + columns[:2], order) == {"x"}
    assert determined([{"a": 1, "b": -1}, {"a": 1, "b": 1}], order) == {"a", "b"}
    assert determined([{"a": 1, "b": -1}], order) == set()


def test_a_cell_given_away_by_a_combination_gets_company() -> None:
    """The bridge pattern above as a 4 x 4 table with totals (hidden cells of 6 members, the rest 20,
    k = 10): one sum at a time shows nothing, but x would follow; suppression hides more, until no
    hidden cell follows from any combination."""
    pattern = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)}
    names = ["c0", "c1", "c2", "c3"]
    b = TableBuilder("g", "g", [Column(n, n, Unit.MEMBERS) for n in [*names, "total"]])
    columns: list[set[str]] = [set() for _ in names]
    for r in range(4):
        cells, everyone = {}, set()
        for c in range(4):
            members = group(f"{r}{c}", 6 if (r, c) in pattern else 20)
            cells[names[c]] = members_cell(members)
            everyone |= members
            columns[c] |= members
        cells["total"] = members_cell(everyone)
        b.row(f"r{r}", f"r{r}", cells)
        b.sum_row(f"r{r}", "total", names)
    b.row("total", "total", {**{n: members_cell(columns[i]) for i, n in enumerate(names)},
                             "total": members_cell(set().union(*columns))})
    b.sum_row("total", "total", names)
    for n in [*names, "total"]:
        b.sum_column(n, "total", [f"r{r}" for r in range(4)])
    hidden = hidden_cells([b.build()], K)
    assert sum(1 for few in hidden.values() if few) == 9
    assert len(hidden) > 9
    assert Ref("g", "r1", "c2") in hidden
