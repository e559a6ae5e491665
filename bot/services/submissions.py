"""Campaign requests: a merchant submits a campaign file, ops approve it into offers/ or reject it."""

from __future__ import annotations

import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from bot.adapters.exports import write_text
from bot.adapters.offer_files import CampaignFiles, FileProblem, line_of, read_campaign_files
from bot.clock import Clock
from bot.domain.campaigns import Campaign, check_catalog
from bot.domain.cards import find_card_numbers
from bot.domain.portal import Ownership, Submission, SubmissionStatus, Viewer, submission_problems
from bot.errors import BotError
from bot.ports import PortalStore, Renderer, UnitOfWorkFactory
from bot.services.campaigns import CampaignSource

MAX_TEXT = 64 * 1024  # characters: a campaign file is a screenful, not a document
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
CARD_NUMBER = ("holds a number that looks like a card number; campaign files never carry card data. "
               "Remove it and submit again (the text was not kept)")


class SubmissionError(BotError):
    """A request could not be submitted or decided; the message says why."""


@dataclass(frozen=True)
class Checked:
    """A submitted campaign file, checked as `offerbot campaigns check` checks offers/."""

    name: str  # where it would go, e.g. offers/amex-tacos.toml
    campaign: Campaign | None
    problems: tuple[FileProblem, ...]
    keep_text: bool = True  # False when the text must not be stored or shown again


@dataclass
class CampaignDesk:
    """What checking and approving a request needs: the offers folder and its rules."""

    offers_dir: Path
    display_root: Path
    tz: tzinfo
    renderer: Renderer
    repo: PortalStore
    clock: Clock
    ownerships: Callable[[], list[Ownership]]  # every campaign known, of every merchant
    uow: UnitOfWorkFactory  # what `campaigns check` compares the files with (accounting done)

    def check(self, text: str, merchant: str) -> Checked:
        """Check ``text`` as the campaign file it would become, for ``merchant``."""
        folder = self._display_folder()
        if find_card_numbers(text):
            return Checked(f"{folder}/submission.toml", None, (
                FileProblem(f"{folder}/submission.toml", None, "file", CARD_NUMBER),), keep_text=False)
        if len(text) > MAX_TEXT:
            return Checked(f"{folder}/submission.toml", None, (FileProblem(
                f"{folder}/submission.toml", None, "file",
                f"is longer than {MAX_TEXT // 1024} KiB; a campaign file is a few lines"),), keep_text=False)
        file_name = f"{_declared_id(text) or 'submission'}.toml"
        name = f"{folder}/{file_name}"
        with tempfile.TemporaryDirectory(prefix="offerbot-submission-") as temp:
            root = Path(temp)
            offers = root / folder
            offers.mkdir(parents=True)
            for path in sorted(self.offers_dir.glob("*.toml")) if self.offers_dir.is_dir() else []:
                if path.name != file_name:  # a request for an existing id replaces that file
                    shutil.copyfile(path, offers / path.name)
            (offers / file_name).write_text(text, encoding="utf-8")
            # Exactly what `offerbot campaigns check` says of offers/ with this file in it.
            checked = CampaignSource(offers, self.tz, self.uow, self.clock, display_root=root,
                                     renderer=self.renderer).inspect()
            files = read_campaign_files(offers, self.tz, display_root=root)  # who came from where
        problems = [p for p in checked.problems if p.path == name]
        campaign = None if problems else next((c for c in files.campaigns if files.sources.get(c.id) == name),
                                              None)
        if campaign is not None:
            problems += self._beyond_own(text, name, campaign, merchant, files)
        unique = tuple(dict.fromkeys(problems))
        return Checked(name, campaign if not unique else None, unique)

    def submit(self, viewer: Viewer, text: str) -> tuple[Checked, int | None]:
        """Check and, when valid, store a merchant's request as pending; return its id too."""
        if viewer.merchant is None:
            raise SubmissionError("only merchant users submit campaigns")
        checked = self.check(text, viewer.merchant)
        if checked.problems or checked.campaign is None:
            return checked, None
        now = self.clock()
        submission_id = self.repo.add_submission(checked.campaign.id, viewer.merchant, viewer.email, text,
                                                 now)
        self.repo.audit(now, "campaign submitted", actor=viewer.email,
                        detail=f"request {submission_id}: {checked.campaign.id} ({viewer.merchant})")
        return checked, submission_id

    def approve(self, viewer: Viewer, submission: Submission, note: str) -> Checked:
        """Check the request again against offers/ as it is now and write it there atomically."""
        self._decider(viewer, submission)
        checked = self.check(submission.text, submission.merchant)
        if checked.problems or checked.campaign is None:
            return checked
        target = self.offers_dir / f"{checked.campaign.id}.toml"
        text = submission.text if submission.text.endswith("\n") else submission.text + "\n"
        done = self.repo.decide_submission(submission.id, SubmissionStatus.APPROVED, note or None,
                                           viewer.email, self.clock(), then=lambda: write_text(target, text))
        if not done:
            raise SubmissionError(f"request {submission.id} was decided meanwhile")
        self.repo.audit(self.clock(), "campaign approved", actor=viewer.email,
                        detail=f"request {submission.id}: {checked.campaign.id} ({submission.merchant}) "
                               f"written to {checked.name}")
        return checked

    def reject(self, viewer: Viewer, submission: Submission, note: str) -> None:
        """Turn a request down with a note saying why."""
        self._decider(viewer, submission)
        if not note.strip():
            raise SubmissionError("say why in the note, so the merchant can fix the request")
        if not self.repo.decide_submission(submission.id, SubmissionStatus.REJECTED, note.strip()[:500],
                                           viewer.email, self.clock()):
            raise SubmissionError(f"request {submission.id} was decided meanwhile")
        self.repo.audit(self.clock(), "campaign rejected", actor=viewer.email,
                        detail=f"request {submission.id}: {submission.campaign_id} ({submission.merchant})")

    def _decider(self, viewer: Viewer, submission: Submission) -> None:
        if not viewer.is_ops:
            raise SubmissionError("only ops approve or reject requests")
        if submission.status != SubmissionStatus.PENDING:
            raise SubmissionError(f"request {submission.id} is {submission.status} already")

    def _display_folder(self) -> str:
        try:
            return str(self.offers_dir.relative_to(self.display_root))
        except ValueError:
            return self.offers_dir.name

    def _beyond_own(self, text: str, name: str, campaign: Campaign, merchant: str,
                    files: CampaignFiles) -> list[FileProblem]:
        """Return the problems of a valid file that reaches past its merchant's own campaigns.

        The cross-file rules are asked again with the request last, so a clash with an existing
        file is always reported on the request (the file check blames whichever sorts later).
        """
        others = [c for c in files.campaigns if c.id != campaign.id]
        found = [FileProblem(name, line_of(text, f), f, m) for f, m in submission_problems(
            campaign, merchant=merchant, others=self.ownerships())]
        for problem in check_catalog([*((files.sources[c.id], c) for c in others), (name, campaign)]):
            if problem.source == name:
                found.append(FileProblem(name, line_of(text, problem.field), problem.field, problem.message))
        return found


def _declared_id(text: str) -> str | None:
    """Return the campaign id the text declares, when it is a valid one (it names the file)."""
    try:
        value = tomllib.loads(text).get("id")
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, str) and _ID_RE.fullmatch(value) else None
