"""Fixtures of the end-to-end tests: the offerbot command run in a copy of the project."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli


@pytest.fixture
def offerbot(project: Path, no_x_credentials, monkeypatch):
    """Run `offerbot ARGS` in the temp project; returns the click Result."""
    monkeypatch.chdir(project)

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)

    return run
