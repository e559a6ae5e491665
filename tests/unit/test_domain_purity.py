"""The domain stays pure: bot/domain imports only the standard library and itself."""

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "bot" / "domain"
DOMAIN_FILES = sorted(DOMAIN.glob("*.py"))
FRAMEWORKS = ("tweepy", "sqlmodel", "sqlalchemy", "jinja2", "apscheduler", "click", "requests",
              "dotenv", "rich", "twitter_text")


def imported_modules(path: Path) -> list[str]:
    """Return the absolute module names imported anywhere in ``path``."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: within bot.domain
                modules.append("bot.domain")
            elif node.module:
                modules.append(node.module)
    return modules


def allowed(module: str) -> bool:
    """Return True for standard-library modules and bot.domain itself."""
    return module.split(".")[0] in sys.stdlib_module_names or module == "bot.domain" or \
        module.startswith("bot.domain.")


def test_domain_files_are_found() -> None:
    """The check covers the domain modules the project has."""
    names = {path.name for path in DOMAIN_FILES}
    assert {"campaigns.py", "enrolment.py", "mentions.py", "hashtags.py", "cards.py", "money.py",
            "members.py", "replies.py"} <= names


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda path: path.name)
def test_domain_imports_only_stdlib_and_domain(path: Path) -> None:
    """Every import in a domain module is standard library or bot.domain."""
    outside = [module for module in imported_modules(path) if not allowed(module)]
    assert outside == []


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda path: path.name)
def test_domain_imports_no_framework(path: Path) -> None:
    """No domain module names a framework or I/O library."""
    modules = imported_modules(path)
    assert not [m for m in modules if m.split(".")[0] in FRAMEWORKS]


@pytest.mark.parametrize(
    ("module", "ok"),
    [("datetime", True), ("collections.abc", True), ("bot.domain.money", True), ("bot.domain", True),
     ("bot.errors", False), ("bot.adapters.templates", False), ("sqlalchemy", False), ("jinja2", False)],
)
def test_allowed_tells_stdlib_and_domain_from_the_rest(module: str, ok: bool) -> None:
    """The rule itself accepts stdlib and bot.domain and refuses the rest of bot and third parties."""
    assert allowed(module) is ok
