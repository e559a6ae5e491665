"""What every command shares: the settings and app made on first use, and how tables are printed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import click

from bot.bootstrap import App, bootstrap
from bot.config import Settings, load_settings
from bot.environment import read_environment
from bot.services.campaigns import Catalog


class Context:
    """Settings and the app, made on first use and closed when the command ends.

    A setting that is wrong raises ConfigError here; the error map (bot/cli/errors.py) ends the
    command with it.
    """

    def __init__(self, config: Path, env_file: Path) -> None:
        self.config, self.env_file = config, env_file
        self._settings: Settings | None = None
        self._app: App | None = None
        self._closers: list[Callable[[], None]] = []

    def settings(self) -> Settings:
        """Return the validated settings."""
        if self._settings is None:
            self._settings = load_settings(self.config, read_environment(self.env_file))
        return self._settings

    def app(self) -> App:
        """Return the app built from the settings."""
        if self._app is None:
            self._app = bootstrap(self.settings())
        return self._app

    def close(self) -> None:
        """Release what the app holds (after stopping what was started with it)."""
        for stop in reversed(self._closers):
            stop()
        if self._app is not None:
            self._app.close()

    def on_close(self, stop: Callable[[], None]) -> None:
        """Run ``stop`` when the command ends, before the app is closed."""
        self._closers.append(stop)


pass_ctx = click.make_pass_decorator(Context)


def echo_table(rows: Sequence[Sequence[str]]) -> None:
    """Print rows (the first is the header) in columns two spaces apart, each line right-stripped."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def loaded(app: App, catalog: Catalog | None = None) -> Catalog:
    """Return the campaigns in force; a broken campaign file is a warning, never a refusal."""
    catalog = catalog or app.campaigns.load()
    warning = catalog.warning()
    if warning:
        click.echo(f"warning: {warning}", err=True)
    return catalog
