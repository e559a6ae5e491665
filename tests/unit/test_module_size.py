"""Modules stay small, or say why not: every module in bot/ over 300 lines opens with a docstring
that says why it is long ("Over 300 lines ...: ..."), so a newcomer knows it is meant."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"
LIMIT = 300


def long_modules() -> list[Path]:
    """Return the modules of bot/ with more than LIMIT lines."""
    return [path for path in sorted(BOT.rglob("*.py"))
            if len(path.read_text(encoding="utf-8").splitlines()) > LIMIT]


def test_long_modules_are_found():
    """The check sees the long modules the project has (the SQL schema among them)."""
    assert BOT / "adapters" / "sql" / "tables.py" in long_modules()


@pytest.mark.parametrize("path", long_modules(), ids=lambda path: str(path.relative_to(BOT)))
def test_a_module_over_300_lines_says_why_at_its_top(path: Path):
    """A long module's docstring says it is over (or about) 300 lines and why; else split it
    where it does several jobs."""
    docstring = " ".join((ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").split())

    assert f"{LIMIT} lines" in docstring, f"{path}: say at its top why it is over {LIMIT} lines, or split it"
