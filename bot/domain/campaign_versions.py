"""Which version of each campaign is in force: a file's change goes in only when it breaks no
rule; otherwise its campaign keeps the last good version the database holds.

A change must pass its file's own checks and keep ids and hashtags unique among the campaigns
in force. It must also spare the accounting already done: a campaign with enrolments or credits
is never dropped (nor renamed away), and its hashtag is not handed to another id. So one broken
file affects only its own campaign, and the other merchants' valid edits still go in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.campaigns import Campaign, CatalogProblem, hashtag_clash, id_clash
from bot.domain.hashtags import hashtag_key


@dataclass(frozen=True)
class FileVersion:
    """What one campaign file offers: its campaign, when the file passed its own checks."""

    source: str  # the file as people see it, e.g. offers/amex-zappos.toml
    campaign: Campaign | None  # None when the file has problems of its own (reported already)
    names: str | None = None  # the campaign id the file names, when that much could be read

    @property
    def id(self) -> str | None:
        """Return the id of the campaign the file is about, if it can be told."""
        return self.campaign.id if self.campaign is not None else self.names


@dataclass(frozen=True)
class CampaignRecord:
    """A campaign as the database knows it: its counters and the last good version kept."""

    id: str
    hashtag: str
    source: str | None  # its file, relative to offers/
    definition: dict[str, Any] | None  # Campaign.definition() of the last good version
    loaded_at: datetime | None
    enrolled: int
    spent_cents: int


@dataclass(frozen=True)
class StoredVersion:
    """A campaign the database knows: its last good version (if one is kept) and its accounting."""

    id: str
    hashtag: str
    source: str | None  # the file that version came from, as people see it
    campaign: Campaign | None
    enrolments: int = 0
    spent_cents: int = 0

    @property
    def key(self) -> str:
        """Return the comparison key of the hashtag the database holds."""
        return hashtag_key(self.hashtag)

    @property
    def accounted(self) -> bool:
        """Tell whether the campaign has enrolments or credits, which must never be orphaned."""
        return self.enrolments > 0 or self.spent_cents != 0


@dataclass(frozen=True)
class Versions:
    """What to run: the campaigns in force, the file versions to save, and what was refused."""

    in_force: tuple[Campaign, ...]
    install: tuple[FileVersion, ...]  # files whose campaign goes in (and is kept as last good)
    problems: tuple[CatalogProblem, ...]
    last_good: tuple[StoredVersion, ...]  # in force from the database: their change was refused
    forget: tuple[str, ...]  # ids whose kept version is dropped: no file names them, no accounting


def orphans(files: Iterable[FileVersion], stored: Iterable[StoredVersion]) -> list[str]:
    """Return the ids of campaigns with accounting that no file names any more."""
    named = {f.id for f in files}
    return [s.id for s in stored if s.accounted and s.id not in named]


def plan_versions(files: Sequence[FileVersion], stored: Iterable[StoredVersion], *,
                  credits: Mapping[str, int], folder: str) -> Versions:
    """Decide which version of each campaign is in force.

    ``files`` are in the order read; ``credits`` gives the credits issued by the campaigns
    ``orphans`` names (for the message); ``folder`` names the offers folder, where a problem
    goes when the file it concerns is gone.
    """
    known = _Known({s.id: s for s in stored}, {f.source: f.id for f in files})
    problems: list[CatalogProblem] = []
    refused = {f.source for f in files if f.campaign is None}
    kept: dict[str, StoredVersion] = {}
    for campaign_id in orphans(files, known.by_id.values()):
        s = known.by_id[campaign_id]
        where = s.source if s.source in known.sources else folder
        problems.append(CatalogProblem(where, "id", dropped(s, credits.get(campaign_id, 0))))
        if s.source in known.sources:  # that file now says something else: not installed
            refused.add(s.source)
        if s.campaign is not None:
            kept[campaign_id] = s

    while True:  # each pass refuses more files or settles; refusals only ever grow
        fallback = dict(kept)
        for f in files:
            own = known.of(f) if f.source in refused else None
            if own is not None and own.campaign is not None:
                fallback.setdefault(own.id, own)
        accepted, found = _accept(files, refused, fallback, known, folder)
        if not found:
            break
        problems.extend(found)
        refused.update(p.source for p in found)

    named = {f.id for f in files}
    forget = tuple(s.id for s in known.by_id.values()
                   if s.campaign is not None and s.id not in named and s.id not in fallback)
    in_force = tuple(f.campaign for f in accepted if f.campaign is not None)
    return Versions(in_force + tuple(s.campaign for s in fallback.values() if s.campaign is not None),
                    tuple(accepted), tuple(problems), tuple(fallback.values()), forget)


def keep_all(stored: Iterable[StoredVersion]) -> Versions:
    """Keep every campaign on its kept version: for when the files cannot be read at all (no
    offers folder), which says nothing about what each campaign should be."""
    kept = tuple(s for s in stored if s.campaign is not None)
    return Versions(tuple(s.campaign for s in kept if s.campaign is not None), (), (), kept, ())


@dataclass(frozen=True)
class _Known:
    """The campaigns the database knows, and the files there are now (with the id each names)."""

    by_id: dict[str, StoredVersion]
    sources: dict[str, str | None]

    def of(self, f: FileVersion) -> StoredVersion | None:
        """Return the campaign a file stands for: by the id it names, else by its file name.

        By id only when the campaign's own file is this one, or no longer names it (the
        definition moved here), so two files naming one id do not both speak for it.
        """
        if f.id is not None:
            s = self.by_id.get(f.id)
            if s is None or (s.source != f.source and self.names(s.source) == s.id):
                return None
            return s
        return next((s for s in self.by_id.values() if s.source == f.source), None)

    def names(self, source: str | None) -> str | None:
        """Return the id the file ``source`` names now (None when it is gone or unreadable)."""
        return self.sources.get(source) if source is not None else None

    def in_force(self, f: FileVersion) -> bool:
        """Tell whether the file's campaign is the version in force (same id, same file)."""
        s = self.by_id.get(f.id or "")
        return s is not None and s.source == f.source


def _accept(files: Sequence[FileVersion], refused: set[str], fallback: Mapping[str, StoredVersion],
            known: _Known, folder: str) -> tuple[list[FileVersion], list[CatalogProblem]]:
    """Take the files not refused yet, those already in force first; return them and new problems."""
    held_id = {cid: s.source or folder for cid, s in fallback.items()}
    held_key: dict[str, tuple[str, StoredVersion | None]] = {
        s.campaign.key: (s.source or folder, s) for s in fallback.values() if s.campaign is not None}
    candidates = sorted((f for f in files if f.source not in refused and f.campaign is not None),
                        key=lambda f: not known.in_force(f))  # stable: file order otherwise
    named = {f.id for f in candidates}
    # A campaign with accounting that is not in force still owns its hashtag.
    reserved = {s.key: s for s in known.by_id.values()
                if s.accounted and s.id not in fallback and s.id not in named}
    accepted: list[FileVersion] = []
    problems: list[CatalogProblem] = []
    for f in candidates:
        c = f.campaign
        assert c is not None
        holder = held_key.get(c.key)
        owner = reserved.get(c.key)
        if c.id in held_id:
            problems.append(CatalogProblem(f.source, "id", id_clash(c.id, held_id[c.id])))
        elif holder is not None and holder[1] is not None and holder[1].accounted:
            problems.append(CatalogProblem(f.source, "hashtag", taken_over(c.hashtag, holder[1])))
        elif holder is not None:
            problems.append(CatalogProblem(f.source, "hashtag", hashtag_clash(c.hashtag, holder[0])))
        elif owner is not None and owner.id != c.id:
            problems.append(CatalogProblem(f.source, "hashtag", taken_over(c.hashtag, owner)))
        else:
            accepted.append(f)
            held_id[c.id] = f.source
            held_key[c.key] = (f.source, None)
    return accepted, problems


def dropped(s: StoredVersion, credits: int) -> str:
    """Say that a campaign with accounting lost its file, and how to end or rename it properly."""
    was = f"was {s.source}" if s.source else "its file is not known"
    return (f"{s.id} has {_count(s.enrolments, 'enrolment')} and {_count(credits, 'credit')} but no "
            f"file defines it any more ({was}). To end it keep its file and set status = \"retired\"; "
            "to rename it, keep the id")


def taken_over(hashtag: str, owner: StoredVersion) -> str:
    """Say that a hashtag belongs to another campaign's members."""
    return (f"{hashtag} belongs to {owner.id}, which has {_count(owner.enrolments, 'enrolment')}; "
            f"pick another hashtag (to change {owner.id} itself, keep its id)")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
