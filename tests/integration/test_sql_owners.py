"""Each table has exactly one repository module of bot.adapters.sql that writes it (the others
may read it): parsed from the package's source, so a second writer fails here before review."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import Table
from sqlmodel import SQLModel

from bot.adapters.sql import tables

SQL = Path(tables.__file__).resolve().parent
OWNERS = {
    "members": "members", "card_links": "members", "fingerprint_keys": "members",
    "campaigns": "campaigns",
    "enrolments": "enrolments",
    "posts": "posts",
    "outbox": "outbox",
    "cursors": "cursors",
    "transaction_files": "ledger_files", "rejects": "ledger_files",
    "staged_transactions": "ledger_waiting", "pending_refunds": "ledger_waiting",
    "card_transactions": "ledger_credits", "credits": "ledger_credits",
    "leases": "leases",
    "web_users": "portal", "web_sessions": "portal", "audit_log": "portal",
    "campaign_submissions": "portal", "web_uploads": "portal",
    "api_tokens": "api_tokens",
    "merchant_purchases": "ledger_purchases", "dashboard_reports": "dashboard_reports",
}
WRITERS = ("insert", "update", "delete", "upsert", "BulkInsert")  # functions that take the table
_RAW_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE)\s+\"?(\w+)", re.IGNORECASE)
TABLE_NAMES = {name: value.name for name, value in vars(tables).items() if isinstance(value, Table)}


def writes_in(path: Path) -> set[str]:
    """Return the tables the module at ``path`` writes: through SQLAlchemy's insert/update/delete
    (or table.insert() and the like), the toolkit's upsert, BulkInsert, or raw SQL text."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in WRITERS:
                found.update(TABLE_NAMES[a.id] for a in node.args
                             if isinstance(a, ast.Name) and a.id in TABLE_NAMES)
            if (name in ("insert", "update", "delete") and isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name) and func.value.id in TABLE_NAMES):
                found.add(TABLE_NAMES[func.value.id])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(t for t in _RAW_WRITE.findall(node.value) if t in OWNERS)
    return found


MODULES = {path.stem: writes_in(path) for path in sorted(SQL.glob("*.py"))}


def test_every_table_has_one_owner() -> None:
    """The owners list names every table the code describes, each once."""
    assert set(OWNERS) == {t.name for t in SQLModel.metadata.sorted_tables}


def test_the_guard_finds_the_writes_it_looks_for() -> None:
    """The parser sees each owner's writes (so an empty result below would not pass by accident)."""
    for table, module in OWNERS.items():
        assert table in MODULES[module], f"{module}.py writes {table} and the guard does not see it"


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_a_module_writes_only_the_tables_it_owns(module: str) -> None:
    """No module of bot.adapters.sql writes a table another module owns."""
    foreign = {table for table in MODULES[module] if OWNERS.get(table) != module}
    assert foreign == set()


def test_raw_sql_writes_are_seen_too() -> None:
    """A write in SQL text (the bulk COPY path, TRUNCATE) names its table for the guard."""
    assert _RAW_WRITE.findall('INSERT INTO credits (a) SELECT a FROM "stage_credits"') == ["credits"]
    assert _RAW_WRITE.findall("UPDATE outbox SET status = 'sent'") == ["outbox"]
