"""Campaign files: offers/*.toml read from disk, checked by the domain, errors given lines."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import tzinfo
from decimal import Decimal
from pathlib import Path

from bot.domain.campaigns import Campaign, CampaignInvalid, check_catalog, named_id, parse_campaign

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
class CampaignFile:
    """One campaign file as read: its campaign when its own fields are valid, else its problems."""

    name: str  # within the offers folder, as the database keeps it
    display: str  # as people see it (relative to the display root)
    text: str | None  # None when it could not be read as text
    campaign: Campaign | None
    names: str | None  # the campaign id it names, when that much could be read
    problems: tuple[FileProblem, ...] = ()

    def problem(self, field: str, message: str) -> FileProblem:
        """Return a problem with this file, pointed at the line where ``field`` is set."""
        return FileProblem(self.display, line_of(self.text or "", field), field, message)


@dataclass(frozen=True)
class CampaignFiles:
    """Every campaign file read: the valid campaigns and the problems found."""

    campaigns: tuple[Campaign, ...]
    problems: tuple[FileProblem, ...]
    signature: tuple[tuple[str, int, int], ...]
    sources: dict[str, str] = field(default_factory=dict)  # campaign id -> file it came from
    # Each file on its own, before the rules across files (which ``problems`` also holds).
    files: tuple[CampaignFile, ...] = ()
    general: tuple[FileProblem, ...] = ()  # problems with no one file to blame (no folder)


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
        problems.append(FileProblem(_display(offers_dir, display_root), None, "offers", "folder not "
                                    "found; create it or set [paths] offers in bot.toml"))
        return CampaignFiles((), tuple(problems), (), general=tuple(problems))
    sig = signature(offers_dir)
    files = [read_campaign_file(path, tz, display_root) for path in paths]
    for one in files:
        problems.extend(one.problems)
        if one.campaign is not None:
            assert one.text is not None
            loaded.append((one.display, one.campaign, one.text))
    texts = {name: text for name, _, text in loaded}
    cross = check_catalog((name, campaign) for name, campaign, _ in loaded)
    problems.extend(FileProblem(p.source, line_of(texts[p.source], p.field), p.field, p.message)
                    for p in cross)
    bad = {p.source for p in cross}
    good = [(name, c) for name, c, _ in loaded if name not in bad]
    return CampaignFiles(tuple(c for _, c in good), tuple(problems), sig,
                         {c.id: name for name, c in good}, tuple(files))


def read_campaign_file(path: Path, tz: tzinfo, display_root: Path | None = None) -> CampaignFile:
    """Read and check one campaign file on its own."""
    name = _display(path, display_root)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return CampaignFile(path.name, name, None, None, None,
                            (FileProblem(name, None, "file", "is not UTF-8 text; save it as UTF-8"),))
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        match = _LINE_RE.search(str(exc))
        return CampaignFile(path.name, name, text, None, None, (FileProblem(
            name, int(match.group(1)) if match else None, "syntax", f"{exc}; fix the TOML there"),))
    try:
        return CampaignFile(path.name, name, text, parse_campaign(data, tz), named_id(data))
    except CampaignInvalid as exc:
        return CampaignFile(path.name, name, text, None, named_id(data), tuple(
            FileProblem(name, line_of(text, e.field), e.field, e.message) for e in exc.errors))


def display_name(offers_dir: Path, name: str, root: Path | None) -> str:
    """Return how people see the campaign file ``name`` of ``offers_dir`` (relative to ``root``)."""
    return _display(offers_dir / name, root)


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


def line_of(text: str, field: str) -> int | None:
    """Return the line where ``field`` is set, so an error can point at it."""
    pattern = re.compile(rf"^\s*{re.escape(field)}\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None
