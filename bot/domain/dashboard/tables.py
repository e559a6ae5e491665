"""Tables of numbers as computed (cells that know their members) and as shown (no member in sight).

A computed ``Table`` is a grid of ``Cell``s. Each cell knows the distinct members its figure
covers, so privacy can count them; the ``Sum``s say which cells add up to which (a total and its
parts), so privacy knows what a reader could subtract; a cell computed from others (a share, an
average, a change) names them as ``inputs`` and shares their fate. A cell with a ``key`` is the
same quantity as every other cell with that key, in any table (the enrolments total, say).

Computed tables never leave the domain: ``privacy.suppress`` turns them into ``ShownTable``s,
which hold only values and ``Hidden`` markers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

EMPTY: frozenset[str] = frozenset()


class Unit(StrEnum):
    """What a column's numbers are."""

    MEMBERS = "members"  # distinct members
    COUNT = "count"  # events (credits, clawbacks)
    CENTS = "cents"  # money in minor units, an int
    SHARE = "share"  # a fraction from 0 to 1
    DAYS = "days"
    RATIO = "ratio"  # money per unit of money


class Ref(NamedTuple):
    """Where a cell is: its table's name, its row key and its column key."""

    table: str
    row: str
    column: str


Number = int | float


@dataclass(frozen=True, slots=True)
class Cell:
    """One figure: its value (None: nothing to show, e.g. an average over no one), the distinct
    members it covers, the quantity it is (``key``), and the cells it is computed from."""

    value: Number | None
    members: frozenset[str] = EMPTY
    key: str | None = None
    inputs: tuple[Ref, ...] = ()


@dataclass(frozen=True)
class Column:
    """A column: machine key (CSV, JSON, definitions), label for people, unit."""

    key: str
    label: str
    unit: Unit


@dataclass(frozen=True)
class Sum:
    """``total`` equals the sum of ``parts``: what a reader may subtract."""

    total: Ref
    parts: tuple[Ref, ...]


@dataclass(frozen=True)
class Table:
    """A computed table: rows (keys and labels), columns, cells row by row, and its sums."""

    name: str
    title: str
    rows: tuple[str, ...]
    row_labels: tuple[str, ...]
    columns: tuple[Column, ...]
    cells: tuple[tuple[Cell, ...], ...]
    sums: tuple[Sum, ...] = ()
    notes: tuple[str, ...] = ()

    def cell(self, row: str, column: str) -> Cell:
        """Return the cell at a row key and a column key."""
        return self.cells[self.rows.index(row)][[c.key for c in self.columns].index(column)]

    def refs(self) -> list[tuple[Ref, Cell]]:
        """Return every cell with where it is, row by row."""
        return [(Ref(self.name, row, column.key), cell)
                for row, line in zip(self.rows, self.cells, strict=True)
                for column, cell in zip(self.columns, line, strict=True)]


class TableBuilder:
    """Build a Table row by row; cells a row leaves out are empty (value None)."""

    def __init__(self, name: str, title: str, columns: Sequence[Column]) -> None:
        self.name, self.title, self.columns = name, title, tuple(columns)
        self._rows: list[str] = []
        self._labels: list[str] = []
        self._cells: list[tuple[Cell, ...]] = []
        self._sums: list[Sum] = []
        self.notes: list[str] = []

    def ref(self, row: str, column: str) -> Ref:
        """Return where the cell at ``row`` and ``column`` of this table is."""
        return Ref(self.name, row, column)

    def row(self, key: str, label: str, cells: Mapping[str, Cell]) -> None:
        """Add a row; ``cells`` maps column keys to cells."""
        unknown = set(cells) - {c.key for c in self.columns}
        if unknown or key in self._rows:
            raise ValueError(f"table {self.name}: row {key!r} repeated or unknown columns {sorted(unknown)}")
        self._rows.append(key)
        self._labels.append(label)
        self._cells.append(tuple(cells.get(c.key, Cell(None)) for c in self.columns))

    def sum_column(self, column: str, total_row: str, part_rows: Sequence[str]) -> None:
        """Declare that in ``column`` the ``total_row`` cell is the sum of the ``part_rows`` cells."""
        self._sums.append(Sum(self.ref(total_row, column), tuple(self.ref(r, column) for r in part_rows)))

    def sum_row(self, row: str, total_column: str, part_columns: Sequence[str]) -> None:
        """Declare that in ``row`` the ``total_column`` cell is the sum of the ``part_columns`` cells."""
        self._sums.append(Sum(self.ref(row, total_column), tuple(self.ref(row, c) for c in part_columns)))

    def build(self) -> Table:
        """Return the table."""
        return Table(self.name, self.title, tuple(self._rows), tuple(self._labels), self.columns,
                     tuple(self._cells), tuple(self._sums), tuple(self.notes))


def members_cell(members: frozenset[str] | set[str], key: str | None = None) -> Cell:
    """Return a cell counting distinct ``members``."""
    group = frozenset(members)
    return Cell(len(group), group, key)


def derived(value: Number | None, *inputs: Ref, members: frozenset[str] = EMPTY) -> Cell:
    """Return a cell computed from ``inputs`` (hidden whenever one of them is)."""
    return Cell(value, members, None, inputs)


def share(part: int, whole: int) -> float | None:
    """Return part / whole, or None when whole is 0."""
    return part / whole if whole else None


def per(cents: int, count: int) -> int | None:
    """Return cents / count rounded half up to a whole cent, or None when count is 0."""
    if not count:
        return None
    quotient, remainder = divmod(abs(cents), count)
    rounded = quotient + (1 if remainder * 2 >= count else 0)
    return rounded if cents >= 0 else -rounded


def ratio(numerator: int, denominator: int) -> float | None:
    """Return numerator / denominator to two places, or None when the denominator is not positive."""
    return round(numerator / denominator, 2) if denominator > 0 else None


def median(values: Sequence[int]) -> float | None:
    """Return the median of ``values`` (the mean of the two middle ones for an even count)."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


class Hidden(NamedTuple):
    """A suppressed figure: ``few`` when it covers fewer than k members, else withheld because
    showing it would let such a figure be worked out."""

    few: bool
    k: int

    @property
    def text(self) -> str:
        """Return what the page, the CSV and the JSON show instead of the figure."""
        return f"fewer than {self.k}" if self.few else "hidden"


Value = Number | None | Hidden


@dataclass(frozen=True)
class ShownTable:
    """A table as merchants see it: values or Hidden markers, and not a single member key."""

    name: str
    title: str
    rows: tuple[str, ...]
    row_labels: tuple[str, ...]
    columns: tuple[Column, ...]
    values: tuple[tuple[Value, ...], ...]
    notes: tuple[str, ...] = field(default=())

    def value(self, row: str, column: str) -> Value:
        """Return the value at a row key and a column key."""
        return self.values[self.rows.index(row)][[c.key for c in self.columns].index(column)]

    def column(self, key: str) -> Column:
        """Return the column with machine key ``key``."""
        return next(c for c in self.columns if c.key == key)
