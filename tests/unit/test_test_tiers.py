"""The test tiers stay as the Makefile says: the PostgreSQL pass runs every folder that may touch
the database, and only tests/unit, which uses none, is left to the SQLite pass."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def makefile_value(name: str) -> str:
    """The value of a ``NAME = ...`` line of the Makefile."""
    [value] = re.findall(rf"^{name}\s*\??=\s*(.*)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    return value.strip()


def test_the_postgres_pass_runs_every_test_folder_but_unit() -> None:
    """Each folder of tests/ holding tests, but tests/unit, is in DB_TESTS, and DB_TESTS is used."""
    folders = {p.parent.relative_to(REPO).as_posix() for p in (REPO / "tests").glob("*/test_*.py")}
    assert set(makefile_value("DB_TESTS").split()) == folders - {"tests/unit"}
    assert "pytest -q $(DB_TESTS)" in (REPO / "Makefile").read_text()


def test_the_quick_loop_leaves_out_slow_tests_with_the_quick_profile() -> None:
    """`make test-quick` deselects the slow marker and selects the quick Hypothesis profile."""
    recipe = (REPO / "Makefile").read_text().split("test-quick:", 1)[1].split("\n\n", 1)[0]
    assert 'HYPOTHESIS_PROFILE=quick' in recipe
    assert '-m "not slow"' in recipe
