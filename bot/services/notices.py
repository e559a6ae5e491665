"""Credit notices: each credit of a reconciled file becomes one direct message in the outbox, once.

Reconciliation records credits only; this relay queues their notices a chunk at a time. X lets
a bot post a few hundred times a day, so a day's credits drain over time anyway, and queueing
them in the reconciliation's own transaction would only make that transaction longer.
"""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.domain.reconcile import CreditKind
from bot.domain.replies import credit_notice
from bot.ports import UnitOfWorkFactory
from bot.services.campaigns import Catalog

logger = logging.getLogger(__name__)


def queue_credit_notices(uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock, *, limit: int = 500) -> int:
    """Queue notices for up to ``limit`` credits not yet queued; return how many were queued.

    The outbox's key (credit:<id>) makes a notice queued twice a no-op, so a crash between
    queueing and moving the cursor repeats nothing.
    """
    with uow() as tx:
        due = tx.ledger.notices_due()
        if due is None:
            return 0
        file_id, after = due
        found = tx.ledger.credits_after(file_id, after, limit)
        posts = tx.enrolments.posts_of((c.member_id, c.campaign_id) for _, c in found)
        # A clawback's notice says how much of which credit it reverses.
        reversed_credits = tx.ledger.reversed_credits([c for _, c in found if c.kind == CreditKind.CLAWBACK])
        intents = []
        for _, credit in found:
            campaign = catalog.by_id.get(credit.campaign_id)
            post_id = posts.get((credit.member_id, credit.campaign_id))
            if campaign is not None and post_id:
                reversed_credit = reversed_credits.get(credit.reverses) if credit.reverses else None
                intents.append(credit_notice(credit, campaign, post_id, reversed_credit))
        tx.outbox.add_many(intents, clock())
        last = found[-1][0] if found else after
        tx.ledger.notices_queued(file_id, last, done=len(found) < limit)
        tx.commit()
    if intents:
        logger.info("queued %d credit notices from transaction file #%d", len(intents), file_id)
    return len(intents)
