"""The portal's pages from templates/web/*.html (Jinja2, autoescaped, strict about names)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.domain.dashboard.definitions import DEFINITIONS, definitions_for
from bot.domain.dashboard.report import display
from bot.domain.dashboard.tables import Hidden, Unit, Value
from bot.domain.money import format_cents


def _money(cents: int | None, currency: str = "USD") -> str:
    return "—" if cents is None else format_cents(int(cents), currency)


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _change(value: Value, unit: Unit, currency: str) -> str:
    """Return a change with its sign: '+3', '−$12.00', '+25.0%', or the privacy marker."""
    if isinstance(value, Hidden) or value is None or value == 0:
        return display(value, unit, currency)
    return ("+" if value > 0 else "−") + display(abs(value), unit, currency)


class PageTemplates:
    """Render HTML pages; every value is escaped unless a template says otherwise."""

    def __init__(self, templates_dir: Path) -> None:
        self._env = Environment(
            loader=FileSystemLoader(templates_dir / "web"),
            autoescape=True,  # every page is HTML: escape everything
            undefined=StrictUndefined,  # a misspelt variable fails the test, not the page silently
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["money"] = _money
        self._env.filters["when"] = _when
        self._env.filters["figure"] = display  # a dashboard figure: value, unit, currency
        self._env.filters["change"] = _change
        self._env.tests["suppressed"] = lambda value: isinstance(value, Hidden)
        self._env.globals["definitions_for"] = definitions_for
        self._env.globals["definition_of"] = DEFINITIONS.__getitem__
        self._env.globals["Unit"] = Unit

    def render(self, template: str, context: dict[str, Any]) -> str:
        """Return the page as HTML."""
        return self._env.get_template(template).render(context)
