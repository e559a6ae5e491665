"""Campaign use cases: load and check the files, keep the database in step, list status."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cached_property
from pathlib import Path

from bot.adapters.offer_files import CampaignFiles, FileProblem, read_campaign_files, signature
from bot.clock import Clock
from bot.domain.campaigns import Campaign, Status
from bot.domain.replies import REPLY_TEMPLATE, suggest_campaign
from bot.errors import BotError, ReplyTooLong
from bot.ports import Renderer, UnitOfWorkFactory

logger = logging.getLogger(__name__)


class CampaignFilesInvalid(BotError):
    """Campaign files have problems; each is listed as file:line: field: message."""

    def __init__(self, problems: Iterable[FileProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Catalog:
    """The campaigns in force, indexed the ways the rules look them up."""

    campaigns: tuple[Campaign, ...]

    @cached_property
    def by_key(self) -> dict[str, Campaign]:
        """Return campaigns by hashtag key."""
        return {c.key: c for c in self.campaigns}

    @cached_property
    def by_id(self) -> dict[str, Campaign]:
        """Return campaigns by id."""
        return {c.id: c for c in self.campaigns}

    def suggest(self, hashtag: str) -> Campaign | None:
        """Return the campaign ``hashtag`` looks like a typo of (remembered per catalog)."""
        memo = self._suggestions
        if hashtag not in memo:
            if len(memo) >= 10_000:  # hashtags are user input: keep the memo bounded
                memo.clear()
            memo[hashtag] = suggest_campaign(hashtag, self._suggestable)
        return memo[hashtag]

    @cached_property
    def _suggestions(self) -> dict[str, Campaign | None]:
        return {}

    @cached_property
    def _suggestable(self) -> dict[str, Campaign]:
        """Return the campaigns worth suggesting for a typo: not the retired ones."""
        return {key: c for key, c in self.by_key.items() if not c.retired}

    @cached_property
    def ids_by_merchant_id(self) -> dict[str, tuple[str, ...]]:
        """Return the ids of the campaigns each merchant id belongs to."""
        return {mid: tuple(c.id for c in cs) for mid, cs in self.by_merchant_id.items()}

    @cached_property
    def by_merchant_id(self) -> dict[str, tuple[Campaign, ...]]:
        """Return the campaigns each merchant id (MID) belongs to."""
        found: dict[str, list[Campaign]] = {}
        for campaign in self.campaigns:
            for mid in campaign.merchant_ids:
                found.setdefault(mid, []).append(campaign)
        return {mid: tuple(cs) for mid, cs in found.items()}


def check_campaigns(offers_dir: Path, tz: tzinfo, renderer: Renderer | None = None,
                    display_root: Path | None = None) -> CampaignFiles:
    """Read every campaign file and return them with all problems, reply lengths included."""
    files = read_campaign_files(offers_dir, tz, display_root=display_root)
    if renderer is None:
        return files
    problems = list(files.problems)
    for campaign in files.campaigns:
        summary = campaign.summary()
        context = {"enrolled": [summary], "already_enrolled": [], "sold_out": [],
                   "not_started": [], "ended": [], "suggestions": [], "ref": "XXXXXX"}
        try:
            renderer.render(REPLY_TEMPLATE, context)
        except ReplyTooLong as exc:
            problems.append(FileProblem(files.sources[campaign.id], None, "merchant",
                                        f"the enrolment reply would be too long: {exc}"))
    return CampaignFiles(files.campaigns, tuple(problems), files.signature, files.sources)


class CampaignSource:
    """The campaigns in force: reloaded when a file changes, copied into the database.

    A reload with problems keeps the previous campaigns, so one bad edit cannot switch off
    every offer of a running bot.
    """

    def __init__(self, offers_dir: Path, tz: tzinfo, uow: UnitOfWorkFactory, clock: Clock,
                 display_root: Path | None = None) -> None:
        self._dir, self._tz, self._uow, self._clock = offers_dir, tz, uow, clock
        self._root = display_root
        self._catalog: Catalog | None = None
        self._signature: tuple[tuple[str, int, int], ...] | None = None

    def load(self) -> Catalog:
        """Load the files for the first time; raise CampaignFilesInvalid on any problem."""
        files = read_campaign_files(self._dir, self._tz, display_root=self._root)
        if files.problems:
            raise CampaignFilesInvalid(files.problems)
        self._install(files)
        assert self._catalog is not None
        return self._catalog

    def current(self) -> Catalog:
        """Return the campaigns in force, reloading the files if any changed."""
        if self._catalog is None:
            return self.load()
        if signature(self._dir) != self._signature:
            files = read_campaign_files(self._dir, self._tz, display_root=self._root)
            if files.problems:
                self._signature = files.signature  # report a bad edit once, not every tick
                for problem in files.problems:
                    logger.error("campaign file not reloaded: %s", problem)
            else:
                self._install(files)
                logger.info("campaigns reloaded: %d in force", len(files.campaigns))
        return self._catalog

    def _install(self, files: CampaignFiles) -> None:
        with self._uow() as tx:
            tx.campaigns.sync(files.campaigns, self._clock())
            tx.commit()
        self._catalog = Catalog(files.campaigns)
        self._signature = files.signature


@dataclass(frozen=True)
class CampaignLine:
    """One campaign's standing for `offerbot campaigns list`."""

    campaign: Campaign
    status: Status
    enrolled: int
    remaining: int | None


def list_campaigns(catalog: Catalog, uow: UnitOfWorkFactory, now: datetime) -> list[CampaignLine]:
    """Return each campaign's status, enrolments and remaining quantity at ``now``."""
    with uow(readonly=True) as tx:
        counts = tx.campaigns.enrolment_counts()
    lines = []
    for campaign in sorted(catalog.campaigns, key=lambda c: (c.enrol_from, c.id)):
        enrolled = counts.get(campaign.id, 0)
        remaining = None if campaign.max_enrolments is None else max(campaign.max_enrolments - enrolled, 0)
        lines.append(CampaignLine(campaign, campaign.status(now, enrolled), enrolled, remaining))
    return lines
