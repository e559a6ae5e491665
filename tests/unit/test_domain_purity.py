"""The layers stay apart: bot/domain imports only the standard library and itself, and
bot/services imports no adapter but the file formats.

The services rule: a service may import the standard library, bot.domain, bot.ports, bot.errors,
bot.clock and other services. What has state or more than one implementation (the database and
its scratch copy, the locks, X, templates, password hashing, the process a large file is scanned
in) reaches it through a port in bot.ports, built by bot.bootstrap. The file formats are an
allowed dependency instead: the modules that read and write the files a use case exists for
(transaction files, campaign files, member files, exports, redacted copies, private files and
folders) are plain functions of a path with one implementation; a port would only forward to
them, and tests drive them through tmp_path as they are.
"""

import ast
import sys
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"
DOMAIN = BOT / "domain"
DOMAIN_FILES = sorted(DOMAIN.glob("*.py"))
SERVICE_FILES = sorted((BOT / "services").glob("*.py"))
FRAMEWORKS = ("tweepy", "sqlmodel", "sqlalchemy", "jinja2", "apscheduler", "click", "requests",
              "dotenv", "rich", "twitter_text")
SERVICE_LAYERS = ("bot.domain", "bot.ports", "bot.errors", "bot.clock", "bot.services")
FILE_FORMATS = ("bot.adapters.transaction_csv", "bot.adapters.offer_files", "bot.adapters.member_csv",
                "bot.adapters.exports", "bot.adapters.kept_inputs", "bot.adapters.private_files")


def imported_modules(path: Path, package: str = "bot.domain") -> list[str]:
    """Return the absolute module names imported anywhere in ``path`` (a relative import counts
    as ``package``)."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: within the module's own package
                modules.append(package)
            elif node.module:
                modules.append(node.module)
    return modules


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def allowed(module: str) -> bool:
    """Return True for standard-library modules and bot.domain itself."""
    return module.split(".")[0] in sys.stdlib_module_names or _within(module, ("bot.domain",))


def allowed_in_services(module: str) -> bool:
    """Return True for what a service may import: stdlib, the inner layers, the file formats."""
    return (module.split(".")[0] in sys.stdlib_module_names or _within(module, SERVICE_LAYERS)
            or _within(module, FILE_FORMATS))


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


def test_service_files_are_found() -> None:
    """The services check covers the use cases the project has."""
    names = {path.name for path in SERVICE_FILES}
    assert {"intake.py", "replies.py", "reconciliation.py", "staging.py", "deciding.py", "members.py",
            "campaigns.py", "file_scan.py", "accounts.py"} <= names


@pytest.mark.parametrize("path", SERVICE_FILES, ids=lambda path: path.name)
def test_services_import_no_adapter_but_the_file_formats(path: Path) -> None:
    """Every import in a service is stdlib, bot.domain, bot.ports, bot.errors, bot.clock, another
    service or a file format module (type-checking imports included)."""
    outside = [module for module in imported_modules(path, "bot.services") if not allowed_in_services(module)]
    assert outside == []


@pytest.mark.parametrize(
    ("module", "ok"),
    [("logging", True), ("bot.domain.reconcile", True), ("bot.ports", True), ("bot.errors", True),
     ("bot.clock", True), ("bot.services.campaigns", True), ("bot.adapters.exports", True),
     ("bot.adapters.transaction_csv", True), ("bot.adapters.sql.unit_of_work", False),
     ("bot.adapters.scan_process", False), ("bot.adapters.locks", False), ("bot.adapters.passwords", False),
     ("bot.adapters.exports_extra", False), ("bot.config", False), ("bot.bootstrap", False),
     ("sqlalchemy", False)],
)
def test_the_services_rule_tells_ports_and_file_formats_from_other_adapters(module: str, ok: bool) -> None:
    """The services rule accepts the inner layers and the file formats and refuses every other adapter."""
    assert allowed_in_services(module) is ok
