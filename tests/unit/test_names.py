"""Names say what they are: no two classes or public functions of bot/ share a name, so a name
read in a traceback, a grep or an import means one thing (two `Outcome` enums and two
`read_header` functions once meant two)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"
# Each migration has its own upgrade() and downgrade(), as alembic requires.
EXPECTED_EVERYWHERE = {"upgrade", "downgrade"}
# Record types of the dashboard's facts that share a name with the ledger's; owned by the dashboard
# work (issue 12), renamed there.
KNOWN = {"Credit", "Enrolment"}


def top_level_names() -> dict[str, list[str]]:
    """Return, per class and public function name defined at the top of a module in bot/, where."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            public_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                and not node.name.startswith("_")
            if isinstance(node, ast.ClassDef) or public_function:
                found[node.name].append(str(path.relative_to(BOT.parent)))  # type: ignore[union-attr]
    return found


def test_no_two_classes_or_public_functions_share_a_name():
    """Every class and public function name in bot/ is defined once (migrations' upgrade/downgrade
    aside): give a second one a name that says how it differs."""
    shared = {name: where for name, where in top_level_names().items()
              if len(where) > 1 and name not in EXPECTED_EVERYWHERE | KNOWN}

    assert shared == {}


def test_the_known_exceptions_still_exist():
    """The allowance above is for names that are still shared; drop one once it is renamed."""
    names = top_level_names()

    assert all(len(names[name]) > 1 for name in KNOWN)
