"""Campaign use cases: load and check the files, keep the database in step, list status, watch budgets."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cached_property
from pathlib import Path

from bot.adapters.offer_files import CampaignFile, CampaignFiles, FileProblem, read_campaign_files, signature
from bot.clock import Clock
from bot.domain.campaigns import Campaign, CampaignStatus
from bot.domain.money import format_cents, format_money
from bot.domain.replies import suggest_campaign
from bot.errors import BotError
from bot.ports import Renderer, UnitOfWorkFactory
from bot.services.campaign_loading import LastGood, own_checks, plan_load

logger = logging.getLogger(__name__)


class CampaignFilesInvalid(BotError):
    """Campaign files have problems; each is listed as file:line: field: message."""

    def __init__(self, problems: Iterable[FileProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Catalog:
    """The campaigns in force, indexed the ways the rules look them up, and what kept files out."""

    campaigns: tuple[Campaign, ...]
    problems: tuple[FileProblem, ...] = ()  # in the files, or with the changes they make
    last_good: tuple[LastGood, ...] = ()  # campaigns whose file's change was refused

    def warning(self) -> str | None:
        """Return one line for people when campaign files have problems, else None."""
        if not self.problems:
            return None
        held = "; ".join(f"{lg.campaign_id} runs on its last good version" for lg in self.last_good)
        return (f"campaign files have {len(self.problems)} problem(s){': ' + held if held else ''}; "
                "run `offerbot campaigns check`")

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


class CampaignSource:
    """The campaigns in force: reloaded when a file changes, each valid version kept in the database.

    A file whose change is refused (broken, or breaking a rule across files or of the accounting
    done) leaves its campaign on the last good version kept, so one bad edit affects only its
    own campaign and never stops the bot; the other files' valid edits still go in.
    """

    def __init__(self, offers_dir: Path, tz: tzinfo, uow: UnitOfWorkFactory, clock: Clock,
                 display_root: Path | None = None, renderer: Renderer | None = None) -> None:
        self._dir, self._tz, self._uow, self._clock = offers_dir, tz, uow, clock
        self._root, self._renderer = display_root, renderer
        self._catalog: Catalog | None = None
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._reported: set[str] = set()
        self._lock = threading.Lock()  # jobs run in threads; one reload (and report) per change

    def load(self) -> Catalog:
        """Read the files and put every valid change in force; problems are logged, never raised."""
        with self._lock:
            return self._reload()

    def current(self) -> Catalog:
        """Return the campaigns in force, reloading the files if any changed."""
        catalog = self._catalog
        if catalog is not None and signature(self._dir) == self._signature:
            return catalog
        with self._lock:
            if self._catalog is not None and signature(self._dir) == self._signature:
                return self._catalog  # another thread reloaded meanwhile
            return self._reload()

    def inspect(self) -> Catalog:
        """Return what loading the files would put in force, and why, changing nothing."""
        files, checked = self._read()
        with self._uow(readonly=True) as tx:
            load = plan_load(tx, files, checked, self._dir, self._root, self._tz)
        return Catalog(load.versions.in_force, load.problems, load.last_good)

    def from_path(self, path: Path, *, save: bool) -> Catalog:
        """Return the campaigns of another campaign file or folder (a backtest), refusing its
        problems (CampaignFilesInvalid).

        With ``save`` they are put in the database, never rewriting a campaign in force (the
        ledger's foreign keys need them); without it (a dry run) nothing is written.
        """
        files = read_campaign_files(path, self._tz)
        if files.problems:
            raise CampaignFilesInvalid(files.problems)
        if save:
            with self._uow() as tx:
                tx.campaigns.ensure(files.campaigns, self._clock())
                tx.commit()
        return Catalog(files.campaigns)

    def _read(self) -> tuple[CampaignFiles, list[CampaignFile]]:
        files = read_campaign_files(self._dir, self._tz, display_root=self._root)
        return files, own_checks(files, self._renderer)

    def _reload(self) -> Catalog:
        files, checked = self._read()
        with self._uow() as tx:
            load = plan_load(tx, files, checked, self._dir, self._root, self._tz)
            now = self._clock()
            tx.campaigns.install(load.installs, now)
            tx.campaigns.forget(load.forget)
            tx.commit()
        catalog = Catalog(load.versions.in_force, load.problems, load.last_good)
        reloaded = self._catalog is not None
        self._catalog, self._signature = catalog, files.signature
        self._report(catalog, [campaign.id for campaign, _ in load.installs])
        if reloaded:
            logger.info("campaigns reloaded: %d in force (%d on their last good version)",
                        len(catalog.campaigns), len(catalog.last_good))
        return catalog

    def _report(self, catalog: Catalog, installed: list[str]) -> None:
        """Log each problem once, when it appears (not on every reload), and when it is gone."""
        lines = [*map(str, catalog.problems), *map(str, catalog.last_good)]
        for line in lines:
            if line not in self._reported:
                logger.error("campaign files: %s", line)
        for line in sorted(self._reported - set(lines)):
            logger.info("campaign files: resolved: %s", line)
        self._reported = set(lines)
        if installed:
            logger.info("campaign versions installed: %s", ", ".join(installed))


def warn_budget_crossings(campaigns: Mapping[str, Campaign], spent: Mapping[str, int],
                          deltas: Mapping[str, int]) -> None:
    """Warn ops when a batch takes a campaign past 80% of its budget, or spends it.

    ``spent`` is each campaign's spent cents after the batch and ``deltas`` what the batch
    added, so each crossing is logged once, in the batch that made it.
    """
    for campaign_id, delta in deltas.items():
        campaign = campaigns.get(campaign_id)
        if campaign is None or campaign.budget_cents is None or not delta:
            continue
        after = spent.get(campaign_id, 0)
        level = campaign.budget_level(after)
        if level <= campaign.budget_level(after - delta):
            continue
        money = (f"{format_cents(after, campaign.currency)} of "
                 f"{format_cents(campaign.budget_cents, campaign.currency)}")
        if level == 100:
            size = format_money(campaign.largest_credit, campaign.currency)
            logger.warning("campaign %s: budget spent (%s; no further %s credit fits): enrolment is "
                           "closed", campaign_id, money, size)
        else:
            logger.warning("campaign %s: %d%% of its budget spent (%s)", campaign_id, level, money)


@dataclass(frozen=True)
class CampaignLine:
    """One campaign's standing for `offerbot campaigns list`."""

    campaign: Campaign
    status: CampaignStatus
    enrolled: int
    remaining: int | None
    spent_cents: int = 0

    @property
    def left_cents(self) -> int | None:
        """Return the budget not spent yet, or None without a budget."""
        budget = self.campaign.budget_cents
        return None if budget is None else budget - self.spent_cents


def list_campaigns(catalog: Catalog, uow: UnitOfWorkFactory, now: datetime) -> list[CampaignLine]:
    """Return each campaign's status, enrolments, remaining quantity and budget spent at ``now``."""
    with uow(readonly=True) as tx:
        counts = tx.campaigns.enrolment_counts()
        spent = tx.campaigns.spent_cents()
    lines = []
    for campaign in sorted(catalog.campaigns, key=lambda c: (c.enrol_from, c.id)):
        enrolled, used = counts.get(campaign.id, 0), spent.get(campaign.id, 0)
        remaining = None if campaign.max_enrolments is None else max(campaign.max_enrolments - enrolled, 0)
        lines.append(CampaignLine(campaign, campaign.status(now, enrolled, used), enrolled, remaining, used))
    return lines


def budget_alerts(catalog: Catalog, uow: UnitOfWorkFactory) -> list[CampaignLine]:
    """Return the campaigns in force that have spent 80% of their budget or more."""
    with uow(readonly=True) as tx:
        spent = tx.campaigns.spent_cents()
    return [CampaignLine(c, CampaignStatus.BUDGET_SPENT if c.budget_spent(spent.get(c.id, 0))
                         else CampaignStatus.LIVE, 0, None, spent.get(c.id, 0))
            for c in sorted(catalog.campaigns, key=lambda c: c.id) if c.budget_level(spent.get(c.id, 0))]
