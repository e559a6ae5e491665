"""docs/dashboard.md states every label and definition exactly as the code has them."""

from pathlib import Path

from bot.domain.dashboard.definitions import LABELS_AND_DEFINITIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"


def test_the_doc_lists_every_definition_verbatim() -> None:
    """Each key's row in the doc's table has the code's label and definition."""
    text = DOC.read_text(encoding="utf-8")
    missing = [key for key, (label, line) in LABELS_AND_DEFINITIONS.items()
               if f"| `{key}` | {label} | {line} |" not in text]
    assert missing == []
