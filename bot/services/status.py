"""What an operator asks of a running bot: where polling stands, what waits, what ran last."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.campaigns import CampaignStatus
from bot.domain.ledger import FileRecord
from bot.domain.money import format_cents
from bot.ports import Locks, UnitOfWorkFactory
from bot.services.campaigns import CampaignLine, Catalog, budget_alerts
from bot.services.intake import CURSOR, POLLED
from bot.services.keys import KeyUse

STALL_INTERVALS = 3  # polling is stalled once this many intervals pass without a poll


@dataclass(frozen=True)
class BotStatus:
    """A snapshot of the bot's state, as `offerbot status` prints it."""

    last_poll: datetime | None
    cursor: str | None
    replies: dict[str, int]
    last_file: FileRecord | None
    poller: str | None
    reconciler: str | None
    campaign_problems: tuple[str, ...] = ()  # campaign file problems, and who runs on a kept version
    budgets: tuple[CampaignLine, ...] = ()  # campaigns at 80% of their budget or more
    keys: KeyUse | None = None  # linked members per fingerprint key (a rotation's progress)

    def problems(self, now: datetime, poll_interval: float) -> list[str]:
        """Return what is wrong: empty when the bot is healthy."""
        limit = timedelta(seconds=STALL_INTERVALS * poll_interval)
        if self.last_poll is None:
            return ["mentions have never been polled"]
        if now - self.last_poll > limit:
            return [f"no poll for {_ago(now - self.last_poll)} (more than {STALL_INTERVALS} intervals of "
                    f"{poll_interval:g}s); is `offerbot run` up, and does it reach X?"]
        return []


def read_status(uow: UnitOfWorkFactory, locks: Locks, catalog: Catalog | None = None,
                keys: KeyUse | None = None) -> BotStatus:
    """Gather the snapshot from the database and the locks (and, given the campaigns as loading
    the files would put them in force, their problems and budgets; ``keys`` counted by the caller)."""
    with uow(readonly=True) as tx:
        polled = tx.cursors.get(POLLED)
        cursor = tx.cursors.get(CURSOR)
        replies = tx.outbox.counts()
        last_file = tx.ledger.latest_file()
    problems: tuple[str, ...] = ()
    budgets: tuple[CampaignLine, ...] = ()
    if catalog is not None:
        problems = (*map(str, catalog.problems), *map(str, catalog.last_good))
        budgets = tuple(budget_alerts(catalog, uow))
    return BotStatus(datetime.fromisoformat(polled) if polled else None, cursor, replies, last_file,
                     locks.holder("poller"), locks.holder("reconcile"), problems, budgets, keys)


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    return f"{seconds // 3600}h"


def describe(status: BotStatus, now: datetime) -> list[str]:
    """Return the snapshot as lines for people."""
    last_poll = (f"{status.last_poll:%Y-%m-%d %H:%M:%S} UTC ({_ago(now - status.last_poll)} ago)"
                 if status.last_poll else "never")
    replies = ", ".join(f"{k} {v}" for k, v in sorted(status.replies.items())) or "none"
    lines = [f"last poll        {last_poll}",
             f"mentions cursor  {status.cursor or 'none yet'}",
             f"replies          {replies} (pending {status.replies.get('pending', 0)})",
             f"poller           {status.poller or 'no instance is polling'}"]
    file = status.last_file
    if file is None:
        lines.append("last file        none reconciled yet")
    else:
        when = f"{file.finished_at:%Y-%m-%d %H:%M} UTC" if file.finished_at else "not finished"
        lines.append(f"last file        {file.name}: {file.status}, {file.rows_done:,} rows, {when}")
    if status.reconciler:
        lines.append(f"reconciling now  {status.reconciler}")
    for label, items in alerts(status):
        lines.extend(f"{label if n == 0 else '':<17}{item}" for n, item in enumerate(items))
    if status.keys is not None:
        lines.extend(status.keys.describe())
    return lines


def alerts(status: BotStatus) -> list[tuple[str, list[str]]]:
    """Return what ops should look at, by heading: campaign file problems and budgets nearly
    spent (empty headings left out)."""
    budgets = []
    for line in status.budgets:
        c = line.campaign
        assert c.budget_cents is not None
        state = ("budget spent, enrolment closed" if line.status is CampaignStatus.BUDGET_SPENT
                 else f"{line.spent_cents * 100 // c.budget_cents}% of its budget spent")
        money = f"{format_cents(line.spent_cents, c.currency)} of {format_cents(c.budget_cents, c.currency)}"
        budgets.append(f"{c.id}: {state} ({money})")
    found = [("campaign files", list(status.campaign_problems)), ("budgets", budgets)]
    return [(label, items) for label, items in found if items]
