"""Campaign files: offers/*.toml read from disk, checked by the domain, errors given lines."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import tzinfo
from decimal import Decimal
from pathlib import Path

from bot.domain.campaigns import Campaign, CampaignInvalid, check_catalog, parse_campaign

_LINE_RE = re.compile(r"\(at line (\d+)")


@dataclass(frozen=True)
class FileProblem:
    """A problem in one campaign file, printed as ``file:line: field: message``."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}"


@dataclass(frozen=True)
class CampaignFiles:
    """Every campaign file read: the valid campaigns and the problems found."""

    campaigns: tuple[Campaign, ...]
    problems: tuple[FileProblem, ...]
    signature: tuple[tuple[str, int, int], ...]
    sources: dict[str, str] = field(default_factory=dict)  # campaign id -> file it came from


def signature(offers_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """Return (name, mtime, size) of each campaign file: it changes when any file does."""
    files = sorted(offers_dir.glob("*.toml")) if offers_dir.is_dir() else []
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def read_campaign_files(offers_dir: Path, tz: tzinfo, *,
                        display_root: Path | None = None) -> CampaignFiles:
    """Read and check every ``*.toml`` in ``offers_dir`` (or that one file), rules across files too."""
    problems: list[FileProblem] = []
    loaded: list[tuple[str, Campaign, str]] = []
    if offers_dir.is_file():  # one campaign file, e.g. to backtest it
        paths = [offers_dir]
    elif offers_dir.is_dir():
        paths = sorted(offers_dir.glob("*.toml"))
    else:
        problems.append(FileProblem(str(offers_dir), None, "offers", "folder not found; create it "
                                    "or set [paths] offers in bot.toml"))
        return CampaignFiles((), tuple(problems), ())
    sig = signature(offers_dir)
    for path in paths:
        name = _display(path, display_root)
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text, parse_float=Decimal)
        except UnicodeDecodeError:
            problems.append(FileProblem(name, None, "file", "is not UTF-8 text; save it as UTF-8"))
            continue
        except tomllib.TOMLDecodeError as exc:
            match = _LINE_RE.search(str(exc))
            problems.append(FileProblem(name, int(match.group(1)) if match else None, "syntax",
                                        f"{exc}; fix the TOML there"))
            continue
        try:
            loaded.append((name, parse_campaign(data, tz), text))
        except CampaignInvalid as exc:
            problems.extend(FileProblem(name, _line_of(text, e.field), e.field, e.message)
                            for e in exc.errors)
    texts = {name: text for name, _, text in loaded}
    cross = check_catalog((name, campaign) for name, campaign, _ in loaded)
    problems.extend(FileProblem(p.source, _line_of(texts[p.source], p.field), p.field, p.message)
                    for p in cross)
    bad = {p.source for p in cross}
    good = [(name, c) for name, c, _ in loaded if name not in bad]
    return CampaignFiles(tuple(c for _, c in good), tuple(problems), sig,
                         {c.id: name for name, c in good})


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


def _line_of(text: str, field: str) -> int | None:
    """Return the line where ``field`` is set, so an error can point at it."""
    pattern = re.compile(rf"^\s*{re.escape(field)}\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None
