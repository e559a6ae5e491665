"""Putting campaign files in force: each file is checked on its own, then against the other files
and the accounting the database holds (bot.domain.campaign_versions). Valid changes are saved
as each campaign's last good version; a refused change leaves its campaign on the one kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from pathlib import Path

from bot.adapters.offer_files import CampaignFile, CampaignFiles, FileProblem, display_name
from bot.domain.campaign_versions import (
    CampaignRecord,
    FileVersion,
    StoredVersion,
    Versions,
    keep_all,
    orphans,
    plan_versions,
)
from bot.domain.campaigns import Campaign, CampaignInvalid, campaign_from_definition
from bot.domain.enrolment import Decision, EnrolmentOutcome
from bot.domain.replies import REPLY_TEMPLATE, enrolment_reply
from bot.errors import ReplyTooLong
from bot.ports import Renderer, UnitOfWork

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LastGood:
    """A campaign running on its kept version, because the change to its file was refused."""

    campaign_id: str
    source: str  # the file that version came from, as people see it
    loaded_at: datetime | None

    def __str__(self) -> str:
        when = f", installed {self.loaded_at:%Y-%m-%d %H:%M} UTC" if self.loaded_at else ""
        return (f"{self.source}: {self.campaign_id} runs on its last good version{when}; "
                "fix the file to put a change in force")


@dataclass(frozen=True)
class Load:
    """What one reading of the files puts in force, and what it changes in the database."""

    versions: Versions
    problems: tuple[FileProblem, ...]
    last_good: tuple[LastGood, ...]
    installs: tuple[tuple[Campaign, str], ...]  # (campaign, file name within offers/) changed
    forget: tuple[str, ...]


def own_checks(files: CampaignFiles, renderer: Renderer | None) -> list[CampaignFile]:
    """Return each file after its own checks, the enrolment reply's length included."""
    if renderer is None:
        return list(files.files)
    checked = []
    for one in files.files:
        if one.campaign is not None:
            # The reply a member gets on enrolling, rendered as the bot would render it.
            enrolled = Decision(one.campaign.key, EnrolmentOutcome.ENROLLED, one.campaign)
            intent = enrolment_reply("0", "0", [enrolled], lambda _: None)
            assert intent is not None
            try:
                renderer.render(REPLY_TEMPLATE, {**intent.context, "ref": "XXXXXX"})
            except ReplyTooLong as exc:
                one = replace(one, campaign=None, names=one.campaign.id, problems=(FileProblem(
                    one.display, None, "merchant", f"the enrolment reply would be too long: {exc}"),))
        checked.append(one)
    return checked


def plan_load(tx: UnitOfWork, files: CampaignFiles, checked: list[CampaignFile], offers_dir: Path,
              root: Path | None, tz: tzinfo) -> Load:
    """Decide, against what the database holds, which version of each campaign is in force."""
    records = {r.id: r for r in tx.campaigns.records()}
    shown = {f.display: f for f in checked}
    stored = [_stored(r, offers_dir, root, tz) for r in records.values()]
    offered = [FileVersion(f.display, f.campaign, f.names) for f in checked]
    gone = orphans(offered, stored)
    credits = tx.ledger.credit_counts(gone) if gone else {}
    folder = display_name(offers_dir.parent, offers_dir.name, root)
    if files.general:  # no folder to read: a misplaced folder must not switch campaigns off
        versions = keep_all(stored)
    else:
        versions = plan_versions(offered, stored, credits=credits, folder=folder)
    problems = [*files.general, *(p for f in checked for p in f.problems)]
    for p in versions.problems:
        problems.append(shown[p.source].problem(p.field, p.message) if p.source in shown
                        else FileProblem(p.source, None, p.field, p.message))
    last_good = tuple(LastGood(s.id, s.source or folder, records[s.id].loaded_at) for s in versions.last_good)
    installs = []
    for f in versions.install:
        campaign, name = f.campaign, shown[f.source].name
        assert campaign is not None
        record = records.get(campaign.id)
        if record is None or record.definition != campaign.definition() or record.source != name:
            installs.append((campaign, name))
    return Load(versions, tuple(problems), last_good, tuple(installs), versions.forget)


def _stored(record: CampaignRecord, offers_dir: Path, root: Path | None, tz: tzinfo) -> StoredVersion:
    """Return the database's record as the rules see it, its kept version checked again."""
    campaign = None
    if record.definition is not None:
        try:
            campaign = campaign_from_definition(record.definition, tz)
        except CampaignInvalid as exc:  # e.g. a rule added since: that version must not run
            logger.warning("the kept version of campaign %s no longer passes the rules: %s", record.id, exc)
    source = display_name(offers_dir, record.source, root) if record.source else None
    return StoredVersion(record.id, record.hashtag, source, campaign, record.enrolled, record.spent_cents)
