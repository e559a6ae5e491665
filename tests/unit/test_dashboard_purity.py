"""The dashboard's domain package stays pure, like the rest of bot/domain (which the guard there
lists one level deep only)."""

from pathlib import Path

import pytest

from tests.unit.test_domain_purity import DOMAIN, FRAMEWORKS, allowed, imported_modules

PACKAGE_FILES = sorted((DOMAIN / "dashboard").glob("*.py"))


def test_dashboard_files_are_found() -> None:
    """The check covers the dashboard modules."""
    names = {path.name for path in PACKAGE_FILES}
    assert {"facts.py", "periods.py", "metrics.py", "privacy.py", "report.py", "charts.py"} <= names


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=lambda path: path.name)
def test_dashboard_imports_only_stdlib_and_domain(path: Path) -> None:
    """Every import in a dashboard module is standard library or bot.domain, never a framework."""
    modules = imported_modules(path)
    assert [m for m in modules if not allowed(m)] == []
    assert not [m for m in modules if m.split(".")[0] in FRAMEWORKS]
