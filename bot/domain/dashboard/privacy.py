"""Privacy suppression: no figure a merchant sees covers fewer than k members, or lets one be worked out.

The rules, over all the tables of one report together:

1. **Primary**: a cell covering 1 to k-1 distinct members is hidden ("fewer than k"). A cell
   covering none (a zero) is shown: it singles out no one.
2. **Complementary**: for every declared sum (a total and its parts: a row or column total, the
   buckets of a histogram, a split such as new/returning), a hidden cell must not be the only
   unknown (total minus the rest would give it), and where the total is shown the hidden parts
   together must cover at least k members (their sum is the total minus the rest). When a sum
   breaks this, its smallest shown part is hidden too (the "second-smallest cell"), or its total
   when no part is left; then every sum is checked again.
3. **No combination**: beyond one sum at a time, no hidden cell may follow from any combination
   of the sums (a 2-D table's rows and columns together): checked exactly, by Gaussian
   elimination over the hidden cells; one that follows gets a further cell hidden beside it.
4. **Computed figures**: a share, average, rate or change is hidden when any figure it is
   computed from is hidden, and a money figure or median over fewer than k members is hidden.
5. **Same quantity, same fate**: cells with one key (the enrolments total on several tables) are
   one unknown: hidden everywhere or nowhere.

What the reader is assumed to know: every shown figure and every declared sum, in every table of
the report. Reports come in fixed calendar periods only, so two reports do not overlap in odd ways.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from fractions import Fraction

from bot.domain.dashboard.tables import Cell, Hidden, Ref, ShownTable, Table

Var = Hashable  # one unknown: a cell's key if it has one, else its Ref


def suppress(tables: Sequence[Table], k: int) -> tuple[ShownTable, ...]:
    """Return the tables as shown: every cell the rules hide replaced by a Hidden marker."""
    hidden = hidden_cells(tables, k)
    shown = []
    for table in tables:
        values = tuple(
            tuple(Hidden(hidden[Ref(table.name, row, column.key)], k)
                  if Ref(table.name, row, column.key) in hidden else cell.value
                  for column, cell in zip(table.columns, line, strict=True))
            for row, line in zip(table.rows, table.cells, strict=True))
        shown.append(ShownTable(table.name, table.title, table.rows, table.row_labels, table.columns,
                                values, table.notes))
    return tuple(shown)


def hidden_cells(tables: Sequence[Table], k: int) -> dict[Ref, bool]:
    """Return every cell to hide, each with True when it covers fewer than k members itself."""
    return _Suppression(tables, k).run()


class _Suppression:
    """The unknowns of a report, its sums over them, and the fixpoint that hides enough of them."""

    def __init__(self, tables: Sequence[Table], k: int) -> None:
        self.k = k
        self.cells: dict[Ref, Cell] = {}
        self.var: dict[Ref, Var] = {}
        self.members: dict[Var, frozenset[str]] = {}
        self.value: dict[Var, float] = {}
        self.order: dict[Var, int] = {}
        for table in tables:
            for ref, cell in table.refs():
                self._add(ref, cell)
        self.sums: list[tuple[Var, tuple[Var, ...]]] = []
        for table in tables:
            for relation in table.sums:
                for ref in (relation.total, *relation.parts):
                    if ref not in self.cells or self.cells[ref].inputs:
                        raise ValueError(f"a sum in {table.name} names {ref}, which is missing or computed")
                self.sums.append((self.var[relation.total], tuple(self.var[r] for r in relation.parts)))
        self.hidden: dict[Var, bool] = {}

    def _add(self, ref: Ref, cell: Cell) -> None:
        self.cells[ref] = cell
        if cell.inputs:
            if cell.key is not None:
                raise ValueError(f"{ref}: a computed cell cannot carry a key")
            return
        var: Var = cell.key if cell.key is not None else ref
        self.var[ref] = var
        value = float(cell.value or 0)
        if var in self.value and (self.value[var] != value or self.members[var] != cell.members):
            raise ValueError(f"{ref}: key {cell.key!r} has another value or other members elsewhere")
        self.value[var] = value
        self.members[var] = cell.members
        self.order.setdefault(var, len(self.order))

    def run(self) -> dict[Ref, bool]:
        """Hide the primary cells, then more until every sum and combination is safe."""
        for var, members in self.members.items():
            if 0 < len(members) < self.k:
                self.hidden[var] = True
        while self._local_pass() or self._combination_pass():
            pass
        return self._with_computed()

    def _local_pass(self) -> bool:
        """Fix every sum that one subtraction would break; return True if anything was hidden."""
        changed = False
        for total, parts in self.sums:
            while self._breaks(total, parts):
                if not self._hide_beside(total, parts):
                    break
                changed = True
        return changed

    def _breaks(self, total: Var, parts: tuple[Var, ...]) -> bool:
        unknown = [v for v in (total, *parts) if v in self.hidden]
        if len(unknown) == 1:
            return True
        if unknown and total not in self.hidden:
            covered = frozenset().union(*(self.members[v] for v in parts if v in self.hidden))
            return 0 < len(covered) < self.k
        return False

    def _hide_beside(self, total: Var, parts: Iterable[Var]) -> bool:
        """Hide the smallest shown part that covers someone (or the total); False if none is left."""
        candidates = [v for v in parts if v not in self.hidden and self.members[v]]
        if candidates:
            self.hidden[min(candidates, key=self._smallness)] = False
            return True
        if total not in self.hidden and self.members[total]:
            self.hidden[total] = False
            return True
        return False

    def _smallness(self, var: Var) -> tuple[int, float, int]:
        return (len(self.members[var]), abs(self.value[var]), self.order[var])

    def _combination_pass(self) -> bool:
        """Hide a further cell beside the first hidden one any combination of sums gives away."""
        equations = []
        for total, parts in self.sums:
            row: dict[Var, int] = {}
            for var, sign in ((total, 1), *((p, -1) for p in parts)):
                if var in self.hidden:
                    row[var] = row.get(var, 0) + sign
            if any(row.values()):
                equations.append({v: c for v, c in row.items() if c})
        exposed = determined(equations, self.order)
        if not exposed:
            return False
        var = min(exposed, key=self.order.__getitem__)
        touching = [(t, p) for t, p in self.sums if var == t or var in p]
        for total, parts in touching + self._component(var):
            if self._hide_beside(total, parts):
                return True
        raise AssertionError(f"{var} follows from the sums but nothing beside it can be hidden")

    def _component(self, start: Var) -> list[tuple[Var, tuple[Var, ...]]]:
        """Return the sums linked to ``start`` through hidden cells."""
        seen, todo, found = {start}, [start], []
        while todo:
            var = todo.pop()
            for total, parts in self.sums:
                if var == total or var in parts:
                    if (total, parts) not in found:
                        found.append((total, parts))
                    for other in (total, *parts):
                        if other in self.hidden and other not in seen:
                            seen.add(other)
                            todo.append(other)
        return found

    def _with_computed(self) -> dict[Ref, bool]:
        """Return the hidden cells by place, computed cells following their inputs."""
        result: dict[Ref, bool | None] = {}
        for ref in self.cells:
            self._fate(ref, result, set())
        return {ref: few for ref, few in result.items() if few is not None}

    def _fate(self, ref: Ref, result: dict[Ref, bool | None], visiting: set[Ref]) -> bool | None:
        """Return None for a shown cell, else whether it covers fewer than k members itself."""
        if ref in result:
            return result[ref]
        cell = self.cells.get(ref)
        if cell is None:
            raise ValueError(f"a computed cell names {ref}, which no table has")
        if not cell.inputs:
            fate = self.hidden.get(self.var[ref])
        else:
            if ref in visiting:
                raise ValueError(f"computed cells depend on each other in a circle at {ref}")
            visiting.add(ref)
            inputs = [self._fate(i, result, visiting) for i in cell.inputs]
            own_few = 0 < len(cell.members) < self.k
            hidden = [f for f in inputs if f is not None]
            fate = (own_few or any(hidden)) if hidden or own_few else None
        result[ref] = fate
        return fate


def determined(equations: Sequence[dict[Var, int]], order: dict[Var, int]) -> set[Var]:
    """Return the unknowns whose value follows from ``equations`` (each maps unknowns to
    coefficients; the known side does not matter): those whose unit vector lies in the rows'
    span, i.e. a row of the reduced row echelon form with one entry only."""
    reduced: list[tuple[Var, dict[Var, Fraction]]] = []
    for equation in equations:
        row = {v: Fraction(c) for v, c in equation.items() if c}
        for pivot, prow in reduced:
            factor = row.get(pivot)
            if factor:
                for v, c in prow.items():
                    row[v] = row.get(v, Fraction(0)) - factor * c
                row = {v: c for v, c in row.items() if c}
        if not row:
            continue
        pivot = min(row, key=order.__getitem__)
        scale = row[pivot]
        row = {v: c / scale for v, c in row.items()}
        for index, (other, orow) in enumerate(reduced):
            factor = orow.get(pivot)
            if factor:
                merged = dict(orow)
                for v, c in row.items():
                    merged[v] = merged.get(v, Fraction(0)) - factor * c
                reduced[index] = (other, {v: c for v, c in merged.items() if c})
        reduced.append((pivot, row))
    return {pivot for pivot, row in reduced if len(row) == 1}
