"""The dashboard as merchants see it: suppressed tables, headline cards, JSON and CSV shapes.

``build_report`` is the one entry point for pages, exports and the API: what it returns holds no
member key, and every figure in it has passed ``privacy.suppress``. The headline cards are
worked out from the suppressed tables only, so they cannot show more than the tables do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.domain.dashboard.definitions import DEFINITIONS, definitions_for, label
from bot.domain.dashboard.facts import DEFAULT_MIN_MEMBERS, CampaignFacts, check_min_members
from bot.domain.dashboard.metrics import TOTAL, compute
from bot.domain.dashboard.periods import Grain, Period
from bot.domain.dashboard.privacy import suppress
from bot.domain.dashboard.tables import Column, Hidden, ShownTable, Unit, Value
from bot.domain.money import cents_text, format_cents

# The headline cards: (measure key, the per-period table it comes from).
CARDS = (("enrolments", "use_over_time"), ("first_redeemers", "use_over_time"),
         ("redemptions", "use_over_time"), ("spend", "spend_over_time"), ("net_credits", "spend_over_time"))


@dataclass(frozen=True)
class Card:
    """A headline card: the total so far, and the last complete period against the one before."""

    key: str
    label: str
    definition: str
    unit: Unit
    total: Value
    latest: Value
    previous: Value
    change: Value  # latest - previous
    change_share: Value  # change / previous (None when previous is 0)
    latest_period: Period | None
    previous_period: Period | None


@dataclass(frozen=True)
class Report:
    """One campaign's dashboard, safe to show its merchant."""

    campaign_id: str
    merchant: str
    currency: str
    as_of: datetime
    data_first_day: date
    data_last_day: date
    grain: Grain
    periods: tuple[Period, ...]
    min_members: int
    cards: tuple[Card, ...]
    tables: tuple[ShownTable, ...]
    legend: str

    def table(self, name: str) -> ShownTable:
        """Return the table called ``name``."""
        return next(t for t in self.tables if t.name == name)


def build_report(facts: CampaignFacts, *, min_members: int = DEFAULT_MIN_MEMBERS) -> Report:
    """Return the campaign's dashboard: every number computed, then suppressed for ``min_members``."""
    k = check_min_members(min_members)
    computed = compute(facts, k=k)
    tables = suppress(computed.tables, k)
    cards = headline_cards(tables, computed.periods, facts.span.last_day)
    terms = facts.terms
    legend = (f"'fewer than {k}': the figure covers fewer than {k} members. 'hidden': showing it would "
              f"let such a figure be worked out from the others. Periods are fixed {computed.grain.value}s.")
    return Report(terms.campaign_id, terms.merchant, terms.currency, facts.as_of, facts.span.first_day,
                  facts.span.last_day, computed.grain, computed.periods, k, cards, tables, legend)


def headline_cards(tables: Sequence[ShownTable], periods: tuple[Period, ...],
                   last_day: date) -> tuple[Card, ...]:
    """Return the headline cards from suppressed tables: a change is hidden when either side is."""
    complete = [i for i, p in enumerate(periods) if p.complete_by(last_day)]
    latest = complete[-1] if complete else None
    previous = latest - 1 if latest is not None and latest > 0 else None
    by_name = {t.name: t for t in tables}
    cards = []
    for key, name in CARDS:
        table = by_name[name]
        now = table.values[latest][_index(table, key)] if latest is not None else None
        before = table.values[previous][_index(table, key)] if previous is not None else None
        change: Value = None
        change_share: Value = None
        if isinstance(now, Hidden) or isinstance(before, Hidden):
            change = change_share = next(v for v in (now, before) if isinstance(v, Hidden))
        elif now is not None and before is not None:
            change = now - before
            change_share = change / before if before else None
        cards.append(Card(key, label(key), DEFINITIONS[key], table.column(key).unit,
                          table.value(TOTAL, key), now, before, change, change_share,
                          periods[latest] if latest is not None else None,
                          periods[previous] if previous is not None else None))
    return tuple(cards)


def _index(table: ShownTable, column: str) -> int:
    return [c.key for c in table.columns].index(column)


def display(value: Value, unit: Unit, currency: str) -> str:
    """Return a figure as the page shows it: '1,234', '$12.34', '45.2%', '12.5', or the marker."""
    if isinstance(value, Hidden):
        return value.text
    if value is None:
        return "—"
    if unit is Unit.CENTS:
        return format_cents(int(value), currency)
    if unit is Unit.SHARE:
        return f"{value * 100:.1f}%"
    if unit is Unit.RATIO:
        return f"{value:.2f}"
    if unit is Unit.DAYS:
        return f"{value:g}"
    return f"{int(value):,}"


def csv_value(value: Value, unit: Unit) -> str:
    """Return a figure for CSV: plain numbers (money as 12.34, shares as 0.4521), or the marker."""
    if isinstance(value, Hidden):
        return value.text
    if value is None:
        return ""
    if unit is Unit.CENTS:
        return cents_text(int(value))
    if unit is Unit.SHARE:
        return f"{value:.4f}"
    if unit is Unit.RATIO:
        return f"{value:.2f}"
    if unit is Unit.DAYS:
        return f"{value:g}"
    return str(int(value))


def csv_rows(table: ShownTable) -> list[list[str]]:
    """Return a table as CSV rows, header first (cells still to be neutralised by the writer)."""
    rows = [["row", "label", *(c.key for c in table.columns)]]
    for key, text, values in zip(table.rows, table.row_labels, table.values, strict=True):
        rows.append([key, text, *(csv_value(v, c.unit) for v, c in zip(values, table.columns, strict=True))])
    return rows


def _json_value(value: Value) -> Any:
    if isinstance(value, Hidden):
        return {"suppressed": value.text}
    return value


def _period_data(period: Period | None, last_day: date) -> dict[str, Any] | None:
    if period is None:
        return None
    return {"key": period.key, "label": period.label, "first_day": period.start.isoformat(),
            "last_day": period.last_day.isoformat(), "complete": period.complete_by(last_day)}


def report_data(report: Report) -> dict[str, Any]:
    """Return the report as JSON-safe data for the API (money in integer cents of ``currency``)."""
    last = report.data_last_day
    return {
        "campaign_id": report.campaign_id,
        "merchant": report.merchant,
        "currency": report.currency,
        "as_of": report.as_of.isoformat(),
        "data": {"first_day": report.data_first_day.isoformat(), "last_day": last.isoformat()},
        "grain": report.grain.value,
        "min_members": report.min_members,
        "legend": report.legend,
        "periods": [_period_data(p, last) for p in report.periods],
        "cards": [{
            "key": c.key, "label": c.label, "definition": c.definition, "unit": c.unit.value,
            "total": _json_value(c.total), "latest": _json_value(c.latest),
            "previous": _json_value(c.previous), "change": _json_value(c.change),
            "change_share": _json_value(c.change_share),
            "latest_period": _period_data(c.latest_period, last),
            "previous_period": _period_data(c.previous_period, last),
        } for c in report.cards],
        "tables": [{
            "name": t.name, "title": t.title, "notes": list(t.notes),
            "definitions": [{"label": text, "definition": line} for text, line in definitions_for(t)],
            "columns": [{"key": c.key, "label": c.label, "unit": c.unit.value} for c in t.columns],
            "rows": [{"key": key, "label": text,
                      "values": {c.key: _json_value(v) for c, v in zip(t.columns, values, strict=True)}}
                     for key, text, values in zip(t.rows, t.row_labels, t.values, strict=True)],
        } for t in report.tables],
    }


def _value_from(data: Any, k: int) -> Value:
    if isinstance(data, dict):
        return Hidden(str(data["suppressed"]).startswith("fewer"), k)
    if data is None or isinstance(data, int | float):
        return data
    raise ValueError(f"not a dashboard value: {data!r}")


def _period_from(data: dict[str, Any] | None, grain: Grain) -> Period | None:
    if data is None:
        return None
    last = date.fromisoformat(data["last_day"])
    return Period(grain, date.fromisoformat(data["first_day"]), date.fromordinal(last.toordinal() + 1))


def report_from_data(data: dict[str, Any]) -> Report:
    """Return the Report that ``report_data`` made ``data`` from (a stored snapshot read back)."""
    grain, k = Grain(data["grain"]), int(data["min_members"])
    periods = tuple(p for p in (_period_from(d, grain) for d in data["periods"]) if p is not None)
    cards = tuple(Card(
        c["key"], c["label"], c["definition"], Unit(c["unit"]), _value_from(c["total"], k),
        _value_from(c["latest"], k), _value_from(c["previous"], k), _value_from(c["change"], k),
        _value_from(c["change_share"], k), _period_from(c["latest_period"], grain),
        _period_from(c["previous_period"], grain)) for c in data["cards"])
    tables = []
    for t in data["tables"]:
        columns = tuple(Column(c["key"], c["label"], Unit(c["unit"])) for c in t["columns"])
        tables.append(ShownTable(
            t["name"], t["title"], tuple(r["key"] for r in t["rows"]), tuple(r["label"] for r in t["rows"]),
            columns, tuple(tuple(_value_from(r["values"][c.key], k) for c in columns) for r in t["rows"]),
            tuple(t["notes"])))
    held = data["data"]
    return Report(data["campaign_id"], data["merchant"], data["currency"],
                  datetime.fromisoformat(data["as_of"]), date.fromisoformat(held["first_day"]),
                  date.fromisoformat(held["last_day"]),
                  grain, periods, k, cards, tuple(tables), data["legend"])
