"""ARCHITECTURE.md stays true: every path it names exists, and the README links to it."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "ARCHITECTURE.md"
# A backticked name that is a path in the repository: under one of its top folders, or a file.
PATH_RE = re.compile(r"`((?:bot|tests|templates|bench|offers|\.ci)(?:/[\w.\-]*)*|[\w\-]+\.(?:md|toml))`")


def named_paths(text: str) -> list[str]:
    """The repository paths a Markdown text names in backticks, in order."""
    return PATH_RE.findall(text)


def exists(name: str) -> bool:
    """Tell whether a named path exists; a module may be named without .py (a module or a package)."""
    path = REPO / name
    return path.exists() or path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_every_path_the_architecture_map_names_exists() -> None:
    """Each module, folder or file ARCHITECTURE.md names in backticks is in the repository."""
    names = named_paths(DOC.read_text(encoding="utf-8"))
    assert len(names) > 40  # the map names the real modules, not a handful
    assert [name for name in names if not exists(name)] == []


def test_the_path_check_finds_a_missing_module() -> None:
    """A path that does not exist is caught, and a module named without .py is found either way."""
    assert named_paths("see `bot/domain/nowhere.py` and `bot/cli`, not `pip`") == ["bot/domain/nowhere.py",
                                                                                    "bot/cli"]
    assert not exists("bot/domain/nowhere.py")
    assert exists("bot/cli")
    assert exists("bot/domain/")


def test_the_readme_links_the_architecture_map() -> None:
    """The README points a newcomer at ARCHITECTURE.md."""
    assert "(ARCHITECTURE.md)" in (REPO / "README.md").read_text(encoding="utf-8")
