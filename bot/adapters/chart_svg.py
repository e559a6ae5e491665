"""The dashboard's charts as inline SVG, from templates/web/charts/*.svg (Jinja2, escaped).

The geometry is worked out in bot.domain.dashboard.charts; the templates only draw it, with
presentation attributes (fill=, stroke=, patterns), never a style attribute or a script, so the
portal's Content-Security-Policy (style-src 'self', script-src 'self') holds.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.domain.dashboard.charts import Chart


class ChartRenderer:
    """Render a Chart as an SVG element, to put inline in a page (or serve as image/svg+xml)."""

    def __init__(self, templates_dir: Path) -> None:
        self._env = Environment(
            loader=FileSystemLoader(templates_dir / "web"),
            autoescape=True,  # titles and labels come from campaign files: escape them
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, chart: Chart) -> str:
        """Return the chart as one <svg> element."""
        return self._env.get_template(f"charts/{chart.kind}.svg").render(chart=chart).strip()
